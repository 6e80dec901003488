"""The generic dialect: any database SQLAlchemy has a dialect and an installed driver for.

The endpoint is one SQLAlchemy URL. Reflection goes through the Inspector
(:mod:`.reflection`), types through SQLAlchemy's generic types (:mod:`.types`), DDL through
``CreateTable`` / ``CreateIndex`` / ``DropTable`` compiled for the backend (quoting by
SQLAlchemy), key ranges and counts through Core ``select`` (ROW_NUMBER, MIN/MAX as the
backend spells them), reads of dmt's chunk SELECT through ``exec_driver_sql`` with
``stream_results`` (a server-side cursor where the driver has one) and each column's
SQLAlchemy result processor, writes through the driver's executemany (SQLAlchemy's
``do_executemany``, with a dialect's bulk option such as pyodbc's ``fast_executemany``:
:data:`.connection.BULK_OPTIONS`) after each column's SQLAlchemy bind processor. Reads and
writes take dmt's SQL text because every layer above (paths, validation, checkpoints) builds
its key-range SELECTs and DELETEs as text with the dialect's placeholder.

SQLAlchemy is imported when a generic endpoint is built, never by a run between hand-tuned
engines.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from dmt.config import Endpoint
from dmt.dialects.base import (
    Converter,
    Dialect,
    Fetch,
    Row,
    TypeChoice,
    ValueCounters,
    ValueOptions,
)
from dmt.dialects.generic import ddl, reflection, types, values
from dmt.dialects.generic.connection import GenericConnection, make_engine
from dmt.dialects.snapshot import SnapshotPool
from dmt.errors import ConnectError, first_line
from dmt.model.schema import Column, Index, Schema, Table

#: SQLAlchemy dialect name -> the sqlglot dialect that reads its defaults and checks
TRANSPILE_AS = {
    "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite",
    "mssql": "tsql", "oracle": "oracle", "duckdb": "duckdb", "snowflake": "snowflake",
    "bigquery": "bigquery", "redshift": "redshift", "trino": "trino", "clickhouse": "clickhouse",
    "databricks": "databricks", "cockroachdb": "postgres",
}  # fmt: skip
#: backends that serialise writers on a file lock: one writer
ONE_WRITER = frozenset({"sqlite", "duckdb"})
#: the most bound values one statement takes, where below dmt's default
MAX_BIND = {"sqlite": 32766, "mssql": 2000}
#: kinds read as their text (CAST ... AS the backend's text type): drivers turn an interval's
#: months into days, and parse JSON into objects whose text no longer says what was stored
READ_AS_TEXT = frozenset({"interval", "json"})
#: kinds whose driver value is used as it is: SQLAlchemy's float and decimal processors
#: round to a return scale
NO_PROCESSOR = frozenset({"float32", "float64", "decimal", "array"})
#: isolation levels that give a transaction one moment of the database, best first
SNAPSHOT_LEVELS = ("REPEATABLE READ", "SNAPSHOT", "SERIALIZABLE")


class GenericDialect(Dialect):
    """Any SQLAlchemy URL (``engine: generic`` / ``type: generic``, or a scheme no hand-tuned
    engine claims)."""

    name = "generic"
    title = "SQLAlchemy"

    def __init__(self, endpoint: Endpoint, side: str, options: ValueOptions | None = None) -> None:
        super().__init__(endpoint, side, options)
        self.engine = make_engine(endpoint, side)
        sa_dialect = self.engine.dialect
        self.backend: str = sa_dialect.name
        style = sa_dialect.paramstyle
        # per-instance capabilities: what this dialect can do depends on the URL's backend
        setattr(self, "name", f"generic:{self.backend}")  # noqa: B010
        setattr(self, "title", f"{self.backend} (SQLAlchemy)")  # noqa: B010
        setattr(self, "placeholder", "%s" if style in ("format", "pyformat") else "?")  # noqa: B010
        reads = expression_class(self.backend)
        setattr(self, "transpile_as", reads.transpile_as if reads else "")  # noqa: B010
        setattr(self, "transpiler", lambda: self.transpile_as)  # noqa: B010
        setattr(self, "inline_constraints", not sa_dialect.supports_alter)  # noqa: B010
        setattr(self, "supports_schemas", True)  # noqa: B010
        setattr(self, "supports_prefix_indexes", self.backend in ("mysql", "mariadb"))  # noqa: B010
        setattr(self, "max_identifier_length", sa_dialect.max_identifier_length or 63)  # noqa: B010
        setattr(self, "max_bind_params", MAX_BIND.get(self.backend, 65535))  # noqa: B010
        setattr(self, "max_writers", 1 if self.backend in ONE_WRITER else None)  # noqa: B010
        self._types: dict[tuple[str, str], Any] = {}  # (table, column) -> reflected SA type
        self._pool: SnapshotPool | None = None

    @property
    def sa_dialect(self) -> Any:
        return self.engine.dialect

    # ------------------------------------------------------------------ connections
    def _connect(self) -> GenericConnection:
        try:
            sa_conn = self.engine.connect()
        except Exception as exc:
            raise ConnectError(
                self.side, f"{self.endpoint.describe()}: {self.describe_error(exc)}"
            ) from None
        return GenericConnection(sa_conn, self.sa_dialect.paramstyle)

    def connect(self) -> Any:
        """A new connection; while the run's snapshot is open, the snapshot's connection
        (waiting until it is free)."""
        if self._pool is None:
            return self._connect()
        conn = self._pool.take(wait=True)
        if conn is None:
            raise ConnectError(self.side, "the run's snapshot was closed")
        return conn

    def connect_reader(self) -> Any:
        return self.connect() if self._pool is None else self._pool.take(wait=False)

    def open_snapshot(self, readers: int, tables: Sequence[str] = ()) -> str:
        """One connection in a REPEATABLE READ (else SNAPSHOT, SERIALIZABLE) transaction reads
        every table: one moment by construction, without parallel reads."""
        conn = self._connect()
        level = None
        for candidate in SNAPSHOT_LEVELS:
            try:
                conn.sa.execution_options(isolation_level=candidate)
                level = candidate
                break
            except Exception:
                continue
        try:
            self.ping(conn)  # the transaction, and with it the moment, starts here
        except Exception as exc:
            conn.really_close()
            raise self.translate_error(exc, "starting the run's snapshot") from exc
        self._pool = SnapshotPool([conn], lambda c: c.really_close())
        conn.pool = self._pool
        self.in_snapshot = True
        return f"one connection at isolation level {level or 'default'} reads every table"

    def close_snapshot(self) -> None:
        pool, self._pool = self._pool, None
        self.in_snapshot = False
        if pool is not None:
            pool.close()

    def server_version(self, conn: Any) -> str:
        info = self.sa_dialect.server_version_info or ()
        return f"{self.backend} {'.'.join(str(p) for p in info)}".strip() + " (SQLAlchemy)"

    def ping(self, conn: Any) -> None:
        import sqlalchemy as sa

        conn.sa.execute(sa.select(sa.literal(1))).fetchall()

    # ------------------------------------------------------------------ errors
    def connection_broke(self, exc: BaseException) -> bool:
        """A SQLAlchemy error that invalidated its connection (the backend dialect's own
        disconnect test), or a driver error that test recognises."""
        if super().connection_broke(exc):
            return True
        from sqlalchemy import exc as sa_exc

        if isinstance(exc, sa_exc.DisconnectionError):
            return True
        if isinstance(exc, sa_exc.DBAPIError):
            return bool(exc.connection_invalidated)
        dbapi = self.sa_dialect.loaded_dbapi
        if dbapi is not None and isinstance(exc, getattr(dbapi, "Error", ())):
            try:
                return bool(self.sa_dialect.is_disconnect(exc, None, None))
            except Exception:
                return False
        return False

    def describe_error(self, exc: BaseException) -> str:
        """The driver's own first line: SQLAlchemy's wrapper adds the statement and its
        parameters (row data), which never go into a message."""
        orig = getattr(exc, "orig", None)
        return first_line(orig if isinstance(orig, BaseException) else exc)

    # ------------------------------------------------------------------ schema
    def existing_tables(self, conn: Any) -> set[str]:
        import sqlalchemy as sa

        out = set(sa.inspect(conn.sa).get_table_names(schema=self.endpoint.schema))
        conn.commit()
        return out

    def reflect(self, conn: Any, select: Callable[[str], bool]) -> Schema:
        schema = reflection.reflect(
            conn.sa, self.endpoint.schema, select, self.name, self.spell, self._types
        )
        conn.commit()
        return schema

    def spell(self, sa_type: Any) -> str:
        return types.spell(sa_type, self.sa_dialect)

    def render_type(self, ctype: Any, where: str) -> TypeChoice:
        return types.render(ctype, self.sa_dialect, where)

    def quote(self, ident: str) -> str:
        """SQLAlchemy's quoting, which already doubles ``%`` for a ``%s`` driver."""
        out: str = self.sa_dialect.identifier_preparer.quote_identifier(ident)
        return out

    def literal(self, value: str) -> str:
        import sqlalchemy as sa

        # SQLAlchemy's literal: the backend's escapes, ``%`` already doubled for a ``%s`` driver
        text: str = sa.String().literal_processor(self.sa_dialect)(value)
        return text

    def adapt_table(self, table: Table, types_: dict[str, str]) -> list[str]:
        if self.supports_prefix_indexes:
            from dmt.dialects.mysql.types import key_columns  # MySQL's own key rules

            return key_columns(table, types_)
        return super().adapt_table(table, types_)

    def bool_literal(self, value: bool) -> str:
        import sqlalchemy as sa

        text: str = sa.Boolean().literal_processor(self.sa_dialect)(value)
        return text

    def generates_values(self, column: str, primary_key: Sequence[str], sql_type: str) -> bool:
        """A single-column integer primary key, on a backend :mod:`.ddl` gives a generator."""
        whole = self.type_base(sql_type) in ("smallint", "integer", "int", "bigint")
        return whole and tuple(primary_key) == (column,) and ddl.generates(self.backend)

    def reset_sequence_sql(self, conn: Any, table: Table) -> list[str]:
        return ddl.restart_identity(self, conn, table)

    def create_table_sql(self, table: Table, types_: dict[str, str]) -> list[str]:
        return [ddl.create_table(self, table, types_)]

    def index_sql(self, table: Table, index: Index) -> str:
        return ddl.create_index(self, table, index)

    def drop_table_sql(self, name: str) -> str:
        return ddl.drop_table(self, name)

    def truncate_sql(self, name: str) -> str:
        return f"DELETE FROM {self.qualified(name)}"

    # ------------------------------------------------------------------ reading
    def select_expr(self, col: Column) -> str:
        """A column whose driver value is not the canonical one is read as its text
        (:data:`READ_AS_TEXT`, and a type reflection did not know)."""
        if col.type.kind in READ_AS_TEXT or col.type.note:
            import sqlalchemy as sa

            expr = sa.cast(sa.column(col.name), sa.UnicodeText())
            return str(expr.compile(dialect=self.sa_dialect))
        return self.quote(col.name)

    def decoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        out = []
        for c in table.columns:
            if c.type.kind in READ_AS_TEXT | NO_PROCESSOR or c.type.note:
                out.append(values.decoder(c, None, counters))  # text, or the driver's list
                continue
            t = self._types.get((table.name, c.name))
            if t is None:
                t = types.target_type(c.type, self.sa_dialect, "")[0]
            impl = t.dialect_impl(self.sa_dialect)
            try:
                proc = impl.result_processor(self.sa_dialect, None)
            except Exception:  # a type without a processor for this driver
                proc = None
            out.append(values.decoder(c, proc, counters))
        return out

    @contextlib.contextmanager
    def stream(self, conn: Any, sql: str, params: Sequence[Any]) -> Iterator[Fetch]:
        cur = conn.cursor()
        try:
            cur.execute(sql, params, stream=True)
            yield cur.fetchmany
        finally:
            cur.close()
            conn.commit()

    def key_boundaries(self, conn: Any, table: Table, key: Sequence[str], every: int) -> list[Row]:
        return ddl.key_boundaries(self, conn, table, key, every)

    def key_stats(self, conn: Any, table: Table, col: str) -> tuple[Any, Any, int]:
        return ddl.key_stats(self, conn, table, col)

    def count_rows(self, conn: Any, table: str) -> int:
        return ddl.count_rows(self, conn, table)

    # ------------------------------------------------------------------ writing
    def _encoders(self, table: Table, counters: ValueCounters | None) -> list[Converter | None]:
        to_null = types.TO_NULL.get(self.backend)
        return [
            values.encoder(
                c, types.target_type(c.type, self.sa_dialect, "")[0], self.backend, to_null,
                counters,
            )
            for c in table.columns
        ]  # fmt: skip

    def encoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        """dmt's canonical value -> the value the target's type takes, then SQLAlchemy's own
        bind processor of that type for this driver (what a Core INSERT would apply)."""
        return [
            values.then(enc, values.bind_processor(c, self.sa_dialect))
            for c, enc in zip(table.columns, self._encoders(table, counters), strict=True)
        ]

    def lossy_encoders(self, table: Table) -> list[Converter | None]:
        return self._encoders(table, None)

    def write_rows(self, conn: Any, table: Table, rows: Sequence[Row]) -> int:
        """The rows through the driver's executemany (SQLAlchemy's ``do_executemany``: a
        dialect's bulk option such as pyodbc's ``fast_executemany`` applies). A Core INSERT
        would run the same executemany after building a dict per row and compiling the
        statement: measured 1.7x slower (bench/README.md)."""
        marks = ", ".join([self.placeholder] * len(table.columns))
        sql = (
            f"INSERT INTO {self.qualified(table.name)} ({self.column_list(table.column_names)}) "
            f"VALUES ({marks})"
        )
        around = ddl.explicit_keys(self, table)
        try:
            if around:
                conn.sa.exec_driver_sql(around[0])
            conn.sa.exec_driver_sql(*conn.bind_many(sql, rows))
            if around:
                conn.sa.exec_driver_sql(around[1])
            conn.commit()
        except Exception as exc:
            with contextlib.suppress(Exception):
                conn.rollback()
            raise self.translate_error(exc, "insert failed", table.name) from exc
        return len(rows)


@functools.cache
def expression_class(backend: str) -> type[GenericDialect] | None:
    """The class whose transpiler reads and writes defaults and checks of a SQLAlchemy
    ``backend`` (sqlglot's dialect of that name); None when sqlglot has none."""
    sqlglot_name = TRANSPILE_AS.get(backend)
    if sqlglot_name is None:
        return None
    attrs = {"transpile_as": sqlglot_name, "title": backend, "name": f"generic:{backend}"}
    return type(f"Generic{backend.title()}Expressions", (GenericDialect,), attrs)
