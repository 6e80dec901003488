"""The objects of a SQLite file beyond its tables' rows, as SQLite's own DDL for a SQLite
target: indexes the schema model cannot express (partial, on expressions), views, the
``AUTOINCREMENT`` counters, and triggers last. Tables themselves are created from their own
CREATE TABLE (:attr:`dmt.model.schema.Table.native_ddl`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from dmt.model.schema import NativeObject, Table

#: the query of a CREATE VIEW statement (a view with its own column list is not translated)
_VIEW_BODY = re.compile(
    r"^\s*CREATE\s+(?:TEMP\w*\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?:\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|[\w.]+)\s+AS\s+(.*)$",
    re.DOTALL | re.IGNORECASE,
)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def reflect_objects(
    conn: Any, tables: list[Table], select: Callable[[str], bool]
) -> list[NativeObject]:
    """Objects of the file as DDL for a SQLite target; a table ``select`` refuses brings none
    of its own. Index names the model already holds are left to it."""
    modelled = {i.name for t in tables for i in (*t.indexes, *t.uniques)}
    rows = conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master "
        "WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
    ).fetchall()
    out: list[NativeObject] = []
    for kind, name, table, sql in rows:
        if kind == "index" and name not in modelled and select(table):
            out.append(NativeObject("index", name, sql, table=table))
        elif kind == "view":
            body = m.group(1) if (m := _VIEW_BODY.search(sql)) else None
            setup = (f"DROP VIEW IF EXISTS {_q(name)}",)
            out.append(NativeObject("view", name, sql, setup=setup, body=body))
    has_sequence = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
    ).fetchone()
    if has_sequence:
        for name, seq in conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall():
            if select(name):
                sql = (
                    f"UPDATE sqlite_sequence SET seq = max(seq, {int(seq)}) WHERE name = "
                    + "'"
                    + name.replace("'", "''")
                    + "'"
                )
                out.append(NativeObject("autoincrement counter", name, sql, table=name))
    for kind, name, table, sql in rows:
        if kind == "trigger" and select(table):
            setup = (f"DROP TRIGGER IF EXISTS {_q(name)}",)
            out.append(NativeObject("trigger", name, sql, table=table, setup=setup))
    return out
