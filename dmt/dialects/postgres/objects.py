"""The objects of a PostgreSQL schema beyond its tables' rows and keys, read as PostgreSQL's own
DDL for a PostgreSQL target: extensions, collations, enums, domains, composite and range types
(before the tables), then routines, views and materialized views, the indexes and constraints
the schema model cannot express, comments, and triggers (after the data)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dmt.model.schema import NativeObject

_EXTENSIONS_SQL = """
SELECT e.extname FROM pg_extension e
WHERE e.extname <> 'plpgsql' ORDER BY e.oid
"""
# enums, composite, range types and domains of the schema, in creation (oid) order, which is
# an order their dependencies allow; types an extension owns come with the extension
_TYPES_SQL = """
SELECT t.oid, t.typname, t.typtype,
       ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid
             ORDER BY e.enumsortorder),
       ARRAY(SELECT quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod)
             FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0
             AND NOT a.attisdropped ORDER BY a.attnum),
       format_type(t.typbasetype, t.typtypmod), t.typnotnull, t.typdefault,
       ARRAY(SELECT 'CONSTRAINT ' || quote_ident(c.conname) || ' ' || pg_get_constraintdef(c.oid)
             FROM pg_constraint c WHERE c.contypid = t.oid ORDER BY c.conname),
       (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid)
FROM pg_type t
JOIN pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_class c ON c.oid = t.typrelid
WHERE n.nspname = %s AND (t.typtype IN ('e', 'd', 'r') OR (t.typtype = 'c' AND c.relkind = 'c'))
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                  AND d.objid = t.oid AND d.deptype = 'e')
ORDER BY t.oid
"""
# sequences with the column that owns them: 'a' a serial's (or OWNED BY), 'i' an identity's
_SEQUENCES_SQL = """
SELECT s.sequencename, s.data_type::text, s.start_value, s.min_value, s.max_value,
       s.increment_by, s.cycle, s.cache_size, s.last_value, t.relname, a.attname, d.deptype
FROM pg_sequences s
JOIN pg_namespace n ON n.nspname = s.schemaname
JOIN pg_class c ON c.relname = s.sequencename AND c.relnamespace = n.oid
LEFT JOIN pg_depend d ON d.objid = c.oid AND d.classid = 'pg_class'::regclass
     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class t ON t.oid = d.refobjid
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE s.schemaname = %s ORDER BY c.oid
"""
# collations defined in the schema (an ICU collation's locale is in colliculocale on 15 and 16,
# colllocale from 17, collcollate before 15)
_COLLATIONS_SQL = """
SELECT co.collname, co.collprovider, co.collisdeterministic, co.collcollate, co.collctype,
       COALESCE(to_jsonb(co) ->> 'colllocale', to_jsonb(co) ->> 'colliculocale', co.collcollate)
FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace
WHERE n.nspname = %s AND co.collprovider IN ('i', 'c') ORDER BY co.oid
"""
_ROUTINES_SQL = """
SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %s AND p.prokind IN ('f', 'p')
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e')
ORDER BY p.oid
"""
_AGGREGATES_SQL = """
SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %s AND p.prokind = 'a' ORDER BY p.proname
"""
_VIEWS_SQL = """
SELECT c.relname, c.relkind, pg_get_viewdef(c.oid, true) FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('v', 'm') ORDER BY c.oid
"""
# indexes the schema model cannot express (partial, on expressions, or not a B-tree) and
# exclusion constraints; partitions' indexes come with their parent's
_INDEXES_SQL = """
SELECT c.relname, i.relname, pg_get_indexdef(ix.indexrelid) FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class c ON c.oid = ix.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_am am ON am.oid = i.relam
WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND NOT ix.indisprimary
  AND (ix.indpred IS NOT NULL OR ix.indexprs IS NOT NULL OR am.amname <> 'btree')
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid
                  AND con.conrelid = ix.indrelid)
