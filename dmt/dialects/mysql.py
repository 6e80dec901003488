"""MySQL and MariaDB through PyMySQL: information_schema reflection, unbuffered reads, and
LOAD DATA LOCAL INFILE writes that fail on the first warning.

Measured on MariaDB 10.11 with PyMySQL 1.2:

- ``LOAD DATA LOCAL`` turns strict-mode errors into *warnings* and keeps going (a too-long value
  is truncated, an invalid UTF-8 byte becomes ``?``, a duplicate key skips the row). So every
  load checks the affected row count and ``SHOW WARNINGS`` and rolls the batch back on either.
- Zero and partly-zero dates (``0000-00-00``, ``2020-00-00``, ``... 00:00:00.000000``) arrive
  from PyMySQL as ``str``; TIME arrives as ``timedelta`` and may be negative or above 24 hours.
- MariaDB's JSON is ``longtext`` with a column-level ``CHECK (json_valid(`col`))``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from dmt.config import Endpoint
from dmt.dialects.base import Converter, Dialect, Fetch, Row, TypeChoice, ValueCounters
from dmt.errors import ConnectError, TransferError
from dmt.schema.model import Check, Column, ColumnType, ForeignKey, Index, Schema, Table

log = logging.getLogger("dmt")

#: strict (a truncated value is an error), 0 stays 0 in AUTO_INCREMENT columns, and no
#: ANSI_QUOTES / NO_BACKSLASH_ESCAPES: the escaping below assumes MySQL's default string syntax
_SQL_MODE = (
    "STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)
#: a streaming reader may wait on a full read-ahead queue; the server must not give up on it
_NET_TIMEOUT = 3600
_INFILE_REFUSED = {1148, 3948, 2068, 4166}  # LOCAL INFILE disabled on the server or client
_TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
_KEY_CHARS = 255  # a text primary key or index column becomes varchar(255) / a 255 prefix
_LONG_TYPES = ("longtext", "longblob", "json", "text", "blob", "mediumtext", "mediumblob")

_INTS = {
    "tinyint": "int8",
    "smallint": "int16",
    "mediumint": "int32",
    "int": "int32",
    "integer": "int32",
    "bigint": "int64",
}
_INT_SQL = {"int8": "tinyint", "int16": "smallint", "int32": "int", "int64": "bigint"}
_AUTO_INC_TYPES = ("tinyint", "smallint", "mediumint", "int", "integer", "bigint")
_TEXTS = ("tinytext", "text", "mediumtext", "longtext")
_BLOBS = ("tinyblob", "blob", "mediumblob", "longblob")
_SPATIAL = (
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
)
_QUOTED = re.compile(r"'((?:[^'\\]|''|\\.)*)'")


def _members(column_type: str) -> tuple[str, ...]:
    """The values of ``enum('a','b''c')`` as information_schema spells them."""
    inner = column_type[column_type.index("(") + 1 : column_type.rindex(")")]
    return tuple(
        re.sub(r"\\(.)", r"\1", m.group(1).replace("''", "'")) for m in _QUOTED.finditer(inner)
    )


def canonical_type(
    data_type: str,
    column_type: str,
    precision: int | None = None,
    scale: int | None = None,
    fsp: int | None = None,
    length: int | None = None,
) -> ColumnType:
    """Map one information_schema.COLUMNS row's type to the canonical set."""
    dtype, ctype = data_type.lower(), column_type.lower()
    src = column_type
    if dtype in _INTS:
        if ctype == "tinyint(1)":
            return ColumnType("boolean", source=src)
        return ColumnType(_INTS[dtype], unsigned="unsigned" in ctype, source=src)
    if dtype in ("decimal", "numeric"):
        return ColumnType("decimal", precision=precision, scale=scale or 0, source=src)
    if dtype == "float":
        return ColumnType("float32", source=src)
    if dtype in ("double", "real"):
        return ColumnType("float64", source=src)
    if dtype in ("char", "varchar"):
        return ColumnType(dtype, length=length, source=src)
    if dtype in _TEXTS:
        return ColumnType("text", source=src)
    if dtype in ("binary", "varbinary"):
        return ColumnType(dtype, length=length, source=src)
    if dtype in _BLOBS or dtype in _SPATIAL:
        return ColumnType("blob", source=src)
    if dtype == "date":
        return ColumnType("date", source=src)
    if dtype in ("time", "datetime", "timestamp"):
        kind = {"time": "time", "datetime": "timestamp", "timestamp": "timestamptz"}[dtype]
        return ColumnType(kind, fsp=fsp or 0, source=src)
    if dtype == "year":
        return ColumnType("year", source=src)
    if dtype == "json":
        return ColumnType("json", source=src)
    if dtype in ("enum", "set"):
        return ColumnType(dtype, values=_members(column_type), source=src)
    if dtype == "bit":
        return ColumnType("bit", length=precision or 1, source=src)
    if dtype == "uuid":  # MariaDB 10.7+
        return ColumnType("uuid", source=src)
    return ColumnType("text", source=src)


