"""Create target tables before the load, and the post-load objects after it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dmt.dialects.base import Dialect
from dmt.errors import ConfigError, PostLoadError, TransferError
from dmt.schema.translate import TablePlan

log = logging.getLogger("dmt.schema")


@dataclass
class PrepareReport:
    """What :func:`prepare_target` did (or, in a dry run, would do)."""

    dropped: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    emptied: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)


def plan_target(dialect: Dialect, conn: Any, plans: list[TablePlan], mode: str) -> PrepareReport:
    """What the target mode will do to each table, without doing it."""
    existing = dialect.existing_tables(conn)
    rep = PrepareReport()
    for p in plans:
        name = p.target.name
        exists = name in existing
        if mode == "drop_recreate":
            if exists:
                rep.dropped.append(name)
            rep.created.append(name)
        elif mode == "truncate":
            (rep.emptied if exists else rep.created).append(name)
        else:
            (rep.kept if exists else rep.created).append(name)
    return rep


def _exec(dialect: Dialect, conn: Any, sql: str) -> None:
    log.debug("DDL: %s", sql)
    cur = conn.cursor()
    try:
        cur.execute(sql)
    finally:
        cur.close()


def prepare_target(dialect: Dialect, conn: Any, plans: list[TablePlan], mode: str) -> PrepareReport:
    """Apply the target mode: drop and create, empty, or check columns for append."""
    rep = plan_target(dialect, conn, plans, mode)
    by_name = {p.target.name: p for p in plans}
    try:
        for name in reversed(rep.dropped):
            _exec(dialect, conn, dialect.drop_table_sql(name))
        for name in rep.emptied:
            _exec(dialect, conn, dialect.truncate_sql(name))
        for name in rep.created:
            p = by_name[name]
            for sql in dialect.create_table_sql(p.target, p.types):
                _exec(dialect, conn, sql)
        conn.commit()
    except Exception as exc:
        conn.rollback()
        raise TransferError(
            f"preparing target tables failed: {dialect.translate_error(exc)}"
        ) from exc
    if rep.kept:
        _check_append(dialect, conn, [by_name[n] for n in rep.kept])
    return rep


def _check_append(dialect: Dialect, conn: Any, plans: list[TablePlan]) -> None:
    """In append mode every source column must exist on the existing target table."""
    for p in plans:
        wanted = p.target.name
        reflected = dialect.reflect(conn, wanted.__eq__).tables
        have = {c.name for c in reflected[0].columns} if reflected else set()
        missing = [c.name for c in p.target.columns if c.name not in have]
        if missing:
            raise ConfigError(
                "migration.target_mode",
                f"append: target table `{p.target.name}` lacks column(s) "
                + ", ".join(f"`{m}`" for m in missing),
            )


def post_load(
    dialect: Dialect,
    conn: Any,
    plans: list[TablePlan],
    indexes: bool,
    foreign_keys: bool,
    done: set[str] | None = None,
    mark: Callable[[str], None] | None = None,
) -> None:
    """Unique constraints, indexes, foreign keys and sequence resets; every failure is kept
    and raised together as one PostLoadError naming each object. Objects in ``done`` (from
    an interrupted run) are skipped; ``mark`` records each one created."""
    failures: list[str] = []
    done = done or set()

    def run(what: str, sql: str) -> None:
        if not sql or what in done:
            return
        try:
            _exec(dialect, conn, sql)
            conn.commit()
        except Exception as exc:
            conn.rollback()
            message = dialect.translate_error(exc)
            # an object created just before an earlier run died, but not yet recorded
            if not (done and ("already exists" in message or "Duplicate" in message)):
                failures.append(f"{what}: {message}")
                return
        if mark is not None and not what.startswith("sequence"):
            mark(what)

    for p in plans:
        t = p.target
        if indexes:
            for idx in [*t.uniques, *t.indexes]:
                run(f"index `{idx.name}` on `{t.name}`", dialect.index_sql(t, idx))
        for sql in dialect.reset_sequence_sql(conn, t):
            run(f"sequence reset on `{t.name}`", sql)
    if foreign_keys:
        for p in plans:
            for fk in p.target.foreign_keys:
                what = f"foreign key `{fk.name or ','.join(fk.columns)}` on `{p.target.name}`"
                run(what, dialect.foreign_key_sql(p.target, fk))
    if failures:
        raise PostLoadError(failures)
