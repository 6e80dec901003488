"""PostgreSQL through psycopg 3: catalog reflection, server-side cursors, COPY FROM STDIN."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from dmt.dialects.base import Converter, Dialect, Fetch, Row, TypeChoice, ValueCounters
from dmt.errors import ConnectError, TransferError
from dmt.schema.expr import NotPortable, portable_default
from dmt.schema.model import Check, Column, ColumnType, ForeignKey, Index, Schema, Table

_COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typtype, a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
       col_description(c.oid, a.attnum), a.atttypid
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

# tables (ordinary, partitioned), views and materialized views of one schema
_RELATIONS_SQL = """
SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm') AND c.relpersistence <> 't'
"""
# primary key, unique, foreign key and check constraints of one table, columns in key order
_CONSTRAINTS_SQL = """
SELECT con.conname, con.contype,
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
WHERE n.nspname = %s AND c.relname = %s AND con.contype IN ('p', 'u', 'f', 'c')
ORDER BY con.conname
"""
# indexes other than the primary key's and those behind a constraint; an expression's place
# in the column list is NULL
_INDEXES_SQL = """
SELECT i.relname, ix.indisunique, ix.indpred IS NOT NULL,
       ARRAY(SELECT a.attname FROM unnest(ix.indkey) WITH ORDINALITY k(num, pos)
             LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.num
             WHERE k.pos <= ix.indnkeyatts ORDER BY k.pos)
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class c ON c.oid = ix.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s AND NOT ix.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid
                  AND con.conrelid = ix.indrelid AND con.contype IN ('p', 'u', 'x'))
