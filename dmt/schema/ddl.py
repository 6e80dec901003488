"""Create target tables before the load, and the post-load objects after it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dmt.dialects.base import Dialect
from dmt.errors import ConfigError, DiskFull, PostLoadError
from dmt.model.schema import WHOLE_NUMBER_KINDS
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
        dialect.execute(cur, sql)
    finally:
        cur.close()


def prepare_target(
    dialect: Dialect,
    conn: Any,
    plans: list[TablePlan],
    mode: str,
    before_create: Callable[[], object] | None = None,
) -> PrepareReport:
    """Apply the target mode: drop and create, empty, or check columns for append.
    ``before_create`` runs between the drops and the creates (the types and sequences the
    new tables use; a dropped table takes the sequences it owned with it)."""  # fmt: skip
    rep = plan_target(dialect, conn, plans, mode)
    by_name = {p.target.name: p for p in plans}
    if rep.kept or rep.emptied:
        check_existing(dialect, conn, [by_name[n] for n in rep.kept + rep.emptied], mode)
    try:
        for name in reversed(rep.dropped):
            _exec(dialect, conn, dialect.drop_table_sql(name))
        for sql in dialect.truncate_tables_sql(rep.emptied):
            _exec(dialect, conn, sql)
        if before_create is not None:
            conn.commit()
            before_create()
        for name in rep.created:
            p = by_name[name]
            for sql in dialect.create_table_sql(p.target, p.types):
                _exec(dialect, conn, sql)
        conn.commit()
    except Exception as exc:
        conn.rollback()
        raise dialect.translate_error(exc, "preparing target tables failed") from exc
    return rep


def check_existing(dialect: Dialect, conn: Any, plans: list[TablePlan], mode: str) -> None:
    """Tables that are kept (append) or emptied (truncate) must take the source's columns:
    every column exists on the target with a compatible type. A ConfigError, before any
    table is touched, names each mismatch."""
    problems = []
    for p in plans:
        reflected = dialect.reflect(conn, p.target.name.__eq__).tables
        if not reflected:
            continue
        have = {c.name: c.type.kind for c in reflected[0].columns}
        for c in p.target.columns:
            if c.name not in have:
                problems.append(f"`{p.target.name}` lacks column `{c.name}`")
            elif not _compatible(c.type.kind, have[c.name]):
                problems.append(
                    f"`{p.target.name}.{c.name}` is {have[c.name]} on the target, "
                    f"{c.type.kind} on the source"
                )
    if problems:
        raise ConfigError(
            "migration.target_mode",
            f"{mode}: existing target tables do not fit the source: " + "; ".join(problems),
        )


_FAMILIES = {
    "number": {"boolean", *WHOLE_NUMBER_KINDS, "decimal", "float32", "float64", "bit"},
    "temporal": {"date", "time", "timestamp", "timestamptz"},
    "binary": {"binary", "varbinary", "blob", "bit"},
}  # fmt: skip
_TEXT_LIKE = {"char", "varchar", "text", "json", "uuid", "enum", "set", "interval", "array"}


def _compatible(source_kind: str, target_kind: str) -> bool:
    """Whether every value of ``source_kind`` can go into a ``target_kind`` column."""
    if source_kind == target_kind or target_kind in _TEXT_LIKE:
        return True
    return any(source_kind in fam and target_kind in fam for fam in _FAMILIES.values()) or (
        source_kind in _TEXT_LIKE and target_kind in _TEXT_LIKE
    )


def post_load(
    dialect: Dialect,
    conn: Any,
    plans: list[TablePlan],
    indexes: bool,
    foreign_keys: bool,
    done: set[str] | None = None,
    mark: Callable[[str], None] | None = None,
    created: set[str] | None = None,
    resuming: bool | None = None,
) -> None:
    """Unique constraints, indexes, checks, foreign keys (referenced tables first) and
    sequence resets; every failure is kept and raised together as one PostLoadError naming
    each object.

    Objects in ``done`` (from an interrupted run) are skipped; ``mark`` records each one
    created. Only tables in ``created`` (default: all) get indexes, checks and foreign keys:
    a kept or emptied table has its own. A resumed run (``resuming``, default: ``done`` is
    not empty) tolerates an object that already exists: it was created just before the
    earlier run died, but not yet recorded."""
    failures: list[str] = []
    done = done or set()
    tolerate = bool(done) if resuming is None else resuming

    def run(what: str, sql: str) -> None:
        if not sql or what in done:
            return
        try:
            _exec(dialect, conn, sql)
            conn.commit()
        except Exception as exc:
            conn.rollback()
            full = dialect.translate_error(exc, f"creating {what}")
            if isinstance(full, DiskFull):  # every object after it would fail the same way
                raise full from exc
            message = dialect.describe_error(exc)
            if not (tolerate and ("already exists" in message or "Duplicate" in message)):
                failures.append(f"{what}: {message}")
                return
        if mark is not None and not what.startswith("sequence"):
            mark(what)

    fresh = [p for p in plans if created is None or p.target.name in created]
    fresh_names = {p.target.name for p in fresh}
    for p in plans:
        t = p.target
        if indexes and t.name in fresh_names:
            for idx in [*t.uniques, *t.indexes]:
                run(f"index `{idx.name}` on `{t.name}`", dialect.index_sql(t, idx))
        if t.name in fresh_names:
            for ck in t.checks:
                what = f"check `{ck.name or ck.sqltext}` on `{t.name}`"
                run(what, dialect.check_sql(t, ck))
        for sql in dialect.reset_sequence_sql(conn, t):
            run(f"sequence reset on `{t.name}`", sql)
    if foreign_keys:
        for p in dependency_order(fresh):
            for fk in p.target.foreign_keys:
                what = f"foreign key `{fk.name or ','.join(fk.columns)}` on `{p.target.name}`"
                run(what, dialect.foreign_key_sql(p.target, fk))
    if failures:
        raise PostLoadError(failures)


def dependency_order(plans: list[TablePlan]) -> list[TablePlan]:
    """Referenced tables before the tables referencing them; self-references and cycles do
    not block (a cycle is broken at its first table in plan order)."""
    by_name = {p.target.name: p for p in plans}
    out: list[TablePlan] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(p: TablePlan) -> None:
        name = p.target.name
        if state.get(name):
            return
        state[name] = 1
        for fk in p.target.foreign_keys:
            ref = by_name.get(fk.ref_table)
            if ref is not None and ref is not p:
                visit(ref)
        state[name] = 2
        out.append(p)

    for p in plans:
        visit(p)
    return out