# ---------------------------------------------------------------------------------- values


def _format_timedelta(v: dt.timedelta) -> str:
    """``[-]H:MM:SS[.ffffff]``, the TIME literal MySQL reads (hours may exceed 24)."""
    us = abs(v.days * 86_400_000_000 + v.seconds * 1_000_000 + v.microseconds)
    sign = "-" if v < dt.timedelta(0) else ""
    secs, frac = divmod(us, 1_000_000)
    h, rest = divmod(secs, 3600)
    text = f"{sign}{h}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{text}.{frac:06d}" if frac else text


def _escape(raw: bytes) -> bytes:
    """Escape one field for ``FIELDS ESCAPED BY '\\\\'``: the escape character itself, the field
    and line terminators, CR (some servers strip it) and NUL."""
    return (
        raw.replace(b"\\", b"\\\\")
        .replace(b"\t", b"\\t")
        .replace(b"\n", b"\\n")
        .replace(b"\r", b"\\r")
        .replace(b"\x00", b"\\0")
    )


def _f_str(v: str) -> bytes:
    return _escape(v.encode("utf-8", "surrogateescape"))


def _f_ascii(v: Any) -> bytes:
    return str(v).encode("ascii")


def _f_datetime(v: dt.datetime) -> bytes:
    if v.tzinfo is not None:
        v = v.astimezone(dt.UTC).replace(tzinfo=None)
    return v.isoformat(" ").encode("ascii")


_FORMAT: dict[type, Callable[[Any], bytes]] = {
    str: _f_str,
    bytes: _escape,
    bytearray: lambda v: _escape(bytes(v)),
    memoryview: lambda v: _escape(bytes(v)),
    bool: lambda v: b"1" if v else b"0",
    int: _f_ascii,
    float: lambda v: repr(v).encode("ascii"),
    Decimal: lambda v: format(v, "f").encode("ascii"),
    dt.datetime: _f_datetime,
    dt.date: lambda v: v.isoformat().encode("ascii"),
    dt.time: lambda v: v.isoformat().encode("ascii"),
    dt.timedelta: lambda v: _format_timedelta(v).encode("ascii"),
}


def _field(v: Any) -> bytes:
    """One value as a LOAD DATA field (``\\N`` is NULL, the empty string stays empty)."""
    if v is None:
        return b"\\N"
    f = _FORMAT.get(type(v))
    if f is not None:
        return f(v)
    for kind, f in _FORMAT.items():  # subclasses (e.g. an enum.IntEnum) in declaration order
        if isinstance(v, kind):
            return f(v)
    if isinstance(v, dict | list | tuple):
        return _f_str(json.dumps(v, ensure_ascii=False, default=str))
    if isinstance(v, set | frozenset):
        return _f_str(",".join(sorted(str(x) for x in v)))
    return _f_str(str(v))


def _to_bool(v: Any) -> Any:
    # tinyint(1) may hold any tinyint; only 0 and 1 become booleans, other values stay visible
    return bool(v) if v in (0, 1) else v


def _to_time(v: Any) -> Any:
    """TIME arrives as a timedelta (-838:59:59 .. 838:59:59). Within one day it becomes a
    ``datetime.time``, the canonical value every target takes; outside it stays a timedelta."""
    if isinstance(v, dt.timedelta) and dt.timedelta(0) <= v < dt.timedelta(days=1):
        secs = v.seconds
        return dt.time(secs // 3600, secs // 60 % 60, secs % 60, v.microseconds)
    return v


def _to_text(v: Any) -> Any:
    return v.decode("utf-8") if isinstance(v, bytes | bytearray) else v


def _to_utc_naive(v: Any) -> Any:
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.UTC).replace(tzinfo=None)
    return v


def _to_json_text(v: Any) -> Any:
    if isinstance(v, str | bytes):
        return v
    return json.dumps(v, ensure_ascii=False, default=str)


_PASS = (str, bytes, bool, int, float, Decimal, dt.datetime, dt.date, dt.time)


def _insert_value(v: Any) -> Any:
    """A canonical value PyMySQL's ``escape()`` renders exactly (its own timedelta rendering
    is wrong for negative values; UUIDs, JSON documents and sets it cannot render at all)."""
    if v is None or type(v) in _PASS:
        return v
    if isinstance(v, dt.timedelta):
        return _format_timedelta(v)
    if isinstance(v, bytearray | memoryview):
        return bytes(v)
    if isinstance(v, dict | list | tuple):
        return json.dumps(v, ensure_ascii=False, default=str)
    if isinstance(v, set | frozenset):
        return ",".join(sorted(str(x) for x in v))
    return v if isinstance(v, _PASS) else str(v)


