"""Views to a target of another engine: each view's query translated by sqlglot from the
source's spelling into the target's, created after the data (views over views retried until
nothing more can be made), and proved by reading from it. A view that cannot be translated,
created or read is not left behind: it is dropped and listed with the reason."""

from __future__ import annotations

import logging
from typing import Any

from dmt.dialects.base import Dialect
from dmt.errors import first_line
from dmt.model.schema import NativeObject, Schema

log = logging.getLogger("dmt.schema")


def translated_views(
    schema: Schema, source: Dialect, target: Dialect
) -> tuple[list[NativeObject], list[str]]:
    """(the source's views as DDL for ``target``, one line per view that cannot be
    translated). A materialized view becomes a plain view."""
    views = [o for o in schema.objects if o.kind in ("view", "materialized view")]
    if not views or source.name == target.name:
        return [], []
    import sqlglot
    from sqlglot.errors import ErrorLevel

    out: list[NativeObject] = []
    failed: list[str] = []
    for v in views:
        if v.body is None:
            failed.append(f"view {v.name}: not migrated (its definition could not be read)")
            continue
        try:
            query = sqlglot.transpile(
                v.body, read=source.transpiler(), write=target.transpiler(),
                identify=True, unsupported_level=ErrorLevel.RAISE,
            )  # fmt: skip
        except Exception as exc:  # sqlglot raises its own ParseError / UnsupportedError
            failed.append(f"view {v.name}: not migrated (cannot translate: {first_line(exc)})")
            continue
        if len(query) != 1:
            failed.append(f"view {v.name}: not migrated (its definition is not one query)")
            continue
        name = target.raw_quote(v.name)
        ddl = f"CREATE VIEW {name} AS {query[0]}"
        out.append(NativeObject("view", v.name, ddl, setup=(f"DROP VIEW IF EXISTS {name}",)))
    return out, failed


def create_views(target: Dialect, conn: Any, views: list[NativeObject]) -> list[str]:
    """Create ``views`` and read one row from each; drop each one that fails. One line per
    view not migrated, each also logged as a warning."""
    if not views:
        return []
    failures = target.create_native_objects(conn, views)
    failed = {line.split(":", 1)[0] for line in failures}
    for v in views:
        if f"{v.kind} {v.name}" in failed:
            continue
        try:
            cur = conn.cursor()
            try:
                cur.execute(f"SELECT * FROM {target.raw_quote(v.name)} LIMIT 1")
                cur.fetchall()
            finally:
                cur.close()
            conn.commit()
        except Exception as exc:
            conn.rollback()
            failures.append(f"view {v.name}: not migrated ({first_line(exc)})")
            cur = conn.cursor()
            try:
                cur.execute(v.setup[0])  # DROP VIEW IF EXISTS
            finally:
                cur.close()
            conn.commit()
    for line in failures:
        log.warning("%s", line)
    log.info("%d of %d view(s) translated and created", len(views) - len(failures), len(views))
    return failures
