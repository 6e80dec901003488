"""The objects of a MySQL/MariaDB database beyond its tables' rows and keys, read as the
server's own DDL (``SHOW CREATE ...`` on a connection whose current database is the source, so
names come unqualified) for a MySQL/MariaDB target: routines, views, generated and
``ON UPDATE`` columns, ``AUTO_INCREMENT`` counters, table comments, then triggers. The
``DEFINER`` clause is dropped: the target's own user becomes the definer."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from dmt.model.schema import NativeObject, Schema, Table

if TYPE_CHECKING:
    from dmt.dialects.mysql.dialect import MySQLDialect

_DEFINER = re.compile(r"DEFINER=(`[^`]*`|'[^']*'|\w+)@(`[^`]*`|'[^']*'|[\w.%-]+)\s*")


#: the partitioning clause at the end of SHOW CREATE TABLE (MySQL wraps it in a comment)
_PARTITION = re.compile(r"(?:/\*!\d+)?\s*(PARTITION BY .*?)(?:\s*\*/)?\s*$", re.DOTALL)


#: the query of SHOW CREATE VIEW's statement
_VIEW_BODY = re.compile(r"\bVIEW\s+`(?:[^`]|``)*`\s+AS\s+(.*)$", re.DOTALL)


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _lit(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def reflect_objects(
    cur: Any, db: str | None, select: Callable[[str], bool], schema: Schema
) -> list[NativeObject]:
    """Objects of ``db`` as DDL for a MySQL/MariaDB target (a table ``select`` refuses brings
    none of its own); each partitioned table of ``schema`` gets its partitioning clause."""
    out: list[NativeObject] = []
    partitioning: dict[str, str] = {}
    cur.execute(
        "SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES "
        "WHERE ROUTINE_SCHEMA = %s ORDER BY CREATED, ROUTINE_NAME",
        (db,),
    )
    for name, kind in cur.fetchall():
        cur.execute(f"SHOW CREATE {kind} {_q(name)}")
        row = cur.fetchone()
        if row is None or row[2] is None:  # no privilege to see the body
            continue
        setup = (f"SET SESSION sql_mode = {_lit(row[1])}", f"DROP {kind} IF EXISTS {_q(name)}")
        out.append(NativeObject("routine", name, _DEFINER.sub("", row[2]), setup=setup))
    cur.execute(
        "SELECT TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = %s "
        "ORDER BY TABLE_NAME",
        (db,),
    )
    for (name,) in cur.fetchall():
        cur.execute(f"SHOW CREATE VIEW {_q(name)}")
        ddl = _DEFINER.sub("", cur.fetchone()[1])
        body = m.group(1) if (m := _VIEW_BODY.search(ddl)) else None
        sql = re.sub(r"^CREATE ", "CREATE OR REPLACE ", ddl)
        out.append(NativeObject("view", name, sql, body=body))
    cur.execute(
        "SELECT TABLE_NAME, AUTO_INCREMENT, TABLE_COMMENT FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
        (db,),
    )
    tables = [r for r in cur.fetchall() if select(r[0])]
    for name, counter, comment in tables:
        objects, clause = _table_objects(cur, name, counter, comment)
        out += objects
        if clause:
            partitioning[name] = clause
    cur.execute(
        "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS "
        "WHERE TRIGGER_SCHEMA = %s ORDER BY EVENT_OBJECT_TABLE, ACTION_ORDER",
        (db,),
    )
    for table, name in cur.fetchall():
        if not select(table):
            continue
        cur.execute(f"SHOW CREATE TRIGGER {_q(name)}")
        row = cur.fetchone()
        setup = (f"SET SESSION sql_mode = {_lit(row[1])}", f"DROP TRIGGER IF EXISTS {_q(name)}")
        ddl = _DEFINER.sub("", row[2])
        out.append(NativeObject("trigger", f"{table}.{name}", ddl, table=table, setup=setup))
    for t in schema.tables:
        t.partitioning = partitioning.get(t.name)
    return out


def _table_objects(
    cur: Any, name: str, counter: int | None, comment: str
) -> tuple[list[NativeObject], str | None]:
    """Generated and ``ON UPDATE`` columns (added or changed once the rows are in, each at its
    place), the ``AUTO_INCREMENT`` counter and the table comment; and the table's
    ``PARTITION BY`` clause, if it has one."""
    out = []
    cur.execute(f"SHOW CREATE TABLE {_q(name)}")
    ddl = cur.fetchone()[1]
    clause = None
    if m := _PARTITION.search(ddl):
        clause = m.group(1).strip()
    lines = ddl.splitlines()[1:]
    previous = None
    for line in lines:
        line = line.strip().rstrip(",")
        if not line.startswith("`"):
            continue
        column = line[1 : line.index("`", 1)]
        if re.search(r"\bGENERATED ALWAYS AS\b|\bAS \(", line, re.IGNORECASE):
            place = f" AFTER {_q(previous)}" if previous else " FIRST"
            sql = f"ALTER TABLE {_q(name)} ADD COLUMN {line}{place}"
            out.append(NativeObject("generated column", f"{name}.{column}", sql, table=name))
        elif re.search(r"\bON UPDATE\b", line, re.IGNORECASE):
            sql = f"ALTER TABLE {_q(name)} MODIFY COLUMN {line}"
            out.append(NativeObject("column", f"{name}.{column}", sql, table=name))
        previous = column
    # SHOW CREATE TABLE has the live counter; information_schema may hold a cached one
    if m := re.search(r"\bAUTO_INCREMENT=(\d+)", ddl):  # a table option, never a column's
        counter = int(m.group(1))
    if counter:
        sql = f"ALTER TABLE {_q(name)} AUTO_INCREMENT = {int(counter)}"
        out.append(NativeObject("auto_increment", name, sql, table=name))
    if comment:
        sql = f"ALTER TABLE {_q(name)} COMMENT = {_lit(comment)}"
        out.append(NativeObject("comment", name, sql, table=name))
    return out, clause


class MySQLObjects:
    """Creating the carried objects: as every engine does (the dialect base), then the
    session's sql_mode back, since each routine and trigger is created under its own."""

    def create_native_objects(self, conn: Any, objects: Sequence[NativeObject]) -> list[str]:
        with conn.cursor() as cur:
            cur.execute("SELECT @@SESSION.sql_mode")
            (mode,) = cur.fetchone()
        try:
            return super().create_native_objects(conn, objects)  # type: ignore[misc]
        finally:
            with conn.cursor() as cur:
                cur.execute("SET SESSION sql_mode = %s", (mode,))


def counter_reset_sql(d: MySQLDialect, conn: Any, table: Table) -> list[str]:
    """The ``AUTO_INCREMENT`` counter just past the loaded rows (an exact counter carried from
    a MySQL source is set after it)."""
    if not table.primary_key:
        return []
    col = next((c for c in table.columns if c.name == table.primary_key[0]), None)
    if col is None or not col.autoincrement:
        return []
    with conn.cursor() as cur:
        top_sql = f"SELECT COALESCE(MAX({d.quote(col.name)}), 0)"
        d.execute(cur, f"{top_sql} FROM {d.qualified(table.name)}")
        (top,) = cur.fetchone()
    conn.commit()
    if not isinstance(top, int):
        return []
    return [f"ALTER TABLE {d.qualified(table.name)} AUTO_INCREMENT = {top + 1}"]