def _fraction_guard(table: str, column: str, fsp: int, kind: str) -> Converter:
    step = 10 ** (6 - fsp)
    first = _to_utc_time if kind == "time" else _to_utc_naive

    def check(v: Any) -> Any:
        v = first(v)
        if getattr(v, "microseconds", getattr(v, "microsecond", 0)) % step:
            raise TransferError(
                f"`{v}` in column `{column}` has more fractional digits than its {fsp}", table
            )
        return v

    return check


def _statement(head: str, values: list[str]) -> bytes:
    # bytes go to the server as they are: text that is not valid UTF-8 (SQLite can hold it)
    # reaches the strict server and fails there, naming the column
    return (head + ",".join(values)).encode("utf-8", "surrogateescape")


def _to_utc_time(v: Any) -> Any:
    """A time with a zone (PostgreSQL timetz) as the UTC wall time, like a timestamptz."""
    if isinstance(v, dt.time) and v.tzinfo is not None:
        offset = v.utcoffset() or dt.timedelta(0)
        moment = dt.datetime.combine(dt.date(2000, 1, 2), v.replace(tzinfo=None)) - offset
        return moment.time()
    return v


def _first_line(exc: BaseException) -> str:
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    if len(args) == 2 and isinstance(args[0], int):
        text = f"MySQL error {args[0]}: {args[1]}"
    else:
        text = str(exc).strip() or type(exc).__name__
    return text.strip().splitlines()[0]


_BACKTICKED = re.compile(r"(`(?:[^`]|``)*`)")


def _bind(conn: Any, sql: str, params: Sequence[Any]) -> str:
    """Substitute ``%s`` outside quoted identifiers, so a ``%`` in a name never confuses
    PyMySQL's own ``%`` formatting."""
    values = iter(params)
    parts = _BACKTICKED.split(sql)
    for i in range(0, len(parts), 2):
        pieces = parts[i].split("%s")
        parts[i] = pieces[0] + "".join(conn.escape(next(values)) + p for p in pieces[1:])
    return "".join(parts)


# ---------------------------------------------------------------------------------- reflection

_TABLES_SQL = (
    "SELECT TABLE_NAME, TABLE_TYPE, TABLE_ROWS, TABLE_COMMENT FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA = %s"
)
_COLUMNS_SQL = (
    "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, "
    "DATETIME_PRECISION, CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, "
    "COLUMN_COMMENT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
    "ORDER BY TABLE_NAME, ORDINAL_POSITION"
)
_STATS_SQL = (
    "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, INDEX_TYPE "
    "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s "
    "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
)
_FKS_SQL = (
    "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, "
    "k.REFERENCED_COLUMN_NAME, r.DELETE_RULE, r.UPDATE_RULE "
    "FROM information_schema.KEY_COLUMN_USAGE k "
    "JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
    "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME "
    "AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
    "WHERE k.TABLE_SCHEMA = %s AND k.REFERENCED_TABLE_NAME IS NOT NULL "
    "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
)
# MariaDB scopes check names per table and says so in CHECK_CONSTRAINTS.TABLE_NAME; MySQL 8
# has no such column, so the second spelling joins TABLE_CONSTRAINTS instead.
_CHECKS_SQL = (
    "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
    "WHERE CONSTRAINT_SCHEMA = %s ORDER BY TABLE_NAME, CONSTRAINT_NAME",
    "SELECT t.TABLE_NAME, c.CONSTRAINT_NAME, c.CHECK_CLAUSE "
    "FROM information_schema.TABLE_CONSTRAINTS t JOIN information_schema.CHECK_CONSTRAINTS c "
    "ON c.CONSTRAINT_SCHEMA = t.CONSTRAINT_SCHEMA AND c.CONSTRAINT_NAME = t.CONSTRAINT_NAME "
    "WHERE t.TABLE_SCHEMA = %s AND t.CONSTRAINT_TYPE = 'CHECK' ORDER BY 1, 2",
)
_TABLE_TYPES = ("BASE TABLE", "SYSTEM VERSIONED")  # not VIEW, nor MariaDB's SEQUENCE
_GENERATED = re.compile(r"\b(VIRTUAL|STORED|PERSISTENT)\b", re.IGNORECASE)


def _action(rule: str | None) -> str | None:
    # InnoDB checks NO ACTION immediately, exactly like RESTRICT, and MariaDB reports an
    # unspecified rule as RESTRICT: both are the default, which every target has too
    return None if rule in (None, "NO ACTION", "RESTRICT") else rule


def _default(value: str | None) -> str | None:
    return None if value is None or value.upper() == "NULL" else value


