"""PostgreSQL catalog reflection (pg_catalog / information_schema -> the schema model)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from dmt.dialects.collations import postgres_reading
from dmt.dialects.postgres.types import FIRST_USER_OID, canonical_type
from dmt.model.schema import Check, Column, ForeignKey, Index, Schema, Table
from dmt.schema.expr import NotPortable, Spelling, portable_default

#: standard string literals; ``[`` indexes an array, it never quotes a name
SPELLING = Spelling(bracket_names=False)

# One query per catalog for all the tables reflected (not one per table): a schema of a
# thousand tables costs five round trips, like a schema of one.
_COLUMNS_SQL = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), t.typtype, a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
       col_description(c.oid, a.attnum), a.atttypid,
       CASE WHEN t.typtype = 'e' THEN ARRAY(SELECT e.enumlabel FROM pg_enum e
                                           WHERE e.enumtypid = a.atttypid
                                           ORDER BY e.enumsortorder) END,
       CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
       co.collname, NULLIF(cn.nspname, 'pg_catalog'), co.collisdeterministic,
       COALESCE(to_jsonb(co) ->> 'colllocale', to_jsonb(co) ->> 'colliculocale', co.collcollate)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> t.typcollation
LEFT JOIN pg_namespace cn ON cn.oid = co.collnamespace
WHERE n.nspname = %s AND c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""

# tables (ordinary, partitioned), views and materialized views of one schema, with the
# planner's row estimate, a partitioned table's key and partitions (name, newline, bound),
# and an inheritance child's parents; a partition's rows are read through its parent, so
# partitions are not tables of their own
_RELATIONS_SQL = """
SELECT c.relname, c.relkind, c.reltuples::bigint, pg_get_partkeydef(c.oid),
       ARRAY(SELECT p.relname || E'\\n' || pg_get_expr(p.relpartbound, p.oid)
             FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhrelid
             WHERE h.inhparent = c.oid ORDER BY p.relname),
       (SELECT string_agg(par.relname, ', ' ORDER BY par.relname) FROM pg_inherits h
        JOIN pg_class par ON par.oid = h.inhparent WHERE h.inhrelid = c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm') AND c.relpersistence <> 't'
  AND NOT c.relispartition
"""
# primary key, unique, foreign key and check constraints, columns in key order
_CONSTRAINTS_SQL = """
SELECT c.relname, con.conname, con.contype,
       ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(num, pos)
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num
             ORDER BY k.pos),
       ref.relname,
       ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(num, pos)
             JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num
             ORDER BY k.pos),
       con.confdeltype, con.confupdtype,
       CASE WHEN con.contype = 'c' THEN pg_get_constraintdef(con.oid, true) END
FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class ref ON ref.oid = con.confrelid
WHERE n.nspname = %s AND c.relname = ANY(%s) AND con.contype IN ('p', 'u', 'f', 'c')
ORDER BY c.relname, con.conname
"""
# indexes other than the primary key's and those behind a constraint; an expression's place
# in the column list is NULL
_INDEXES_SQL = """
SELECT c.relname, i.relname, ix.indisunique, ix.indpred IS NOT NULL OR am.amname <> 'btree',
       ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(num, pos)
             LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.num
             WHERE k.pos <= ix.indnkeyatts ORDER BY k.pos)
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class c ON c.oid = ix.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_am am ON am.oid = i.relam
WHERE n.nspname = %s AND c.relname = ANY(%s) AND NOT ix.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid
                  AND con.conrelid = ix.indrelid AND con.contype IN ('p', 'u', 'x'))
