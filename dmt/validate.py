"""Validation after the load: exact row counts (never statistics estimates)."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from dmt.dialects.base import Dialect

log = logging.getLogger("dmt")


def _counts(dialect: Dialect, names: list[str]) -> dict[str, int]:
    conn = dialect.connect()
    try:
        return {n: dialect.count_rows(conn, n) for n in names}
    finally:
        conn.close()


def count_rows_both(
    source: Dialect, target: Dialect, pairs: list[tuple[str, str]]
) -> list[tuple[str, int, int]]:
    """(table, source rows, target rows) for every (source name, target name) pair."""
    with ThreadPoolExecutor(2, thread_name_prefix="dmt-validate") as ex:
        src = ex.submit(_counts, source, [s for s, _ in pairs])
        dst = ex.submit(_counts, target, [t for _, t in pairs])
        s_counts, t_counts = src.result(), dst.result()
    return [(s, s_counts[s], t_counts[t]) for s, t in pairs]


def count_mismatches(source: Dialect, target: Dialect, pairs: list[tuple[str, str]]) -> list[str]:
    """One line per table whose exact row counts differ."""
    out = []
    for name, s, t in count_rows_both(source, target, pairs):
        if s != t:
            out.append(f"table `{name}`: {s} rows in the source, {t} in the target")
        else:
            log.debug("validate: `%s` %d rows on both sides", name, s)
    return out
