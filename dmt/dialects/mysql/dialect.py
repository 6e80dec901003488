"""MySQL and MariaDB through PyMySQL: information_schema reflection, unbuffered reads, and
LOAD DATA LOCAL INFILE writes that fail on the first warning.

Measured on MariaDB 10.11 with PyMySQL 1.1:

- ``LOAD DATA LOCAL`` turns strict-mode errors into *warnings* and keeps going (a too-long value
  is truncated, an invalid UTF-8 byte becomes ``?``, a duplicate key skips the row). So every
  load checks the affected row count and ``SHOW WARNINGS`` and rolls the batch back on either.
- Zero and partly-zero dates (``0000-00-00``, ``2020-00-00``, ``... 00:00:00.000000``) arrive
  from PyMySQL as ``str``; TIME arrives as ``timedelta`` and may be negative or above 24 hours.
- MariaDB's JSON is ``longtext`` with a column-level ``CHECK (json_valid(`col`))``.
- Every statement is executed with a parameter tuple (PyMySQL then merges with ``%``), so
  every literal ``%`` in dmt-built SQL is doubled (see :meth:`Dialect.sql_text`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

from dmt.config import Endpoint
from dmt.dialects.base import (
    Converter,
    Fetch,
    Row,
    TypeChoice,
    ValueCounters,
    ValueOptions,
)
from dmt.dialects.mysql import reflection
from dmt.dialects.mysql.columnar import MySQLColumnar
from dmt.dialects.mysql.types import AUTO_INC_TYPES, KEY_CHARS, LONG_TYPES, literal, render_type
from dmt.dialects.mysql.values import (
    _field,
    _first_line,
    _fraction_guard,
    _insert_value,
    _statement,
    _to_bool,
    _to_json_text,
    _to_text,
    _to_time,
    _to_utc_naive,
    _to_utc_time,
    chain,
    infinity_guard,
    nonfinite_to_null,
)
from dmt.errors import ConnectError, TransferError
from dmt.schema.model import ColumnType, Index, Schema, Table

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


class MySQLDialect(MySQLColumnar):
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
    case_insensitive_names = True
    supports_prefix_indexes = True
    tsv_load = True

    def __init__(
        self,
        endpoint: Endpoint,
        side: str,
        options: ValueOptions | None = None,
        *,
        zero_dates: str | None = None,
    ) -> None:
        if zero_dates is not None:  # a shorthand for tests and callers without a config
            options = ValueOptions(zero_dates=zero_dates)
        super().__init__(endpoint, side, options)
        self.mariadb = True  # corrected by connect(); only changes the DROP/TRUNCATE spelling

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

    @property
    def zero_dates(self) -> str:
        """``null``: a zero date is read as NULL and counted; ``error``: it fails the table."""
        return self.options.zero_dates

    def quote(self, ident: str) -> str:
        return self.sql_text("`" + ident.replace("`", "``") + "`")

    def literal(self, value: str) -> str:
        return self.sql_text(literal(value))

    # ------------------------------------------------------------------ schema
    def existing_tables(self, conn: Any) -> set[str]:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT TABLE_NAME FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE IN %s",
                (reflection.TABLE_TYPES,),
            )
            out = {r[0] for r in cur.fetchall()}
        conn.commit()
        return out

    def reflect(self, conn: Any, select: Callable[[str], bool]) -> Schema:
        import pymysql

        try:
            with conn.cursor() as cur:
                schema = reflection.reflect(cur, self.endpoint.database, self.mariadb, select)
            conn.commit()
            return schema
        except pymysql.Error as exc:
            conn.rollback()
            raise TransferError(f"reading the schema failed: {_first_line(exc)}") from exc

    # ------------------------------------------------------------------ types and DDL
    def render_type(self, ctype: ColumnType, where: str) -> TypeChoice:
        return render_type(ctype, where)

    def bool_literal(self, value: bool) -> str:
        return "1" if value else "0"

    def now_default(self, which: str, ctype: ColumnType) -> str:
        if which == "CURRENT_TIMESTAMP" and ctype.kind in ("timestamp", "timestamptz"):
            fsp = 6 if ctype.fsp is None else min(6, ctype.fsp)
            return f"CURRENT_TIMESTAMP({fsp})" if fsp else which
        return f"({which})"  # MariaDB takes other expressions in parentheses

    def adapt_table(self, table: Table, types: dict[str, str]) -> list[str]:
        """A text or blob primary key column becomes varchar/varbinary(255); an index over one
        covers its first 255 characters (MySQL cannot index a whole text or blob)."""
        warnings = []
        for name in table.primary_key:
            sql = types[name].lower()
            if sql in LONG_TYPES:
                short = "varbinary" if "blob" in sql else "varchar"
                types[name] = f"{short}({KEY_CHARS})"
                warnings.append(
                    f"{table.name}.{name}: {sql} primary key column stored as {types[name]}; "
                    "longer values fail the load"
                )
        for group in (table.uniques, table.indexes):
            for i, idx in enumerate(group):
                lengths = list(idx.lengths) or [None] * len(idx.columns)
                changed = False
                for j, col in enumerate(idx.columns):
                    if lengths[j] is None and types.get(col, "").lower() in LONG_TYPES:
                        lengths[j] = KEY_CHARS
                        changed = True
                        warnings.append(
                            f"{table.name}: index `{idx.name}` covers the first {KEY_CHARS} "
                            f"characters of `{col}` (MySQL cannot index a whole {types[col]})"
                        )
                if changed:
                    group[i] = Index(idx.name, idx.columns, idx.unique, tuple(lengths))
        return warnings

    def create_table_sql(self, table: Table, types: dict[str, str]) -> list[str]:
        """CREATE TABLE with the primary key. The binary collation keeps keys that differ only
        in case or accents (``a``/``A``, ``e``/``é``) distinct, as they are on the source."""
        types = dict(types)
        for name in table.primary_key:  # adapt_table did this for planned tables
            sql = types[name].lower()
            if sql in LONG_TYPES:
                types[name] = f"{'varbinary' if 'blob' in sql else 'varchar'}({KEY_CHARS})"
        first_pk = table.primary_key[0] if table.primary_key else None
        cols = []
        for c in table.columns:
            ddl = self.column_ddl(c, types[c.name], c.name in table.primary_key, False)
            base = types[c.name].lower().split("(")[0].split(" ")[0]
            if c.autoincrement and c.name == first_pk and base in AUTO_INC_TYPES:
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
            self.execute(cur, sql, params)
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
            elif k == "year":  # YEAR(4): 0 is the zero year, a zero date in all but name
                out.append(None)
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
            conv: Converter | None = None
            if k in ("timestamp", "timestamptz", "time") and fsp < 6:
                # the server drops extra fractional digits without even a Note
                conv = _fraction_guard(table.name, c.name, fsp, k)
            elif k in ("timestamp", "timestamptz"):
                conv = _to_utc_naive
            elif k in ("json", "array"):
                conv = _to_json_text
            elif k == "time":
                conv = _to_utc_time
            elif k in ("float32", "float64", "decimal"):
                conv = nonfinite_to_null(counters)
            if k in ("date", "timestamp", "timestamptz"):
                conv = chain(infinity_guard(k, fsp, counters), conv)
            out.append(conv)  # _field() formats every other canonical value exactly
        return out

    def begin_load(self, conn: Any) -> None:
        self._load_settings(conn)

    def _load_settings(self, conn: Any) -> tuple[bool, int]:
        """(LOCAL INFILE usable, max_allowed_packet), asked once per connection."""
        cached = getattr(conn, "_dmt_load", None)
        if cached is None:
            with conn.cursor() as cur:
                self.execute(cur, "SELECT @@local_infile, @@max_allowed_packet")
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
        with self._committed(conn, table):
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
        return n

    def local_infile_usable(self, conn: Any) -> bool:
        """Whether LOAD DATA LOCAL INFILE works on this (target) connection."""
        return self._load_settings(conn)[0]

    def load_tsv(
        self, conn: Any, table: Table, write: Callable[[BinaryIO], None], expected: int
    ) -> int:
        """LOAD DATA LOCAL the fields ``write`` puts in a file (tab-separated, backslash
        escapes, ``\\N`` for NULL, one ``\\n``-terminated line per row) and commit; any warning
        or an affected-row count other than ``expected`` rolls back and raises TransferError."""
        with self._committed(conn, table):
            n = self._load_file(conn, table, write, expected)
        return n

    @contextlib.contextmanager
    def _committed(self, conn: Any, table: Table) -> Iterator[None]:
        """Commit what the block loaded; on failure roll back and raise TransferError."""
        import pymysql

        try:
            yield
            conn.commit()
        except pymysql.Error as exc:
            with contextlib.suppress(pymysql.Error):
                conn.rollback()
            raise TransferError(f"load failed: {_first_line(exc)}", table.name) from exc
        except TransferError:
            with contextlib.suppress(pymysql.Error):
                conn.rollback()
            raise

    def _load_data(self, conn: Any, table: Table, rows: Sequence[Row]) -> int:
        def write(f: BinaryIO) -> None:
            for row in rows:
                f.write(b"\t".join([_field(v) for v in row]) + b"\n")

        return self._load_file(conn, table, write, len(rows))

    def _load_file(
        self, conn: Any, table: Table, write: Callable[[BinaryIO], None], expected: int
    ) -> int:
        fd, path = tempfile.mkstemp(prefix="dmt-load-", suffix=".tsv")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            # CHARACTER SET binary: the server takes the bytes as they are, so blobs survive and
            # text is the UTF-8 we wrote (checked against each column's character set)
            sql = (
                f"LOAD DATA LOCAL INFILE {self.sql_text(conn.escape(path))} INTO TABLE "
                f"{self.qualified(table.name)} CHARACTER SET binary "
                "FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' "
                f"({self.column_list(table.column_names)})"
            )
            with conn.cursor() as cur:
                n = self.execute(cur, sql)
                self._check_warnings(cur, table, n, expected)
            return expected
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
                lit = lit.replace("%", "%%")  # executed with a tuple: see the module docstring
                if parts and size + len(lit) + 1 > limit:
                    n = cur.execute(_statement(head, parts), ())
                    self._check_warnings(cur, table, n, len(parts))
                    done += len(parts)
                    parts, size = [], len(head)
                parts.append(lit)
                size += len(lit) + 1
            if parts:
                n = cur.execute(_statement(head, parts), ())
                self._check_warnings(cur, table, n, len(parts))
                done += len(parts)
        return done

    def _check_warnings(self, cur: Any, table: Table, affected: int, expected: int) -> None:
        """A converted, truncated or skipped value is an error, never a silent change."""
        warnings: list[Row] = []
        if cur.warning_count:
            # Notes too: a decimal rounded to the column's scale is only a Note 1265
            self.execute(cur, "SHOW WARNINGS")
            warnings = list(cur.fetchall())
        if warnings:
            level, code, msg = warnings[0]
            more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
            raise TransferError(f"MySQL {level.lower()} {code}: {msg}{more}", table.name)
        if affected != expected:
            raise TransferError(f"{affected} of {expected} rows were loaded", table.name)

    # ------------------------------------------------------------------ after the load
    def index_sql(self, table: Table, index: Index) -> str:
        cols = []
        for i, name in enumerate(index.columns):
            length = index.lengths[i] if i < len(index.lengths) else None
            cols.append(self.quote(name) + (f"({length})" if length else ""))
        unique = "UNIQUE " if index.unique else ""
        # a resumed run may meet the index already built; MySQL 8 has no such clause
        exists = "IF NOT EXISTS " if self.mariadb else ""
        return (
            f"CREATE {unique}INDEX {exists}{self.quote(index.name)} "
            f"ON {self.qualified(table.name)} ({', '.join(cols)})"
        )

    def reset_sequence_sql(self, conn: Any, table: Table) -> list[str]:
        if not table.primary_key:
            return []
        col = next((c for c in table.columns if c.name == table.primary_key[0]), None)
        if col is None or not col.autoincrement:
            return []
        with conn.cursor() as cur:
            top_sql = f"SELECT COALESCE(MAX({self.quote(col.name)}), 0)"
            self.execute(cur, f"{top_sql} FROM {self.qualified(table.name)}")
            (top,) = cur.fetchone()
        conn.commit()
        if not isinstance(top, int):
            return []
        return [f"ALTER TABLE {self.qualified(table.name)} AUTO_INCREMENT = {top + 1}"]

    def translate_error(self, exc: BaseException) -> str:
        return _first_line(exc)