ORDER BY c.relname, i.relname
"""
# pg_constraint.confdeltype / confupdtype -> the action as DDL spells it (NO ACTION: none)
# trigger and routine names, told apart by the first column
_OBJECTS_SQL = """
SELECT 't', event_object_table || '.' || trigger_name FROM information_schema.triggers
WHERE trigger_schema = %s
UNION ALL
SELECT 'r', routine_name FROM information_schema.routines WHERE routine_schema = %s
"""
_FK_ACTIONS = {"r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
_CHECK = re.compile(r"^CHECK *\((.+)\)( NO INHERIT)?( NOT VALID)?$", re.DOTALL)


def reflect(conn: Any, schema_name: str, select: Callable[[str], bool]) -> Schema:
    """The tables of ``schema_name`` that ``select`` accepts; views, triggers, routines by name."""
    schema = Schema(tables=[])
    with conn.cursor() as cur:
        cur.execute(_RELATIONS_SQL, (schema_name,))
        relations = cur.fetchall()
        schema.views = sorted(r[0] for r in relations if r[1] == "v")
        schema.views += sorted(r[0] for r in relations if r[1] == "m")
        cur.execute(_OBJECTS_SQL, (schema_name, schema_name))
        objects = cur.fetchall()
        schema.triggers = sorted({name for kind, name in objects if kind == "t"})
        schema.routines = sorted({name for kind, name in objects if kind == "r"})
        tables = {r[0]: r for r in relations if r[1] in ("r", "p") and select(r[0])}
        estimates = {n: r[2] for n, r in tables.items()}
        names = sorted(estimates)
        rows: dict[str, dict[str, list[tuple[Any, ...]]]] = {n: {} for n in names}
        if names:
            for what, sql in (
                ("columns", _COLUMNS_SQL), ("constraints", _CONSTRAINTS_SQL),
                ("indexes", _INDEXES_SQL),
            ):  # fmt: skip
                cur.execute(sql, (schema_name, names))
                for row in cur.fetchall():
                    rows[row[0]].setdefault(what, []).append(row[1:])
    conn.commit()
    for name in names:
        got = rows[name]
        table = _table(name, got.get("columns", []), got.get("constraints", []))
        table.row_estimate = max(0, int(estimates[name] or 0))
        _add_indexes(table, got.get("indexes", []))
        _, kind, _, partkey, partitions, parents = tables[name]
        if kind == "p":
            table.partitioning = partkey
            table.partitions = [(n, b) for n, b in (p.split("\n", 1) for p in partitions)]
        elif parents:
            table.notes.append(
                f"inherits from {parents} on the source: its own rows are copied into a "
                "table of its own (the parent's are read without them)"
            )
        schema.tables.append(table)
    return schema


def _table(name: str, columns: list[tuple[Any, ...]], constraints: list[tuple[Any, ...]]) -> Table:
    """One table from its catalog rows: columns, keys and constraints."""
    cols = []
    notes: list[str] = []
    for (
        cname,
        ftype,
        typtype,
        notnull,
        default,
        identity,
        generated,
        comment,
        oid,
        labels,
        domain_base,
        *collation,
    ) in columns:
        if generated:
            notes.append(f"`{cname}`: generated column not copied")
            continue
        values: tuple[str, ...] = tuple(labels or ())
        serial = bool(default and default.startswith("nextval("))
        native = default  # a serial's nextval(...) too: a PostgreSQL target keeps it
        try:
            portable = portable_default(native, SPELLING)
        except NotPortable:
            portable = None
        if domain_base is not None:  # a domain: its base type, declared by its own name
            ctype = canonical_type(domain_base).with_(source=ftype, builtin=False)
        else:
            ctype = canonical_type(ftype, typtype, values, builtin=oid < FIRST_USER_OID)
        cols.append(
            Column(
                name=cname,
                type=ctype,
                nullable=not notnull,
                default=portable,
                autoincrement=bool(identity) or serial,
                comment=comment,
                native_default=native,
                collation=postgres_reading(*collation) if collation[0] else None,
            )
        )
    table = Table(name=name, columns=cols, engine="postgres", notes=notes)
    for cname, kind, kcols, ref_table, ref_cols, on_delete, on_update, text in constraints:
        if kind == "p":
            table.primary_key = tuple(kcols)
        elif kind == "u":
            table.uniques.append(Index(cname, tuple(kcols), unique=True))
        elif kind == "f":
            table.foreign_keys.append(
                ForeignKey(
                    name=cname,
                    columns=tuple(kcols),
                    ref_table=ref_table,
                    ref_columns=tuple(ref_cols),
                    on_delete=_FK_ACTIONS.get(on_delete),
                    on_update=_FK_ACTIONS.get(on_update),
                )
            )
        elif kind == "c":
            table.checks.append(Check(cname, _check_text(text), "postgres"))
    return table


def _add_indexes(table: Table, indexes: list[tuple[Any, ...]]) -> None:
    for iname, unique, partial, cols in indexes:
        if partial or not cols or any(c is None for c in cols):
            table.notes.append(
                f"index `{iname}` (partial, on expressions or not a B-tree) is not copied"
            )
            continue
        table.indexes.append(Index(iname, tuple(cols), unique=unique))


def _check_text(definition: str) -> str:
    """The condition of ``pg_get_constraintdef``'s ``CHECK ((a > 0)) NOT VALID``: ``a > 0``."""
    m = _CHECK.match(definition)
    text = m.group(1) if m else definition
    return _strip_parens(text)


def _strip_parens(text: str) -> str:
    """``text`` without one pair of parentheses around all of it (quotes honoured)."""
    t = text.strip()
    if not (t.startswith("(") and t.endswith(")")):
        return text
    depth, quote = 0, ""
    for i, ch in enumerate(t):
        if quote:
            if ch == quote:
                quote = ""  # a doubled quote closes and reopens: same result
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return t[1:-1] if i == len(t) - 1 else text
    return text
