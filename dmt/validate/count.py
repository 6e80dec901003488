"""``count`` validation: exact ``COUNT(*)`` on both sides, never statistics estimates."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from dmt.dialects.base import Dialect
from dmt.schema.translate import TablePlan
from dmt.validate.reading import close, guard
from dmt.validate.report import TableCheck, ValidationReport

log = logging.getLogger("dmt")


def count_all(source: Dialect, target: Dialect, plans: list[TablePlan]) -> ValidationReport:
    pairs = [(p.source.name, p.target.name) for p in plans]
    report = ValidationReport("count")
    for name, s, t in count_rows_both(source, target, pairs):
        check = TableCheck(name, s, t, chunks=1)
        if s != t:
            check.mismatch = f"table `{name}`: {s:,} rows in the source, {t:,} in the target"
        else:
            log.debug("validate: `%s` %s rows on both sides", name, f"{s:,}")
        report.tables.append(check)
    return report


def _counts(dialect: Dialect, names: list[str]) -> dict[str, int]:
    with guard(dialect, "counting rows"):
        conn = dialect.timed_connect()
        try:
            return {n: dialect.count_rows(conn, n) for n in names}
        finally:
            close(conn)


def count_rows_both(
    source: Dialect, target: Dialect, pairs: list[tuple[str, str]]
) -> list[tuple[str, int, int]]:
    """(table, source rows, target rows) for every (source name, target name) pair."""
    with ThreadPoolExecutor(2, thread_name_prefix="dmt-validate") as ex:
        src = ex.submit(_counts, source, [s for s, _ in pairs])
        dst = ex.submit(_counts, target, [t for _, t in pairs])
        s_counts, t_counts = src.result(), dst.result()
    return [(s, s_counts[s], t_counts[t]) for s, t in pairs]
