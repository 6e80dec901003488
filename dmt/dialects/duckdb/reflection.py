"""DuckDB reflection through its catalog functions: ``duckdb_tables()``, ``duckdb_columns()``,
``duckdb_constraints()``, ``duckdb_indexes()``, ``duckdb_views()`` — of the schema ``main`` of
the attached file. DuckDB does not record a foreign key's ON DELETE / ON UPDATE actions (it
has none but NO ACTION), nor triggers or routines."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from dmt.dialects.duckdb.types import canonical_type
from dmt.model.schema import Check, Column, ForeignKey, Index, Schema, Table
from dmt.schema.expr import NotPortable, Spelling, portable_default

SPELLING = Spelling(backslash_escapes=False, bracket_names=False)
_WHERE = "database_name = current_database() AND schema_name = 'main'"
_ELEMENT = re.compile(r"\s*(?:'((?:[^']|'')*)'|([^,]+))\s*(?:,|$)")
_NAME = re.compile(r'^(?:"((?:[^"]|"")*)"|([A-Za-z_][A-Za-z0-9_]*))$')


def _rows(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    cur.execute(sql, params)
    return [tuple(r) for r in cur.fetchall()]


def table_names(conn: Any) -> list[str]:
    return [
        r[0]
        for r in _rows(
            conn, f"SELECT table_name FROM duckdb_tables() WHERE {_WHERE} AND NOT internal"
        )
    ]


def reflect(conn: Any, select: Callable[[str], bool]) -> Schema:
    """Every base table of ``main`` that ``select`` accepts; views by name."""
    schema = Schema(tables=[])
    tables = _rows(
        conn,
        f"SELECT table_name, estimated_size FROM duckdb_tables() WHERE {_WHERE} "
        "AND NOT internal AND NOT temporary ORDER BY table_name",
    )
    for name, estimate in tables:
        if select(name):
            table = _table(conn, name)
            table.row_estimate = int(estimate or 0)
            schema.tables.append(table)
    views = f"SELECT view_name FROM duckdb_views() WHERE {_WHERE} AND NOT internal ORDER BY 1"
    schema.views = [r[0] for r in _rows(conn, views)]
    return schema


def _table(conn: Any, name: str) -> Table:
    cols = _rows(
        conn,
        "SELECT column_name, data_type, is_nullable, column_default FROM duckdb_columns() "
        f"WHERE {_WHERE} AND table_name = ? ORDER BY column_index",
        (name,),
    )
    cons = _rows(
        conn,
        "SELECT constraint_type, constraint_name, constraint_column_names, expression, "
        f"referenced_table, referenced_column_names FROM duckdb_constraints() WHERE {_WHERE} "
        "AND table_name = ? ORDER BY constraint_index",
        (name,),
    )
    pk: tuple[str, ...] = next((tuple(c[2]) for c in cons if c[0] == "PRIMARY KEY"), ())
    columns = []
    for cname, dtype, nullable, default in cols:
        try:
            portable = portable_default(default, SPELLING)
        except NotPortable:
            portable = None
        sequence = bool(default and default.lower().startswith("nextval("))
        columns.append(
            Column(
                name=cname,
                type=canonical_type(dtype),
                nullable=bool(nullable) and cname not in pk,
                default=None if sequence else portable,
                autoincrement=sequence,
                native_default=default,
            )
        )
    table = Table(name=name, columns=columns, primary_key=pk, engine="duckdb")
    for kind, cname, names, expr, ref_table, ref_cols in cons:
        if kind == "UNIQUE":
            table.uniques.append(Index(cname, tuple(names), unique=True))
        elif kind == "CHECK" and expr:
            table.checks.append(Check(cname, expr, "duckdb"))
        elif kind == "FOREIGN KEY":
            table.foreign_keys.append(ForeignKey(cname, tuple(names), ref_table, tuple(ref_cols)))
    indexes = _rows(
        conn,
        f"SELECT index_name, is_unique, expressions FROM duckdb_indexes() WHERE {_WHERE} "
        "AND table_name = ? AND NOT is_primary ORDER BY index_name",
        (name,),
    )
    for iname, unique, exprs in indexes:
        columns_of = _index_columns(exprs)
        if columns_of is None:
            table.notes.append(f"index `{iname}` (on expressions) is not copied")
            continue
        table.indexes.append(Index(iname, columns_of, unique=bool(unique)))
    return table


def _index_columns(exprs: Any) -> tuple[str, ...] | None:
    """The column names of an index's expressions as ``duckdb_indexes()`` lists them
    (``[a, '"b c"']``: an element that needs quoting is in single quotes); None when one of
    them is not a plain column."""
    text = str(exprs).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    out = []
    for m in _ELEMENT.finditer(text):
        part = m.group(1).replace("''", "'") if m.group(1) is not None else m.group(2)
        name = _NAME.match(part.strip())
        if name is None:
            return None
        out.append(name.group(2) if name.group(1) is None else name.group(1).replace('""', '"'))
    return tuple(out) or None