ORDER BY i.relname
"""
# pg_constraint.confdeltype / confupdtype -> the action as DDL spells it (NO ACTION: none)
_FK_ACTIONS = {"r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
_CHECK = re.compile(r"^CHECK *\((.+)\)( NO INHERIT)?( NOT VALID)?$", re.DOTALL)

_SIMPLE = {
    "smallint": "int16",
    "integer": "int32",
    "bigint": "int64",
    "boolean": "boolean",
    "real": "float32",
    "double precision": "float64",
    "text": "text",
    "bytea": "blob",
    "date": "date",
    "interval": "interval",
    "uuid": "uuid",
    "json": "json",
    "jsonb": "json",
    "money": "decimal",
}
#: OIDs below this belong to the types PostgreSQL ships with (FirstNormalObjectId)
_FIRST_USER_OID = 16384
_TYPE_RE = re.compile(r"^(?P<base>[a-z ]+?)(?:\((?P<a>\d+)(?:,(?P<b>\d+))?\))?(?P<rest>[a-z ]*)$")


def canonical_type(
    formatted: str, typtype: str = "b", enum_values: tuple[str, ...] = (), builtin: bool = True
) -> ColumnType:
    """Map ``format_type()`` output to the canonical set."""
    return _canonical(formatted, typtype, enum_values).with_(engine="postgres", builtin=builtin)


def _canonical(formatted: str, typtype: str, enum_values: tuple[str, ...]) -> ColumnType:
    if formatted.endswith("[]"):
        item = _canonical(formatted[:-2], "b", ()).kind
        return ColumnType("array", item=item, source=formatted)
    if typtype == "e":
        return ColumnType("enum", values=enum_values, source=formatted)
    m = _TYPE_RE.match(formatted)
    if not m:
        return ColumnType(
            "text", source=formatted, note=f"`{formatted}` carried as its PostgreSQL text form"
        )
    base = (m.group("base") + (m.group("rest") or "")).strip()
    a = int(m.group("a")) if m.group("a") else None
    b = int(m.group("b")) if m.group("b") else None
    if base in _SIMPLE:
        kind = _SIMPLE[base]
        if base == "money":
            return ColumnType("decimal", precision=19, scale=2, source=formatted)
        return ColumnType(kind, source=formatted)
    if base == "numeric":
        return ColumnType(
            "decimal", precision=a, scale=b if a is not None else None, source=formatted
        )
    if base == "character varying":
        return ColumnType("varchar" if a else "text", length=a, source=formatted)
    if base in ("character", "bpchar"):
        return ColumnType("char", length=a or 1, source=formatted)
    fsp = a if a is not None else 6
    if base in ("timestamp without time zone", "timestamp"):
        return ColumnType("timestamp", fsp=fsp, source=formatted)
    if base == "timestamp with time zone":
        return ColumnType("timestamptz", fsp=fsp, source=formatted)
    if base in ("time without time zone", "time"):
        return ColumnType("time", fsp=fsp, source=formatted)
    if base == "time with time zone":
        return ColumnType("time", fsp=fsp, source=formatted)
    return ColumnType(
        "text", source=formatted, note=f"`{formatted}` carried as its PostgreSQL text form"
    )


def _str_or_none(v: Any) -> Any:
    return None if v is None else str(v)


_INFINITY = (b"infinity", b"-infinity")


def _register_infinity_loaders(conn: Any) -> None:
    """Load ``infinity`` / ``-infinity`` dates and timestamps as those strings (psycopg raises
    on them): the canonical value of an infinite date or timestamp."""
    from psycopg.types.datetime import DateLoader, TimestampLoader, TimestamptzLoader

    def infinite(base: type) -> type:
        class Loader(base):
            def load(self, data: Any) -> Any:
                if bytes(data) in _INFINITY:
                    return bytes(data).decode()
                return super().load(data)

        return Loader

    for name, base in (
        ("date", DateLoader),
        ("timestamp", TimestampLoader),
        ("timestamptz", TimestamptzLoader),
    ):
        conn.adapters.register_loader(name, infinite(base))


def _nul_guard(table: str, column: str, strip: bool, counters: ValueCounters) -> Converter:
    """PostgreSQL text cannot hold NUL: strip it (counted) or fail naming the column."""

    def check(v: Any) -> Any:
        if isinstance(v, str) and "\x00" in v:
            if not strip:
                raise TransferError(
                    f"column `{column}` holds a NUL character, which PostgreSQL text cannot "
                    "store; set migration.nul_bytes: strip to remove it",
                    table,
                )
            counters.add("nul_bytes_stripped")
            return v.replace("\x00", "")
        return v

    return check


def _json_text(v: Any) -> Any:
    if isinstance(v, list | dict):
        return json.dumps(v, ensure_ascii=False, default=str)
    return v


def _then(first: Converter, second: Converter) -> Converter:
    return lambda v: second(first(v))


_TEXT_KINDS = ("char", "varchar", "text", "enum", "set", "json", "interval")


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


class PostgresDialect(Dialect):
    """PostgreSQL 12+ through psycopg 3."""

    name = "postgres"
    placeholder = "%s"
    max_identifier_length = 63
    identifier_length_in_bytes = True
    transactional_ddl = True
    supports_schemas = True
    supports_bulk_load = True
    max_decimal_precision = 1000

    def connect(self) -> Any:
        import psycopg
        from psycopg.types.string import TextLoader

        ep = self.endpoint
        try:
            conn = psycopg.connect(
                host=ep.host,
                port=ep.port,
                dbname=ep.database,
                user=ep.user,
                password=ep.password or None,
                connect_timeout=10,
                application_name="dmt",
            )
        except psycopg.Error as exc:
            raise ConnectError(
                self.side, f"PostgreSQL {ep.describe()}: {_first_line(exc)}"
            ) from None
        # JSON stays text end to end: no parse/serialise round trip, no key reordering.
        # An interval stays text too: a timedelta cannot hold months ('1 mon' is not 30 days).
        for name in ("json", "jsonb", "interval"):
            conn.adapters.register_loader(name, TextLoader)
        _register_infinity_loaders(conn)
        return conn

    def server_version(self, conn: Any) -> str:
        v = conn.info.server_version
        return f"PostgreSQL {v // 10000}.{v % 10000}"

    # ------------------------------------------------------------------ schema
    def existing_tables(self, conn: Any) -> set[str]:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (self.endpoint.schema,)
            )
            out = {r[0] for r in cur.fetchall()}
        conn.commit()
        return out

    def reflect(self, conn: Any, select: Callable[[str], bool]) -> Schema:
        schema_name = self.endpoint.schema
        schema = Schema(tables=[])
        with conn.cursor() as cur:
            cur.execute(_RELATIONS_SQL, (schema_name,))
            relations = cur.fetchall()
            schema.views = sorted(n for n, kind in relations if kind == "v")
            schema.views += sorted(n for n, kind in relations if kind == "m")
            cur.execute(
                "SELECT DISTINCT event_object_table || '.' || trigger_name "
                "FROM information_schema.triggers WHERE trigger_schema = %s",
                (schema_name,),
            )
            schema.triggers = sorted(r[0] for r in cur.fetchall())
            cur.execute(
                "SELECT routine_name FROM information_schema.routines WHERE routine_schema = %s",
                (schema_name,),
            )
            schema.routines = sorted({r[0] for r in cur.fetchall()})
        conn.commit()
        for name in sorted(n for n, kind in relations if kind in ("r", "p")):
            if select(name):
                schema.tables.append(self._reflect_table(conn, name))
        return schema

    def _reflect_table(self, conn: Any, name: str) -> Table:
        schema_name = self.endpoint.schema
        columns = []
        notes: list[str] = []
        with conn.cursor() as cur:
            cur.execute(_COLUMNS_SQL, (schema_name, name))
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
            ) in cur.fetchall():
                if generated:
                    notes.append(f"`{cname}`: generated column not copied")
                    continue
                values: tuple[str, ...] = ()
                if typtype == "e":
                    cur.execute(
                        "SELECT enumlabel FROM pg_enum WHERE enumtypid = %s ORDER BY enumsortorder",
                        (oid,),
                    )
                    values = tuple(r[0] for r in cur.fetchall())
                serial = bool(default and default.startswith("nextval("))
                native = None if serial else default
                try:
                    portable = portable_default(native, "postgres")
                except NotPortable:
                    portable = None
                columns.append(
                    Column(
                        name=cname,
                        type=canonical_type(ftype, typtype, values, builtin=oid < _FIRST_USER_OID),
                        nullable=not notnull,
                        default=portable,
                        autoincrement=bool(identity) or serial,
                        comment=comment,
                        native_default=native,
                    )
                )
            cur.execute(_CONSTRAINTS_SQL, (schema_name, name))
            constraints = cur.fetchall()
            cur.execute(_INDEXES_SQL, (schema_name, name))
            indexes = cur.fetchall()
            cur.execute(
                "SELECT c.reltuples::bigint FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = %s",
                (schema_name, name),
            )
            est = cur.fetchone()
        conn.commit()
        table = Table(name=name, columns=columns, engine="postgres", notes=notes)
        table.row_estimate = max(0, int(est[0])) if est else 0
        for cname, kind, cols, ref_table, ref_cols, on_delete, on_update, text in constraints:
            if kind == "p":
                table.primary_key = tuple(cols)
            elif kind == "u":
                table.uniques.append(Index(cname, tuple(cols), unique=True))
            elif kind == "f":
                table.foreign_keys.append(
                    ForeignKey(
                        name=cname,
                        columns=tuple(cols),
                        ref_table=ref_table,
                        ref_columns=tuple(ref_cols),
                        on_delete=_FK_ACTIONS.get(on_delete),
                        on_update=_FK_ACTIONS.get(on_update),
                    )
                )
            elif kind == "c":
                table.checks.append(Check(cname, _check_text(text), "postgres"))
        for iname, unique, partial, cols in indexes:
            if partial or not cols or any(c is None for c in cols):
                notes.append(f"index `{iname}` (on expressions or partial) is not copied")
                continue
            table.indexes.append(Index(iname, tuple(cols), unique=unique))
        return table

    def render_type(self, ctype: ColumnType, where: str) -> TypeChoice:
        k = ctype.kind
        if ctype.engine == "postgres" and ctype.builtin and ctype.source:
            return TypeChoice(ctype.source)  # same engine: the declared type, verbatim
        if k in ("int8", "int16", "year"):
            return TypeChoice("integer" if ctype.unsigned and k == "int16" else "smallint")
        if k == "int32":
            return TypeChoice("bigint" if ctype.unsigned else "integer")
        if k == "int64":
            return TypeChoice("numeric(20,0)" if ctype.unsigned else "bigint")
        if k == "decimal":
            if ctype.precision is None:
                return TypeChoice("numeric")
            return TypeChoice(f"numeric({ctype.precision},{ctype.scale or 0})")
        if k == "float32":
            return TypeChoice("real")
        if k == "float64":
            return TypeChoice("double precision")
        if k == "char":
            return TypeChoice(f"character({ctype.length or 1})")
        if k == "varchar":
            return TypeChoice(f"varchar({ctype.length})" if ctype.length else "text")
        if k in ("binary", "varbinary", "blob", "bit"):
            return TypeChoice("bytea")
        if k in ("time", "timestamp", "timestamptz"):
            fsp = 6 if ctype.fsp is None else ctype.fsp
            name = {"time": "time", "timestamp": "timestamp", "timestamptz": "timestamptz"}[k]
            return TypeChoice(f"{name}({fsp})")
        if k == "json":
            return TypeChoice("jsonb" if ctype.source == "jsonb" else "json")
        if k == "array":
            return TypeChoice("jsonb", f"{where}: array carried as a JSON array")
        if k in ("enum", "set"):
            return TypeChoice("text", f"{where}: {k} carried as text (members not enforced)")
        simple = {"boolean": "boolean", "date": "date", "interval": "interval", "uuid": "uuid"}
        return TypeChoice(simple.get(k, "text"))

    def column_ddl(self, col: Column, sql_type: str, in_pk: bool, single_pk: bool) -> str:
        ddl = super().column_ddl(col, sql_type, in_pk, single_pk)
        if col.autoincrement and sql_type in ("smallint", "integer", "bigint"):
            ddl += " GENERATED BY DEFAULT AS IDENTITY"
        return ddl

    def drop_table_sql(self, name: str) -> str:
        return f"DROP TABLE IF EXISTS {self.qualified(name)} CASCADE"

    def truncate_tables_sql(self, names: Sequence[str]) -> list[str]:
        # one statement: PostgreSQL empties tables that reference each other only together
        if not names:
            return []
        return ["TRUNCATE TABLE " + ", ".join(self.qualified(n) for n in names)]

    # ------------------------------------------------------------------ data
    def bool_literal(self, value: bool) -> str:
        return "true" if value else "false"

    def decoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        return [_str_or_none if c.type.kind == "uuid" else None for c in table.columns]

    def encoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        strip = self.options.nul_bytes == "strip"
        out: list[Converter | None] = []
        for c in table.columns:
            k = c.type.kind
            if k in _TEXT_KINDS:
                guard = _nul_guard(table.name, c.name, strip, counters)
                out.append(guard if k != "json" else _then(_json_text, guard))
            elif k == "array" and not (c.type.engine == "postgres" and c.type.builtin):
                out.append(_json_text)
            else:
                out.append(None)
        return out

    def copy_statement(self, sql: str) -> str:
        """``sql`` for ``cursor.copy()`` without parameters: psycopg merges parameters into a
        COPY only when there are some, so the doubled ``%`` of :meth:`sql_text` is undone."""
        return sql.replace("%%", "%")

    def select_expr(self, col: Column) -> str:
        # money arrives as locale-formatted text (`$1,000.00`); numeric is exact and portable
        if col.type.source == "money":
            return f"{self.quote(col.name)}::numeric"
        return super().select_expr(col)

    @contextlib.contextmanager
    def stream(self, conn: Any, sql: str, params: Sequence[Any]) -> Iterator[Fetch]:
        with conn.cursor(name=f"dmt_{uuid.uuid4().hex[:12]}") as cur:
            cur.execute(sql, tuple(params))
            yield cur.fetchmany
        conn.commit()

    def write_rows(self, conn: Any, table: Table, rows: Sequence[Row]) -> int:
        import psycopg

        sql = (
            f"COPY {self.qualified(table.name)} ({self.column_list(table.column_names)}) FROM STDIN"
        )
        try:
            with conn.cursor() as cur, cur.copy(self.copy_statement(sql)) as copy:
                for row in rows:
                    copy.write_row(row)
            conn.commit()
        except psycopg.Error as exc:
            conn.rollback()
            raise TransferError(f"COPY failed: {_first_line(exc)}", table.name) from exc
        return len(rows)

    def reset_sequence_sql(self, conn: Any, table: Table) -> list[str]:
        out = []
        for col in table.columns:
            if col.autoincrement:
                q = self.quote(col.name)
                tname = self.qualified(table.name)
                lit = "'" + tname.replace("'", "''") + "'"  # tname is already %-escaped
                colname = self.literal(col.name)
                out.append(
                    f"SELECT setval(pg_get_serial_sequence({lit}, {colname}), "
                    f"COALESCE((SELECT MAX({q}) FROM {tname}), 0) + 1, false)"
                )
        return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
