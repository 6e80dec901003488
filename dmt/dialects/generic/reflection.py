"""Reflection through SQLAlchemy's ``Inspector``: tables, columns, primary keys, unique
constraints, indexes, foreign keys and checks, in the engine-neutral model.

What the Inspector does not show is not seen: views are listed by name only; routines,
triggers, sequences, partitions, collations and comments on anything but columns are not
read. SQLAlchemy's warnings about types it does not recognise become notes of the table.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from dmt.dialects.generic.types import canonical
from dmt.model.schema import Check, Column, ForeignKey, Index, Schema, Table
from dmt.schema.expr import NotPortable, Spelling, portable_default

#: SQLAlchemy's warning about a type it does not know: (type name, column)
_UNKNOWN = re.compile(r"type '([^']+)' of column '([^']+)'")
#: how defaults are read: standard SQL strings, no backslash escapes
SPELLING = Spelling()


def reflect(
    conn: Any,
    schema: str | None,
    select: Callable[[str], bool],
    engine: str,
    spell: Callable[[Any], str],
    sa_types: dict[tuple[str, str], Any],
) -> Schema:
    """Every base table of ``schema`` (None: the connection's default) that ``select``
    accepts; ``engine`` names the tables' engine, ``spell`` writes a type as the backend does.
    ``sa_types`` receives each column's reflected SQLAlchemy type by (table, column)."""
    import sqlalchemy as sa

    backend = conn.dialect.name
    insp = sa.inspect(conn)
    out = Schema(tables=[])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = insp.get_table_names(schema=schema)
        try:
            out.views = sorted(insp.get_view_names(schema=schema))
        except NotImplementedError:
            out.views = []
        for name in sorted(names):
            if select(name):
                out.tables.append(_table(insp, name, schema, backend, engine, spell, sa_types))
    for w in caught:
        text = str(w.message)
        for t in out.tables:
            if f"'{t.name}'" in text or f" {t.name}." in text:
                t.notes.append(text)
    return out


def _table(
    insp: Any,
    name: str,
    schema: str | None,
    backend: str,
    engine: str,
    spell: Callable[[Any], str],
    sa_types: dict[tuple[str, str], Any],
) -> Table:
    notes: list[str] = []
    columns = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reflected = insp.get_columns(name, schema=schema)
    unknown = {}  # column -> the type name SQLAlchemy did not recognise
    for w in caught:
        m = _UNKNOWN.search(str(w.message))
        if m:
            unknown[m.group(2)] = m.group(1).upper()
    for c in reflected:
        if c.get("computed"):
            notes.append(f"`{c['name']}`: generated column not copied")
            continue
        native = c.get("default")
        native = None if native is None else str(native)
        try:
            portable = portable_default(native, SPELLING)
        except NotPortable:
            portable = None
        auto = c.get("autoincrement") is True or bool(c.get("identity"))
        sa_types[(name, c["name"])] = c["type"]
        columns.append(
            Column(
                name=c["name"],
                type=canonical(
                    c["type"], backend, unknown.get(c["name"]) or spell(c["type"]), engine
                ),
                nullable=bool(c.get("nullable", True)),
                default=None if auto else portable,
                autoincrement=auto,
                comment=c.get("comment"),
                native_default=None if auto else native,
            )
        )
    pk = tuple(insp.get_pk_constraint(name, schema=schema).get("constrained_columns") or ())
    if backend == "sqlite" and len(pk) == 1:  # an INTEGER PRIMARY KEY is the rowid: generated
        columns = [
            replace(c, autoincrement=True, default=None, native_default=None)
            if c.name == pk[0] and c.type.source.upper() == "INTEGER"
            else c
            for c in columns
        ]
    table = Table(name=name, columns=columns, primary_key=pk, engine=engine, notes=notes)
    for u in _optional(insp.get_unique_constraints, name, schema):
        cols = tuple(u.get("column_names") or ())
        if cols:
            table.uniques.append(Index(u.get("name") or f"{name}_{'_'.join(cols)}_key", cols, True))
    unique_names = {u.name for u in table.uniques}
    for ix in _optional(insp.get_indexes, name, schema):
        cols = tuple(ix.get("column_names") or ())
        if ix.get("duplicates_constraint") or ix.get("name") in unique_names:
            continue
        if (
            not cols
            or None in cols
            or (ix.get("expressions") and any(e not in cols for e in ix["expressions"]))
        ):
            notes.append(f"index `{ix.get('name')}` (on expressions) is not copied")
            continue
        table.indexes.append(Index(ix["name"], cols, bool(ix.get("unique"))))
    for fk in _optional(insp.get_foreign_keys, name, schema):
        ref_schema = fk.get("referred_schema")
        if ref_schema and ref_schema != schema:
            notes.append(f"foreign key `{fk.get('name')}` to schema `{ref_schema}` is not copied")
            continue
        options = fk.get("options") or {}
        table.foreign_keys.append(
            ForeignKey(
                name=fk.get("name"),
                columns=tuple(fk["constrained_columns"]),
                ref_table=fk["referred_table"],
                ref_columns=tuple(fk.get("referred_columns") or ()),
                on_delete=_action(options.get("ondelete")),
                on_update=_action(options.get("onupdate")),
            )
        )
    for ck in _optional(insp.get_check_constraints, name, schema):
        table.checks.append(Check(ck.get("name"), str(ck["sqltext"]), engine))
    return table


def _optional(method: Callable[..., list[dict[str, Any]]], name: str, schema: str | None) -> list:
    """What an Inspector method returns; nothing where the dialect does not implement it."""
    try:
        return method(name, schema=schema)
    except NotImplementedError:
        return []


def _action(value: str | None) -> str | None:
    return None if value is None or value.upper() == "NO ACTION" else value.upper()
