"""MySQL and MariaDB through PyMySQL: connections, DDL, unbuffered reads; the bulk load is in
:mod:`.load`.

Measured on MariaDB 10.11 with PyMySQL 1.1:

- Zero and partly-zero dates (``0000-00-00``, ``2020-00-00``, ``... 00:00:00.000000``) arrive
  from PyMySQL as ``str``; TIME arrives as ``timedelta`` and may be negative or above 24 hours.
- MariaDB's JSON is ``longtext`` with a column-level ``CHECK (json_valid(`col`))``.
- Every statement is executed with a parameter tuple (PyMySQL then merges with ``%``), so
  every literal ``%`` in dmt-built SQL is doubled (see :meth:`Dialect.sql_text`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, BinaryIO

from dmt.config import Endpoint
from dmt.dialects.base import Converter, Fetch, Row, TypeChoice, ValueCounters
from dmt.dialects.mysql import load, reflection, values
from dmt.dialects.mysql.collations import MySQLCollations
from dmt.dialects.mysql.objects import MySQLObjects, counter_reset_sql, reflect_objects
from dmt.dialects.mysql.sessions import MySQLSessions
from dmt.dialects.mysql.snapshot import MySQLSnapshot
from dmt.dialects.mysql.types import (
    AUTO_INC_TYPES,
    KEY_CHARS,
    LONG_TYPES,
    SAMPLE_TYPES,
    declared_type,
    key_columns,
    literal,
    render_type,
)
from dmt.dialects.values import ValueOptions
from dmt.errors import ConnectError, TransferError, first_line
from dmt.model.schema import ColumnType, Index, Schema, Table

log = logging.getLogger("dmt")

#: strict (a truncated value is an error), 0 stays 0 in AUTO_INCREMENT columns, and no
#: ANSI_QUOTES / NO_BACKSLASH_ESCAPES: the escaping assumes MySQL's default string syntax
_SQL_MODE = (
    "STRICT_ALL_TABLES,NO_AUTO_VALUE_ON_ZERO,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
)
#: a streaming reader may wait on a full read-ahead queue; the server must not give up on it
_NET_TIMEOUT = 3600
_TABLE_OPTIONS = "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
#: client and server codes of a broken or killed connection
_LOST = {1053, 1927, 2003, 2006, 2013, 2055, 4031}


class MySQLDialect(MySQLObjects, MySQLCollations, MySQLSnapshot, MySQLSessions):
    """MySQL 5.7+ and MariaDB 10.3+ through PyMySQL. The database is the namespace."""

    name = "mysql"
    title = "MySQL/MariaDB"
    placeholder = "%s"
    max_identifier_length = 64
    identifier_length_in_bytes = False
    supports_schemas = False
    max_bind_params = 65535
    case_insensitive_names = True
    supports_prefix_indexes = True
    tsv_load = True
    spelling = reflection.SPELLING
    transpile_as = "mysql"  # written through expressions.transpiler(): MariaDB's flavour
    sample_types = SAMPLE_TYPES

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
    def _connect(self, cls: Any = None) -> Any:
        """A new connection (of PyMySQL's class ``cls``; ``connect`` is the snapshot mixin's)."""
        import pymysql

        ep = self.endpoint
        try:
            conn = (cls or pymysql.connections.Connection)(
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
            raise ConnectError(
                self.side, f"MySQL {ep.describe()}: {self.describe_error(exc)}"
            ) from None
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
            raise ConnectError(
                self.side, f"MySQL {ep.describe()}: {self.describe_error(exc)}"
            ) from None
        self.mariadb = "mariadb" in str(version).lower()
        return conn

    def describe_error(self, exc: BaseException) -> str:
        """``MySQL error <code>: <message>`` for a PyMySQL error, else the first line."""
        args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
        if args in ((0, ""), ()) and type(exc).__name__ == "InterfaceError":
            return "the connection is closed (killed, or dropped by the server)"
        if len(args) == 2 and isinstance(args[0], int):
            return first_line(Exception(f"MySQL error {args[0]}: {args[1]}"))
        return first_line(exc)

    def server_version(self, conn: Any) -> str:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            v = str(cur.fetchone()[0])
        conn.commit()
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
                schema.objects = reflect_objects(cur, self.endpoint.database, select, schema)
            conn.commit()
            return schema
        except pymysql.Error as exc:
            conn.rollback()
            raise TransferError(f"reading the schema failed: {self.describe_error(exc)}") from exc

    # ------------------------------------------------------------------ types and DDL
    def declared_type(self, declared: str) -> ColumnType:
        return declared_type(declared)

    def render_type(self, ctype: ColumnType, where: str) -> TypeChoice:
        return render_type(ctype, where)

    def bool_literal(self, value: bool) -> str:
        return "1" if value else "0"

    @classmethod
    def transpiler(cls) -> Any:
        from dmt.dialects.mysql.expressions import transpiler

        return transpiler()

    def default_clause(self, default: str, sql_type: str) -> str:
        # MySQL 8 takes a text, blob or JSON column's default only in parentheses (MariaDB: both)
        long = sql_type.lower().split("(")[0] in LONG_TYPES
        return f"({default})" if long and not default.startswith("(") else default

    def generates_values(self, column: str, primary_key: Sequence[str], sql_type: str) -> bool:
        base = sql_type.lower().split("(")[0].split(" ")[0]
        return bool(primary_key) and column == primary_key[0] and base in AUTO_INC_TYPES

    def now_default(self, which: str, ctype: ColumnType) -> str:
        if which == "CURRENT_TIMESTAMP" and ctype.kind in ("timestamp", "timestamptz"):
            fsp = 6 if ctype.fsp is None else min(6, ctype.fsp)
            return f"CURRENT_TIMESTAMP({fsp})" if fsp else which
        return f"({which})"  # MariaDB takes other expressions in parentheses

    def adapt_table(self, table: Table, types: dict[str, str]) -> list[str]:
        return key_columns(table, types)

    def create_table_sql(self, table: Table, types: dict[str, str]) -> list[str]:
        """CREATE TABLE with the primary key; each text column declares its collation (see
        :mod:`dmt.schema.collations`)."""
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
        sql = f"CREATE TABLE {self.qualified(table.name)} (\n  {body}\n) {_TABLE_OPTIONS}"
        if table.partitioning:  # carried from a MySQL/MariaDB source as it spells it
            sql += "\n" + self.sql_text(table.partitioning)
        return [sql]

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
        return values.decoders(table, self.zero_dates == "error", counters)

    # ------------------------------------------------------------------ writing
    def encoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        return values.encoders(table, counters)

    def lossy_encoders(self, table: Table) -> list[Converter | None]:
        return values.lossy_encoders(table)

    def begin_load(self, conn: Any) -> None:
        load.load_settings(self, conn)

    def write_rows(self, conn: Any, table: Table, rows: Sequence[Row]) -> int:
        return load.write_rows(self, conn, table, rows)

    def local_infile_usable(self, conn: Any) -> bool:  # LOAD DATA LOCAL on this connection
        return load.load_settings(self, conn)[0]

    def load_tsv(
        self, conn: Any, table: Table, write: Callable[[BinaryIO], None], expected: int
    ) -> int:
        """LOAD DATA LOCAL the fields ``write`` puts in a file (tab-separated, backslash
        escapes, ``\\N`` for NULL, one ``\\n``-terminated line per row) and commit; any warning
        or an affected-row count other than ``expected`` rolls back and raises TransferError."""
        with load.committed(self, conn, table):
            n = load.load_file(self, conn, table, write, expected)
        return n

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
        return counter_reset_sql(self, conn, table)

    # ------------------------------------------------------------------ errors
    def connection_broke(self, exc: BaseException) -> bool:
        """PyMySQL's InterfaceError (the connection is closed), or a client or server code of
        a broken or killed connection."""
        if super().connection_broke(exc):
            return True
        import pymysql

        if isinstance(exc, pymysql.err.InterfaceError):
            return True
        return isinstance(exc, pymysql.err.Error) and bool(exc.args) and exc.args[0] in _LOST
