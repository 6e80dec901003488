"""SQLite: stdlib sqlite3, PRAGMA-based reflection, batched inserts in large transactions.

SQLite's declared types are free text; they are mapped by affinity (with the common spellings
``int(5)``, ``double precision``, ``datetime``, ``number``, ``boolean`` recognised), and an
untyped column is carried as text with a warning.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from dmt.dialects.base import Converter, Dialect, Row, TypeChoice, ValueCounters
from dmt.errors import ConnectError, TransferError
from dmt.schema.model import Column, ColumnType, ForeignKey, Index, Schema, Table

_PARAMS = re.compile(r"\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)")


def canonical_type(declared: str) -> ColumnType:
    """Map a SQLite declared type to the canonical set, by SQLite's affinity rules first."""
    decl = declared.strip()
    up = decl.upper()
    m = _PARAMS.search(up)
    p = int(m.group(1)) if m else None
    s = int(m.group(2)) if m and m.group(2) is not None else None
    base = _PARAMS.sub("", up).strip()
    ct = ColumnType("text", source=decl)
    if not up:
        return ColumnType("text", source="")
    if base in ("BOOLEAN", "BOOL"):
        return ColumnType("boolean", source=decl)
    if "INT" in base:  # INTEGER affinity; SQLite stores 64-bit signed integers
        return ColumnType("int64", source=decl)
    if any(k in base for k in ("CHAR", "CLOB", "TEXT")):
        if "CHAR" in base and p is not None:
            kind = (
                "char" if base in ("CHAR", "CHARACTER", "NCHAR", "NATIVE CHARACTER") else "varchar"
            )
            return ColumnType(kind, length=p, source=decl)
        return ct
    if base == "BLOB" or "BINARY" in base or base == "BYTEA":
        return ColumnType("blob", source=decl)
    if any(k in base for k in ("REAL", "FLOA", "DOUB")):
        return ColumnType("float64", source=decl)
    # NUMERIC affinity and the names that commonly carry it
    if base in ("DATE",):
        return ColumnType("date", source=decl)
    if base in ("DATETIME", "TIMESTAMP", "TIMESTAMP WITHOUT TIME ZONE"):
        return ColumnType("timestamp", fsp=6, source=decl)
    if base in ("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"):
        return ColumnType("timestamptz", fsp=6, source=decl)
    if base == "TIME":
        return ColumnType("time", fsp=6, source=decl)
    if base in ("JSON", "JSONB"):
        return ColumnType("json", source=decl)
    if base == "UUID":
        return ColumnType("uuid", source=decl)
    if base in ("DECIMAL", "NUMERIC", "NUMBER", "MONEY"):
        return ColumnType("decimal", precision=p, scale=s if p is not None else None, source=decl)
    return ColumnType("decimal", source=decl)


def _to_bool(v: Any) -> Any:
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v != 0
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("1", "t", "true", "y", "yes", "on"):
            return True
        if low in ("0", "f", "false", "n", "no", "off"):
            return False
    return v