def _schema_unique_index_names(tables: dict[str, Table]) -> None:
    """MySQL scopes index names per table (an index InnoDB adds for a foreign key is simply
    named after its column); PostgreSQL and SQLite scope them per schema, next to the tables.
    A name used twice, or equal to a table's name, is prefixed with its table's name."""
    seen: dict[str, int] = {}
    for t in tables.values():
        for idx in [*t.uniques, *t.indexes]:
            seen[idx.name.lower()] = seen.get(idx.name.lower(), 0) + 1
    taken = {n.lower() for n in tables}
    for t in tables.values():
        for group in (t.uniques, t.indexes):
            for i, idx in enumerate(group):
                if seen[idx.name.lower()] > 1 or idx.name.lower() in taken:
                    group[i] = replace(idx, name=f"{t.name}_{idx.name}")


class MySQLDialect(Dialect):
    """MySQL 5.7+ and MariaDB 10.3+ through PyMySQL. The database is the namespace."""

    name = "mysql"
    placeholder = "%s"
    max_identifier_length = 64
    identifier_length_in_bytes = False
    transactional_ddl = False
    supports_schemas = False
    max_bind_params = 65535
    supports_bulk_load = True
    max_decimal_precision = 65

    def __init__(self, endpoint: Endpoint, side: str, zero_dates: str = "null") -> None:
        super().__init__(endpoint, side)
        #: ``null``: a zero date is read as NULL and counted; ``error``: it fails the table
        self.zero_dates = zero_dates
        self.mariadb = True  # corrected by connect(); only changes the DROP/TRUNCATE spelling
        self._created_types: dict[str, dict[str, str]] = {}

    # ------------------------------------------------------------------ connections
    def connect(self) -> Any:
        import pymysql

        ep = self.endpoint
        try:
            conn = pymysql.connect(
                host=ep.host or "127.0.0.1",
                port=ep.port or 3306,
                user=ep.user or "root",
                password=ep.password or "",
                database=ep.database,
                charset="utf8mb4",
                # Only writers need LOCAL INFILE. PyMySQL sends whichever local file the
                # server asks for, so a source connection never offers it.
                local_infile=self.side == "target",
                autocommit=False,
                connect_timeout=10,
            )
        except pymysql.Error as exc:
            raise ConnectError(self.side, f"MySQL {ep.describe()}: {_first_line(exc)}") from None
        try:
            with conn.cursor() as cur:
                cur.execute(
                    f"SET SESSION sql_mode = '{_SQL_MODE}', time_zone = '+00:00', "
                    f"net_write_timeout = {_NET_TIMEOUT}, net_read_timeout = {_NET_TIMEOUT}"
                )
                cur.execute("SELECT VERSION()")
                (version,) = cur.fetchone()
            conn.commit()
        except pymysql.Error as exc:
            conn.close()
            raise ConnectError(self.side, f"MySQL {ep.describe()}: {_first_line(exc)}") from None
        self.mariadb = "mariadb" in str(version).lower()
        return conn

    def server_version(self, conn: Any) -> str:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            (v,) = cur.fetchone()
        conn.commit()
        v = str(v)
        return f"MariaDB {v.split('-')[0]}" if "mariadb" in v.lower() else f"MySQL {v}"

    def quote(self, ident: str) -> str:
        return "`" + ident.replace("`", "``") + "`"

    # ------------------------------------------------------------------ schema
    def existing_tables(self, conn: Any) -> set[str]:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT TABLE_NAME FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN %s",
                (_TABLE_TYPES,),
            )
            out = {r[0] for r in cur.fetchall()}
        conn.commit()
        return out

    def reflect(self, conn: Any, select: Callable[[str], bool]) -> Schema:
        import pymysql

        try:
            return self._reflect(conn, select)
        except pymysql.Error as exc:
            conn.rollback()
            raise TransferError(f"reading the schema failed: {_first_line(exc)}") from exc

    def _reflect(self, conn: Any, select: Callable[[str], bool]) -> Schema:
        db = self.endpoint.database
        schema = Schema(tables=[])
        tables: dict[str, Table] = {}
        with conn.cursor() as cur:
            cur.execute(_TABLES_SQL, (db,))
            for name, ttype, rows, comment in sorted(cur.fetchall()):
                if ttype == "VIEW":
                    schema.views.append(name)
                elif ttype in _TABLE_TYPES and select(name):
                    t = Table(name=name, columns=[], comment=comment or None)
                    t.row_estimate = int(rows or 0)
                    tables[name] = t
            checks = self._checks(cur, db)
            cur.execute(_COLUMNS_SQL, (db,))
            for row in cur.fetchall():
                if row[0] in tables:
                    self._add_column(tables[row[0]], row, checks.get(row[0], {}))
            for tname, found in checks.items():
                if tname in tables:
                    tables[tname].checks.extend(Check(n, text) for n, text in found.items())
            cur.execute(_STATS_SQL, (db,))
            self._add_indexes(tables, cur.fetchall())
            _schema_unique_index_names(tables)
            cur.execute(_FKS_SQL, (db,))
            self._add_foreign_keys(tables, cur.fetchall())
            cur.execute(
                "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS "
                "WHERE TRIGGER_SCHEMA = %s",
                (db,),
            )
            schema.triggers = sorted(f"{t}.{n}" for t, n in cur.fetchall())
            cur.execute(
                "SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s",
                (db,),
            )
            schema.routines = sorted({r[0] for r in cur.fetchall()})
        conn.commit()
        schema.tables = [tables[n] for n in sorted(tables)]
        return schema

    def _checks(self, cur: Any, db: str | None) -> dict[str, dict[str, str]]:
        import pymysql

        for sql in _CHECKS_SQL:
            try:
                cur.execute(sql, (db,))
            except (pymysql.err.OperationalError, pymysql.err.ProgrammingError):
                # no such column (MySQL) or no such table (MySQL 5.7, MariaDB 10.1)
                continue
            out: dict[str, dict[str, str]] = {}
            for tname, name, clause in cur.fetchall():
                out.setdefault(tname, {})[name] = clause
            return out
        return {}

    def _add_column(self, table: Table, row: Row, checks: dict[str, str]) -> None:
        (_, cname, dtype, ctype, prec, scale, fsp, length, nullable, default, extra, comment) = row
        if _GENERATED.search(extra or ""):
            return  # generated columns are recomputed by the target, not copied
        kind = canonical_type(dtype, ctype, prec, scale, fsp, length)
        # MariaDB spells JSON as longtext plus a column CHECK named after the column
        json_check = f"json_valid({self.quote(cname)})"
        if kind.kind == "text" and checks.get(cname, "").lower() == json_check.lower():
            del checks[cname]
            kind = ColumnType("json", source="json")
        table.columns.append(
            Column(
                name=cname,
                type=kind,
                nullable=nullable == "YES",
                default=_default(default),
                autoincrement="auto_increment" in (extra or "").lower(),
                comment=comment or None,
            )
        )

    def _add_indexes(self, tables: dict[str, Table], rows: Sequence[Row]) -> None:
        grouped: dict[tuple[str, str], list[Row]] = {}
        for row in rows:
            if row[0] in tables:
                grouped.setdefault((row[0], row[1]), []).append(row)
        for (tname, iname), parts in grouped.items():
            table = tables[tname]
            cols = tuple(p[3] for p in parts)
            if iname == "PRIMARY":
                table.primary_key = cols
                continue
            if any(c is None for c in cols) or parts[0][5] in ("FULLTEXT", "SPATIAL"):
                log.warning(
                    "%s: index `%s` (%s) is not portable and is not copied",
                    tname, iname, parts[0][5],
                )  # fmt: skip
                continue
            lengths = tuple(p[4] for p in parts)
            unique = not int(parts[0][2])
            idx = Index(iname, cols, unique, lengths if any(lengths) else ())
            (table.uniques if unique else table.indexes).append(idx)

    def _add_foreign_keys(self, tables: dict[str, Table], rows: Sequence[Row]) -> None:
        grouped: dict[tuple[str, str], list[Row]] = {}
        for row in rows:
            if row[0] in tables:
                grouped.setdefault((row[0], row[1]), []).append(row)
        for (tname, fname), parts in grouped.items():
            tables[tname].foreign_keys.append(
                ForeignKey(
                    name=fname,
                    columns=tuple(p[2] for p in parts),
                    ref_table=parts[0][3],
                    ref_columns=tuple(p[4] for p in parts),
                    on_delete=_action(parts[0][5]),
                    on_update=_action(parts[0][6]),
                )
            )

    # ------------------------------------------------------------------ types and DDL
    def render_type(self, ctype: ColumnType, where: str) -> TypeChoice:
        k = ctype.kind
        if k == "boolean":
            return TypeChoice("tinyint(1)")
        if k in _INT_SQL:
            base = _INT_SQL[k]
            if k == "int32" and ctype.source.lower().startswith("mediumint"):
                base = "mediumint"
            return TypeChoice(base + (" unsigned" if ctype.unsigned else ""))
        if k == "decimal":
            return self._render_decimal(ctype, where)
        if k == "float32":
            return TypeChoice("float")
        if k == "float64":
            return TypeChoice("double")
        if k in ("char", "binary"):
            n = ctype.length or 1
            var = "varchar" if k == "char" else "varbinary"
            return TypeChoice(f"{k}({n})" if n <= 255 else f"{var}({n})")
        if k == "varchar":
            # 16383 utf8mb4 characters fill the 65535-byte row limit
            m = ctype.length
            return TypeChoice(f"varchar({m})" if m and m <= 16383 else "longtext")
        if k == "text":
            return TypeChoice("longtext")
        if k == "varbinary":
            m = ctype.length
            return TypeChoice(f"varbinary({m})" if m and m <= 65532 else "longblob")
        if k == "blob":
            return TypeChoice("longblob")
        if k in ("time", "timestamp", "timestamptz"):
            fsp = 6 if ctype.fsp is None else min(6, ctype.fsp)
            name = "time" if k == "time" else "datetime"
            sql = f"{name}({fsp})" if fsp else name
            if k == "time" and "time zone" in ctype.source.lower():
                return TypeChoice(sql, f"{where}: time with time zone stored as UTC in a {sql}")
            if k == "timestamptz":
                return TypeChoice(sql, f"{where}: timestamptz stored as UTC in a {sql}")
            return TypeChoice(sql)
        if k in ("enum", "set"):
            values = ",".join(self._literal(v) for v in ctype.values)
            if not values:
                return TypeChoice("longtext", f"{where}: {k} without members carried as text")
            return TypeChoice(f"{k}({values})")
        if k == "bit":
            return TypeChoice(f"bit({min(64, max(1, ctype.length or 1))})")
        if k == "interval":
            return TypeChoice("varchar(64)", f"{where}: interval carried as text")
        if k == "array":
            return TypeChoice("json", f"{where}: array carried as json")
        simple = {"date": "date", "year": "year", "json": "json", "uuid": "char(36)"}
        if k in simple:
            return TypeChoice(simple[k])
        return TypeChoice("longtext", f"{where}: unknown type `{ctype.source}` carried as text")

    def _render_decimal(self, ctype: ColumnType, where: str) -> TypeChoice:
        p, s = ctype.precision, ctype.scale or 0
        if p is None:
            return TypeChoice(
                "decimal(65,30)",
                f"{where}: unconstrained numeric stored as decimal(65,30); "
                "values beyond 35 integer or 30 fractional digits fail the load",
            )
        if p > 65 or s > 30:
            p2, s2 = min(p, 65), min(s, 30)
            return TypeChoice(
                f"decimal({p2},{s2})",
                f"{where}: numeric({p},{s}) is wider than MySQL allows; stored as "
                f"decimal({p2},{s2}), wider values fail the load",
            )
        return TypeChoice(f"decimal({p},{s})")

    @staticmethod
    def _literal(value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"

    def create_table_sql(self, table: Table, types: dict[str, str]) -> list[str]:
        """CREATE TABLE with the primary key. The binary collation keeps keys that differ only
        in case or accents (``a``/``A``, ``e``/``é``) distinct, as they are on the source."""
        types = dict(types)
        for name in table.primary_key:
            sql = types[name].lower()
            if sql in _LONG_TYPES:
                short = "varbinary" if "blob" in sql else "varchar"
                types[name] = f"{short}({_KEY_CHARS})"
                # render_type cannot know a column is a key and this method has no channel
                # for plan warnings, so the narrowing is logged here
                log.warning(
                    "%s.%s: %s primary key column stored as %s; longer values fail the load",
                    table.name, name, sql, types[name],
                )  # fmt: skip
        self._created_types[table.name] = types
        first_pk = table.primary_key[0] if table.primary_key else None
        cols = []
        for c in table.columns:
            ddl = self.column_ddl(c, types[c.name], c.name in table.primary_key, False)
            base = types[c.name].lower().split("(")[0].split(" ")[0]
            if c.autoincrement and c.name == first_pk and base in _AUTO_INC_TYPES:
                ddl += " AUTO_INCREMENT"
            cols.append(ddl)
        if table.primary_key:
            cols.append(f"PRIMARY KEY ({self.column_list(table.primary_key)})")
        body = ",\n  ".join(cols)
        return [f"CREATE TABLE {self.qualified(table.name)} (\n  {body}\n) {_TABLE_OPTIONS}"]

    def _without_fk_checks(self, sql: str) -> str:
        # a table referenced by a foreign key can be neither dropped nor truncated; MariaDB can
        # lift the check for one statement. MySQL cannot: there a re-run over tables with
        # foreign keys needs the drops in dependency order, which the base protocol lacks
        return f"SET STATEMENT foreign_key_checks=0 FOR {sql}" if self.mariadb else sql

    def drop_table_sql(self, name: str) -> str:
        return self._without_fk_checks(f"DROP TABLE IF EXISTS {self.qualified(name)}")

    def truncate_sql(self, name: str) -> str:
        return self._without_fk_checks(f"TRUNCATE TABLE {self.qualified(name)}")

    # ------------------------------------------------------------------ reading
    @contextlib.contextmanager
    def stream(self, conn: Any, sql: str, params: Sequence[Any]) -> Iterator[Fetch]:
        """An unbuffered (SSCursor) read. Closing it reads any rows left on the wire, so the
        connection is usable for the next chunk even when the consumer stopped early."""
        from pymysql.cursors import SSCursor

        cur = conn.cursor(SSCursor)
        try:
            cur.execute(_bind(conn, sql, params) if params else sql)
            yield cur.fetchmany
        finally:
            try:
                cur.close()
                conn.commit()
            except Exception as exc:  # the connection broke; the caller sees the first error
                log.debug("closing a MySQL stream failed: %s", exc)

    def decoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        out: list[Converter | None] = []
        for c in table.columns:
            k = c.type.kind
            if k in ("date", "timestamp", "timestamptz"):
                out.append(self._date_decoder(table.name, c.name, k, counters))
            elif k == "boolean":
                out.append(_to_bool)
            elif k == "time":
                out.append(_to_time)
            elif k == "json":  # MySQL 8 sends its binary JSON as text; be sure it is str
                out.append(_to_text)
            else:  # PyMySQL already returns str, bytes, int, Decimal, float, date, datetime
                out.append(None)
        return out

    def _date_decoder(
        self, table: str, column: str, kind: str, counters: ValueCounters
    ) -> Converter:
        strict = self.zero_dates == "error"
        tz = kind == "timestamptz"

        def decode(v: Any) -> Any:
            if isinstance(v, str):  # PyMySQL hands back what it cannot parse: a zero date
                if strict:
                    raise TransferError(
                        f"zero date `{v}` in column `{column}`; set migration.zero_dates: null "
                        "to copy zero dates as NULL",
                        table,
                    )
                counters.add("zero_date->null")
                return None
            return v.replace(tzinfo=dt.UTC) if tz and isinstance(v, dt.datetime) else v

        return decode

    # ------------------------------------------------------------------ writing
    def encoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        out: list[Converter | None] = []
        for c in table.columns:
            k = c.type.kind
            fsp = 6 if c.type.fsp is None else min(6, c.type.fsp)
            if k in ("timestamp", "timestamptz", "time") and fsp < 6:
                # the server drops extra fractional digits without even a Note
                out.append(_fraction_guard(table.name, c.name, fsp, k))
            elif k in ("timestamp", "timestamptz"):
                out.append(_to_utc_naive)
            elif k in ("json", "array"):
                out.append(_to_json_text)
            elif k == "time":
                out.append(_to_utc_time)
            else:
                out.append(None)  # _field() formats every other canonical value exactly
        return out

    def begin_load(self, conn: Any) -> None:
        self._load_settings(conn)

    def _load_settings(self, conn: Any) -> tuple[bool, int]:
        """(LOCAL INFILE usable, max_allowed_packet), asked once per connection."""
        cached = getattr(conn, "_dmt_load", None)
        if cached is None:
            with conn.cursor() as cur:
                cur.execute("SELECT @@local_infile, @@max_allowed_packet")
                infile, packet = cur.fetchone()
            conn.commit()
            if not infile:
                log.debug("MySQL local_infile is OFF on the target: using multi-row INSERT")
            cached = (bool(infile) and self.side == "target", int(packet))
            conn._dmt_load = cached
        return cached

    def write_rows(self, conn: Any, table: Table, rows: Sequence[Row]) -> int:
        import pymysql

        if not rows:
            return 0
        infile, packet = self._load_settings(conn)
        try:
            if infile:
                try:
                    n = self._load_data(conn, table, rows)
                except pymysql.Error as exc:
                    if exc.args and exc.args[0] in _INFILE_REFUSED:
                        conn.rollback()
                        log.debug("LOAD DATA LOCAL refused (%s): using INSERT", _first_line(exc))
                        conn._dmt_load = (False, packet)
                        n = self._insert(conn, table, rows, packet)
                    else:
                        raise
            else:
                n = self._insert(conn, table, rows, packet)
            conn.commit()
        except pymysql.Error as exc:
            with contextlib.suppress(pymysql.Error):
                conn.rollback()
            raise TransferError(f"load failed: {_first_line(exc)}", table.name) from exc
        except TransferError:
            with contextlib.suppress(pymysql.Error):
                conn.rollback()
            raise
        return n

    def _load_data(self, conn: Any, table: Table, rows: Sequence[Row]) -> int:
        fd, path = tempfile.mkstemp(prefix="dmt-load-", suffix=".tsv")
        try:
            with os.fdopen(fd, "wb") as f:
                for row in rows:
                    f.write(b"\t".join([_field(v) for v in row]) + b"\n")
            # CHARACTER SET binary: the server takes the bytes as they are, so blobs survive and
            # text is the UTF-8 we wrote (checked against each column's character set)
            sql = (
                f"LOAD DATA LOCAL INFILE {conn.escape(path)} INTO TABLE "
                f"{self.qualified(table.name)} CHARACTER SET binary "
                "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
                f"({self.column_list(table.column_names)})"
            )
            with conn.cursor() as cur:
                n = cur.execute(sql)
                self._check_warnings(cur, table, n, len(rows))
            return len(rows)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _insert(self, conn: Any, table: Table, rows: Sequence[Row], packet: int) -> int:
        head = (
            f"INSERT INTO {self.qualified(table.name)} ({self.column_list(table.column_names)}) "
            "VALUES "
        )
        limit = max(64 * 1024, packet * 3 // 4)
        parts: list[str] = []
        size = len(head)
        done = 0
        with conn.cursor() as cur:
            for row in rows:
                lit = "(" + ",".join(conn.escape(_insert_value(v)) for v in row) + ")"
                if parts and size + len(lit) + 1 > limit:
                    n = cur.execute(_statement(head, parts))
                    self._check_warnings(cur, table, n, len(parts))
                    done += len(parts)
                    parts, size = [], len(head)
                parts.append(lit)
                size += len(lit) + 1
            if parts:
                n = cur.execute(_statement(head, parts))
                self._check_warnings(cur, table, n, len(parts))
                done += len(parts)
        return done

    def _check_warnings(self, cur: Any, table: Table, affected: int, expected: int) -> None:
        """A converted, truncated or skipped value is an error, never a silent change."""
        warnings: list[Row] = []
        if cur.warning_count:
            # Notes too: a decimal rounded to the column's scale is only a Note 1265
            cur.execute("SHOW WARNINGS")
            warnings = list(cur.fetchall())
        if warnings:
            level, code, msg = warnings[0]
            more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
            raise TransferError(f"MySQL {level.lower()} {code}: {msg}{more}", table.name)
        if affected != expected:
            raise TransferError(f"{affected} of {expected} rows were loaded", table.name)

    # ------------------------------------------------------------------ after the load
    def index_sql(self, table: Table, index: Index) -> str:
        types = self._created_types.get(table.name, {})
        cols = []
        for i, name in enumerate(index.columns):
            length = index.lengths[i] if i < len(index.lengths) else None
            if length is None:
                sql = types.get(name) or self._rendered(table, name)
                if sql.lower() in _LONG_TYPES:
                    length = _KEY_CHARS  # MySQL cannot index a whole text or blob
                    log.warning(
                        "%s: index `%s` uses the first %d characters of `%s`",
                        table.name, index.name, length, name,
                    )  # fmt: skip
            cols.append(self.quote(name) + (f"({length})" if length else ""))
        unique = "UNIQUE " if index.unique else ""
        # a resumed run may meet the index already built; MySQL 8 has no such clause
        exists = "IF NOT EXISTS " if self.mariadb else ""
        return (
            f"CREATE {unique}INDEX {exists}{self.quote(index.name)} "
            f"ON {self.qualified(table.name)} ({', '.join(cols)})"
        )

    def _rendered(self, table: Table, name: str) -> str:
        try:
            return self.render_type(table.column(name).type, f"{table.name}.{name}").sql
        except KeyError:
            return ""

    def foreign_key_sql(self, table: Table, fk: ForeignKey) -> str:
        name = f"CONSTRAINT {self.quote(fk.name)} " if fk.name else ""
        sql = (
            f"ALTER TABLE {self.qualified(table.name)} ADD {name}FOREIGN KEY "
            f"({self.column_list(fk.columns)}) REFERENCES {self.qualified(fk.ref_table)} "
            f"({self.column_list(fk.ref_columns)})"
        )
        if fk.on_delete:
            sql += f" ON DELETE {fk.on_delete}"
        if fk.on_update:
            sql += f" ON UPDATE {fk.on_update}"
        return sql

    def reset_sequence_sql(self, conn: Any, table: Table) -> list[str]:
        if not table.primary_key:
            return []
        col = next((c for c in table.columns if c.name == table.primary_key[0]), None)
        if col is None or not col.autoincrement:
            return []
        with conn.cursor() as cur:
            cur.execute(
                f"SELECT COALESCE(MAX({self.quote(col.name)}), 0) FROM {self.qualified(table.name)}"
            )
            (top,) = cur.fetchone()
        conn.commit()
        if not isinstance(top, int):
            return []
        return [f"ALTER TABLE {self.qualified(table.name)} AUTO_INCREMENT = {top + 1}"]

    def translate_error(self, exc: BaseException) -> str:
        return _first_line(exc)