ORDER BY i.relname
"""
_EXCLUSIONS_SQL = """
SELECT c.relname, con.conname, pg_get_constraintdef(con.oid) FROM pg_constraint con
JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND con.contype = 'x' AND NOT c.relispartition ORDER BY con.conname
"""
_GENERATED_SQL = """
SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), pg_get_expr(d.adbin, d.adrelid)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = %s AND a.attgenerated = 's' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname, a.attnum
"""
_COMMENTS_SQL = """
SELECT c.relname, c.relkind, d.description FROM pg_description d
JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass AND d.objsubid = 0
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm') ORDER BY c.relname
"""
_COLUMN_COMMENTS_SQL = """
SELECT c.relname, a.attname, d.description FROM pg_description d
JOIN pg_class c ON c.oid = d.objoid AND d.classoid = 'pg_class'::regclass
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = d.objsubid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND d.objsubid > 0 AND c.relkind IN ('r', 'p') AND NOT c.relispartition
ORDER BY c.relname, a.attnum
"""
_TRIGGERS_SQL = """
SELECT c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND NOT t.tgisinternal AND NOT c.relispartition ORDER BY c.relname, t.tgname
"""


def reflect_objects(
    conn: Any, schema: str, select: Callable[[str], bool], quote: Callable[[str], str]
) -> tuple[list[NativeObject], list[str]]:
    """The schema's objects as DDL for a PostgreSQL target, and the names of aggregates
    (which are listed, not carried). Objects of a table ``select`` refuses are left out."""
    q = quote
    lit = _literal
    out: list[NativeObject] = []
    with conn.cursor() as cur:
        cur.execute(_EXTENSIONS_SQL)
        for (ext,) in cur.fetchall():
            out.append(
                NativeObject("extension", ext, f"CREATE EXTENSION IF NOT EXISTS {q(ext)}", "before")
            )
        cur.execute(_COLLATIONS_SQL, (schema,))
        for name, provider, deterministic, collate, ctype, locale in cur.fetchall():
            spec = (
                f"provider = icu, locale = {lit(locale)}"
                if provider == "i"
                else f"provider = libc, lc_collate = {lit(collate)}, lc_ctype = {lit(ctype)}"
            )
            spec += f", deterministic = {deterministic}"
            ddl = f"CREATE COLLATION IF NOT EXISTS {q(name)} ({spec})"
            out.append(NativeObject("collation", name, ddl, "before"))
        cur.execute(_TYPES_SQL, (schema,))
        for _oid, name, kind, labels, attrs, base, notnull, default, checks, sub in cur.fetchall():
            out.append(_type_object(q(name), name, kind, labels, attrs, base, notnull, default,
                                    checks, sub))  # fmt: skip
        cur.execute(_SEQUENCES_SQL, (schema,))
        sequences = [
            _sequence_objects(q, row) for row in cur.fetchall() if not row[9] or select(row[9])
        ]
        out += [o for pair in sequences for o in pair[0]]
        cur.execute(_ROUTINES_SQL, (schema,))
        for name, ddl in cur.fetchall():
            out.append(NativeObject("routine", name, ddl))
        cur.execute(_AGGREGATES_SQL, (schema,))
        aggregates = [r[0] for r in cur.fetchall()]
        cur.execute(_VIEWS_SQL, (schema,))
        for name, kind, body in cur.fetchall():
            body = body.rstrip().rstrip(";")
            if kind == "v":
                sql = f"CREATE OR REPLACE VIEW {q(name)} AS\n{body}"
                out.append(NativeObject("view", name, sql, body=body))
            else:
                out.append(
                    NativeObject(
                        "materialized view", name,
                        f"DROP MATERIALIZED VIEW IF EXISTS {q(name)};\n"
                        f"CREATE MATERIALIZED VIEW {q(name)} AS\n{body}\nWITH DATA",
                        body=body,
                    )
                )  # fmt: skip
        cur.execute(_INDEXES_SQL, (schema,))
        for table, name, ddl in cur.fetchall():
            if select(table):
                out.append(NativeObject("index", name, ddl, table=table))
        cur.execute(_EXCLUSIONS_SQL, (schema,))
        for table, name, ddl in cur.fetchall():
            if select(table):
                sql = f"ALTER TABLE {q(table)} ADD CONSTRAINT {q(name)} {ddl}"
                out.append(NativeObject("constraint", name, sql, table=table))
        cur.execute(_GENERATED_SQL, (schema,))
        for table, column, ctype, expr in cur.fetchall():
            if select(table):
                sql = (
                    f"ALTER TABLE {q(table)} ADD COLUMN {q(column)} {ctype} "
                    f"GENERATED ALWAYS AS ({expr}) STORED"
                )
                out.append(NativeObject("generated column", f"{table}.{column}", sql, table=table))
        cur.execute(_COMMENTS_SQL, (schema,))
        for rel, kind, text in cur.fetchall():
            what = {"v": "VIEW", "m": "MATERIALIZED VIEW"}.get(kind, "TABLE")
            if what != "TABLE" or select(rel):
                sql = f"COMMENT ON {what} {q(rel)} IS {lit(text)}"
                owner = rel if what == "TABLE" else None
                out.append(NativeObject("comment", rel, sql, table=owner))
        out += [o for pair in sequences for o in pair[1]]
        cur.execute(_COLUMN_COMMENTS_SQL, (schema,))
        for rel, column, text in cur.fetchall():
            if select(rel):
                sql = f"COMMENT ON COLUMN {q(rel)}.{q(column)} IS {lit(text)}"
                out.append(NativeObject("comment", f"{rel}.{column}", sql, table=rel))
        cur.execute(_TRIGGERS_SQL, (schema,))
        for table, name, ddl, enabled in cur.fetchall():
            if not select(table):
                continue
            sql = f"DROP TRIGGER IF EXISTS {q(name)} ON {q(table)};\n{ddl}"
            if enabled == "D":
                sql += f";\nALTER TABLE {q(table)} DISABLE TRIGGER {q(name)}"
            out.append(NativeObject("trigger", f"{table}.{name}", sql, table=table))
    conn.commit()
    return out, aggregates


def _sequence_objects(
    q: Callable[[str], str], row: tuple[Any, ...]
) -> tuple[list[NativeObject], list[NativeObject]]:
    """(before, after) objects of one sequence: a free or serial sequence is created before
    the tables (a column default names it) and owned by its column after; an identity's own
    sequence gets the source's options. Each ends at the source's current value, or past the
    largest value its column holds if that is higher (rows copied with their own numbers)."""
    name, dtype, start, lo, hi, step, cycle, cache, last, table, column, dep = row
    options = (
        f"INCREMENT BY {step} MINVALUE {lo} MAXVALUE {hi} START WITH {start} CACHE {cache} "
        + ("CYCLE" if cycle else "NO CYCLE")
    )
    before, after = [], []
    if dep == "i":
        target = f"pg_get_serial_sequence({_literal(q(table))}, {_literal(column)})"
        after.append(
            NativeObject("sequence", name, _identity_options(q(table), q(column), row), table=table)
        )
    else:
        ddl = f"CREATE SEQUENCE IF NOT EXISTS {q(name)} AS {dtype} {options}"
        before.append(NativeObject("sequence", name, ddl, "before"))
        target = _literal(q(name))
        if dep == "a":
            owned = f"ALTER SEQUENCE {q(name)} OWNED BY {q(table)}.{q(column)}"
            after.append(NativeObject("sequence owner", name, owned, table=table))
    if table and column and step > 0:  # never below the rows: the next value is past both
        done = last if last is not None else start - step
        top = f"(SELECT COALESCE(MAX({q(column)}), {done}) FROM {q(table)})"
        value = f"SELECT setval({target}, GREATEST({done}, {top}), true)"
    elif last is not None:
        value = f"SELECT setval({target}, {last}, true)"
    else:
        value = f"SELECT setval({target}, {start}, false)"
    after.append(NativeObject("sequence value", name, value, table=table))
    return before, after


def _identity_options(table: str, column: str, row: tuple[Any, ...]) -> str:
    _name, _dtype, start, lo, hi, step, cycle, cache, *_ = row
    sets = [
        f"SET INCREMENT BY {step}", f"SET MINVALUE {lo}", f"SET MAXVALUE {hi}",
        f"SET START WITH {start}", f"SET CACHE {cache}", "SET CYCLE" if cycle else "SET NO CYCLE",
    ]  # fmt: skip
    return f"ALTER TABLE {table} ALTER COLUMN {column} " + " ".join(sets)


def _type_object(
    qname: str, name: str, kind: str, labels: list[str], attrs: list[str], base: str,
    notnull: bool, default: str | None, checks: list[str], subtype: str | None,
) -> NativeObject:  # fmt: skip
    if kind == "e":
        ddl = f"CREATE TYPE {qname} AS ENUM ({', '.join(_literal(v) for v in labels)})"
        return NativeObject("type", name, _tolerant(ddl), "before")
    if kind == "c":
        return NativeObject("type", name, _tolerant(f"CREATE TYPE {qname} AS ({', '.join(attrs)})"),
                            "before")  # fmt: skip
    if kind == "r":
        ddl = f"CREATE TYPE {qname} AS RANGE (SUBTYPE = {subtype})"
        return NativeObject("type", name, _tolerant(ddl), "before")
    parts = [f"CREATE DOMAIN {qname} AS {base}"]
    if default is not None:
        parts.append(f"DEFAULT {default}")
    if notnull:
        parts.append("NOT NULL")
    parts += checks
    return NativeObject("domain", name, _tolerant(" ".join(parts)), "before")


def _tolerant(ddl: str) -> str:
    """``ddl`` that does nothing when the object already exists (a rerun keeps the type its
    tables were created with)."""
    body = ddl.replace("$dmt$", "$ dmt $")
    return f"DO $dmt$ BEGIN {body}; EXCEPTION WHEN duplicate_object THEN NULL; END $dmt$"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