def _to_timestamp(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return dt.datetime.fromisoformat(v)
        except ValueError:
            return v
    if isinstance(v, int | float) and not isinstance(v, bool):  # unix epoch seconds
        return dt.datetime.fromtimestamp(v, dt.UTC).replace(tzinfo=None)
    return v


def _to_date(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return dt.date.fromisoformat(v[:10]) if len(v) >= 10 else v
        except ValueError:
            return v
    return v


def _to_time(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return dt.time.fromisoformat(v)
        except ValueError:
            return v
    return v


def _to_decimal(v: Any) -> Any:
    if isinstance(v, int) and not isinstance(v, bool):
        return Decimal(v)
    if isinstance(v, float):
        return Decimal(repr(v))
    if isinstance(v, str):
        try:
            return Decimal(v.strip())
        except ArithmeticError:
            return v
    return v


def _to_text(v: Any) -> Any:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "boolean": _to_bool,
    "timestamp": _to_timestamp,
    "date": _to_date,
    "time": _to_time,
    "decimal": _to_decimal,
    "text": _to_text,
    "varchar": _to_text,
    "char": _to_text,
    "json": _to_text,
    "uuid": _to_text,
}


def _encode_value(v: Any) -> Any:
    """Canonical Python value -> something sqlite3 binds exactly."""
    if isinstance(v, dt.datetime):
        return v.isoformat(" ")
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dt.timedelta):
        return str(v)
    if isinstance(v, bool):
        return int(v)
    return v


class SQLiteDialect(Dialect):
    """SQLite 3 through the standard library."""

    name = "sqlite"
    placeholder = "?"
    max_identifier_length = 1_000_000
    transactional_ddl = True
    max_bind_params = 32766
    max_decimal_precision = 15  # beyond this NUMERIC affinity turns values into lossy REALs
    #: one writer at a time: SQLite serialises writers on the file lock anyway
    max_writers: ClassVar[int] = 1

    def connect(self) -> sqlite3.Connection:
        path = self.endpoint.path or ":memory:"
        try:
            if self.side == "source":
                uri = "file:" + path.replace("?", "%3f").replace("#", "%23") + "?mode=ro"
                conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=60)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            else:
                conn = sqlite3.connect(path, check_same_thread=False, timeout=60)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise ConnectError(self.side, f"SQLite file `{path}`: {exc}") from exc
        conn.text_factory = _text_factory
        return conn

    def server_version(self, conn: Any) -> str:
        return "SQLite " + sqlite3.sqlite_version

    # ------------------------------------------------------------------ schema
    def existing_tables(self, conn: Any) -> set[str]:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        return {r[0] for r in rows}

    def reflect(self, conn: Any, select: Callable[[str], bool]) -> Schema:
        master = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
        schema = Schema(tables=[])
        for kind, name, _sql in master:
            if kind == "view":
                schema.views.append(name)
            elif kind == "trigger":
                schema.triggers.append(name)
            elif kind == "table" and select(name):
                schema.tables.append(self._reflect_table(conn, name))
        return schema

    def _reflect_table(self, conn: Any, name: str) -> Table:
        q = self.quote(name)
        info = conn.execute(f"PRAGMA table_xinfo({q})").fetchall()
        pk = [r for r in info if r[5] > 0]
        pk_cols = tuple(r[1] for r in sorted(pk, key=lambda r: r[5]))
        has_autoinc = bool(
            conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=? AND sql LIKE "
                "'%AUTOINCREMENT%'",
                (name,),
            ).fetchone()
        )
        columns = []
        for _cid, cname, decl, notnull, default, pkpos, hidden in info:
            if hidden:  # generated columns are not copied
                continue
            ctype = canonical_type(decl or "")
            rowid_alias = len(pk_cols) == 1 and pkpos == 1 and (decl or "").upper() == "INTEGER"
            columns.append(
                Column(
                    name=cname,
                    type=ctype,
                    nullable=not notnull and pkpos == 0,
                    default=default,
                    autoincrement=rowid_alias or (has_autoinc and pkpos == 1),
                )
            )
        table = Table(name=name, columns=columns, primary_key=pk_cols)
        for _seq, iname, unique, origin, _partial in conn.execute(f"PRAGMA index_list({q})"):
            if origin == "pk":
                continue
            cols = tuple(
                r[2] for r in conn.execute(f"PRAGMA index_info({self.quote(iname)})") if r[2]
            )
            if not cols:  # an index on expressions: not portable
                continue
            idx = Index(
                name=iname if origin == "c" else f"{name}_{'_'.join(cols)}_key",
                columns=cols,
                unique=bool(unique),
            )
            (table.uniques if origin == "u" else table.indexes).append(idx)
        fks: dict[int, list[Any]] = {}
        for row in conn.execute(f"PRAGMA foreign_key_list({q})"):
            fks.setdefault(row[0], []).append(row)
        for rows in fks.values():
            rows.sort(key=lambda r: r[1])
            table.foreign_keys.append(
                ForeignKey(
                    name=None,
                    columns=tuple(r[3] for r in rows),
                    ref_table=rows[0][2],
                    ref_columns=tuple(r[4] for r in rows if r[4]) or (),
                    on_update=_action(rows[0][5]),
                    on_delete=_action(rows[0][6]),
                )
            )
        est = (
            conn.execute(f"SELECT max(rowid) FROM {q}").fetchone()
            if not _without_rowid(conn, name)
            else None
        )
        table.row_estimate = int(est[0] or 0) if est else 0
        return table

    def render_type(self, ctype: ColumnType, where: str) -> TypeChoice:
        k = ctype.kind
        if k in ("int8", "int16", "int32", "int64", "year"):
            if k == "int64" and ctype.unsigned:
                return TypeChoice("TEXT", f"{where}: BIGINT UNSIGNED stored as TEXT in SQLite")
            return TypeChoice("INTEGER")
        if k == "boolean":
            return TypeChoice("BOOLEAN")
        if k in ("float32", "float64"):
            return TypeChoice("REAL")
        if k == "decimal":
            if ctype.precision is not None and ctype.precision <= self.max_decimal_precision:
                return TypeChoice(f"NUMERIC({ctype.precision},{ctype.scale or 0})")
            return TypeChoice("TEXT", f"{where}: exact decimal stored as TEXT in SQLite")
        if k in ("char", "varchar") and ctype.length:
            name = "CHAR" if k == "char" else "VARCHAR"
            return TypeChoice(f"{name}({ctype.length})")
        if k in ("binary", "varbinary", "blob", "bit"):
            return TypeChoice("BLOB")
        mapping = {
            "date": "DATE",
            "time": "TIME",
            "timestamp": "DATETIME",
            "timestamptz": "DATETIME",
            "json": "JSON",
            "uuid": "TEXT",
        }
        if k in mapping:
            warn = (
                f"{where}: timestamptz stored as UTC text in SQLite" if k == "timestamptz" else None
            )
            return TypeChoice(mapping[k], warn)
        return TypeChoice("TEXT")

    def column_ddl(self, col: Column, sql_type: str, in_pk: bool, single_pk: bool) -> str:
        if in_pk and single_pk and col.autoincrement and sql_type == "INTEGER":
            return f"{self.quote(col.name)} INTEGER PRIMARY KEY"
        return super().column_ddl(col, sql_type, in_pk, single_pk)

    def _pk_inline(self, table: Table, types: dict[str, str]) -> bool:
        if len(table.primary_key) != 1:
            return False
        col = table.column(table.primary_key[0])
        return col.autoincrement and types[col.name] == "INTEGER"

    def truncate_sql(self, name: str) -> str:
        return f"DELETE FROM {self.qualified(name)}"

    # ------------------------------------------------------------------ data
    def decoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        return [_DECODERS.get(c.type.kind) for c in table.columns]

    def encoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        return [_encode_value for _ in table.columns]

    def begin_load(self, conn: Any) -> None:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA foreign_keys=OFF")

    def end_load(self, conn: Any) -> None:
        conn.execute("PRAGMA synchronous=FULL")

    def write_rows(self, conn: Any, table: Table, rows: Sequence[Row]) -> int:
        marks = ", ".join("?" * len(table.columns))
        sql = (
            f"INSERT INTO {self.qualified(table.name)} ({self.column_list(table.column_names)}) "
            f"VALUES ({marks})"
        )
        try:
            conn.executemany(sql, rows)
            conn.commit()
        except sqlite3.Error as exc:
            conn.rollback()
            raise TransferError(f"SQLite insert failed: {exc}", table.name) from exc
        return len(rows)

    def foreign_key_sql(self, table: Table, fk: ForeignKey) -> str:
        # SQLite cannot add a foreign key to an existing table; create_table_sql inlines them.
        return ""


def _without_rowid(conn: Any, name: str) -> bool:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name=?", (name,)).fetchone()
    return bool(row and row[0] and "WITHOUT ROWID" in row[0].upper())


def _action(value: str | None) -> str | None:
    return None if value in (None, "NO ACTION") else value


def _text_factory(b: bytes) -> str:
    """Decode TEXT as UTF-8, keeping invalid bytes visible instead of failing the read."""
    return b.decode("utf-8", "surrogateescape")
