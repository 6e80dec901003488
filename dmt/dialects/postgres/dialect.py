"""PostgreSQL through psycopg 3: connections, DDL, server-side cursors, COPY FROM STDIN."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from dmt.dialects.base import Converter, Fetch, Row, TypeChoice, ValueCounters
from dmt.dialects.collations import PG_FOLDING, postgres_collation
from dmt.dialects.postgres import reflection, snapshot
from dmt.dialects.postgres.columnar import PostgresColumnar
from dmt.dialects.postgres.objects import reflect_objects
from dmt.dialects.postgres.sessions import PostgresSessions
from dmt.dialects.postgres.types import SAMPLE_TYPES, canonical_type, render_type
from dmt.dialects.postgres.values import (
    encoders,
    lossy_encoders,
    register_infinity_loaders,
    str_or_none,
)
from dmt.errors import ConnectError, ConnectionLost, TransferError, first_line
from dmt.model.schema import Collation, Column, ColumnType, NativeObject, Schema, Table

#: the built-in range and multirange types (a schema's own ranges already arrive as text)
_RANGES = tuple(
    f"{base}{kind}"
    for base in ("int4", "int8", "num", "ts", "tstz", "date")
    for kind in ("range", "multirange")
)
#: SQLSTATEs of a server shutting down or terminating the backend
_LOST_STATES = ("57P01", "57P02", "57P03")


class PostgresDialect(PostgresColumnar, PostgresSessions):
    """PostgreSQL 12+ through psycopg 3."""

    name = "postgres"
    title = "PostgreSQL"
    placeholder = "%s"
    max_identifier_length = 63
    identifier_length_in_bytes = True
    supports_schemas = True
    spelling = reflection.SPELLING
    transpile_as = "postgres"
    sample_types = SAMPLE_TYPES
    copy_binary_passthrough = True
    text_copy_out = True
    #: partitioned source tables, known once reflect() ran (see relation())
    partitioned: set[str] | None = None
    #: the target's built-in collations and whether it has ICU, once learn_collations() ran
    collations: set[str] | None = None
    icu = True
    folding_takes_like = False  # nondeterministic collations refuse LIKE before PostgreSQL 18
    columnar_in_snapshot = True

    snapshot_id = ""  # the run's exported snapshot, while one is open

    def connect(self) -> Any:
        """A new connection; while the run's snapshot is open, one that reads inside it."""
        if not self.snapshot_id:
            return self._connect()
        conn = self._connect(snapshot.connection_class())
        try:
            conn.begin_snapshot(self.snapshot_id)
        except Exception as exc:
            conn.close()
            raise self.translate_error(exc, "importing the run's snapshot") from exc
        return conn

    def open_snapshot(self, readers: int, tables: Sequence[str] = ()) -> str:
        conn = self._connect()
        try:
            self.snapshot_id = snapshot.export(conn)
        except Exception as exc:
            conn.close()
            err = self.translate_error(exc, "exporting the run's snapshot")
            if isinstance(err, ConnectionLost):
                raise err from exc
            raise TransferError(
                f"the source cannot export a snapshot (pg_export_snapshot: {first_line(exc)}); "
                "set `migration.consistency: none` to copy without one"
            ) from exc
        self._coordinator = conn
        self.in_snapshot = True
        return f"exported snapshot `{self.snapshot_id}`, imported by every reader"

    def shared_snapshot(self) -> str | None:
        return self.snapshot_id or None

    def join_snapshot(self, token: str) -> None:
        self.snapshot_id = token  # every connection imports it (:meth:`connect`)
        self.in_snapshot = bool(token)

    def close_snapshot(self) -> None:
        conn, self._coordinator = getattr(self, "_coordinator", None), None
        self.snapshot_id = ""
        self.in_snapshot = False
        if conn is not None:
            with contextlib.suppress(Exception):  # a lost coordinator ended the snapshot itself
                conn.close()

    def columnar_begin(self, conn: Any) -> None:
        if self.snapshot_id:
            with conn.cursor() as cur:
                for sql in snapshot.begin_statements(self.snapshot_id):
                    cur.execute(sql)

    def _connect(self, cls: Any = None) -> Any:
        import psycopg
        from psycopg.types.string import TextLoader

        ep = self.endpoint
        try:
            conn = (cls or psycopg.Connection).connect(
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
                self.side, f"PostgreSQL {ep.describe()}: {first_line(exc)}"
            ) from None
        # JSON stays text end to end: no parse/serialise round trip, no key reordering.
        # An interval stays text too: a timedelta cannot hold months ('1 mon' is not 30 days).
        # Ranges too: their text form is what a target holds (psycopg's Range prints another)
        for name in ("json", "jsonb", "interval", *_RANGES):
            conn.adapters.register_loader(name, TextLoader)
        register_infinity_loaders(conn)
        return conn

    def server_version(self, conn: Any) -> str:
        v = conn.info.server_version
        return f"PostgreSQL {v // 10000}.{v % 10000}"

    def connection_broke(self, exc: BaseException) -> bool:
        """An OperationalError of SQLSTATE class 08 (connection exception), 57P01-03 (the
        server shutting down or terminating the backend: ``pg_terminate_backend``, a restart)
        or none at all (the socket closed)."""
        if super().connection_broke(exc):
            return True
        import psycopg

        if not isinstance(exc, psycopg.OperationalError):
            return False
        state = exc.sqlstate
        return state is None or state.startswith("08") or state in _LOST_STATES

    def describe_error(self, exc: BaseException) -> str:
        """The first line; for SQLSTATE 53100 (disk_full: a data or temporary file could not be
        extended) also what to do."""
        text = first_line(exc)
        if getattr(exc, "sqlstate", None) == "53100":
            text += "; the server's disk is full: free space there, then run `dmt resume`"
        return text

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
        assert self.endpoint.schema is not None
        schema = reflection.reflect(conn, self.endpoint.schema, select)
        self.partitioned = {t.name for t in schema.tables if t.partitioning}
        objects, aggregates = reflect_objects(conn, self.endpoint.schema, select, self.raw_quote)
        schema.objects = objects
        schema.routines = sorted({*schema.routines, *aggregates})
        return schema

    def relation(self, table: str) -> str:
        """A source table read without its inheritance children (their rows are copied as
        tables of their own); a partitioned table with its partitions (it has no rows of its
        own). Which tables are partitioned is known once :meth:`reflect` ran."""
        if self.side != "source":
            return self.qualified(table)
        if self.partitioned is None:
            raise RuntimeError("PostgresDialect.relation() before reflect()")
        q = self.qualified(table)
        return q if table in self.partitioned else f"ONLY {q}"

    def keeps_sequence_default(self, native_default: str | None) -> bool:
        return bool(native_default and native_default.startswith("nextval("))

    def object_statements(self, obj: NativeObject) -> Sequence[str]:
        """A routine is created without checking its body: it may name objects made later."""
        first = ("SET LOCAL check_function_bodies = off",) if obj.kind == "routine" else ()
        return (*first, *obj.setup, obj.ddl)

    def declared_type(self, declared: str) -> ColumnType:
        return canonical_type(declared)

    def render_type(self, ctype: ColumnType, where: str) -> TypeChoice:
        return render_type(ctype, where)

    # ------------------------------------------------------------------ collations
    def learn_collations(self, conn: Any) -> None:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT collname, collprovider FROM pg_collation "
                "WHERE collnamespace = 'pg_catalog'::regnamespace"
            )
            rows = cur.fetchall()
        conn.commit()
        self.collations = {r[0] for r in rows}
        self.icu = any(r[1] == "i" for r in rows)

    def has_collation(self, collation: Collation, carried: bool) -> bool:
        if collation.schema:  # user-defined: created first when the source's objects are
            return carried
        return self.collations is None or collation.name in self.collations

    def collation_for(self, source: Collation | None) -> Collation | None:
        return postgres_collation(source, self.icu)

    def collate_clause(self, collation: Collation) -> str:
        if collation.schema == "":  # one of PG_FOLDING, made in the target schema
            return f"COLLATE {self.qualified(collation.name)}"
        if collation.schema:  # carried like the source's types: by its own name
            return f"COLLATE {self.quote(collation.name)}"
        return f"COLLATE pg_catalog.{self.quote(collation.name)}"

    def create_table_sql(self, table: Table, types: dict[str, str]) -> list[str]:
        """CREATE TABLE (after any folding collation of :data:`PG_FOLDING` it uses), and for
        a partitioned table (from PostgreSQL) its partitions."""
        used = {c.collation.name for c in table.columns if c.collation and c.collation.schema == ""}
        out = [
            f"CREATE COLLATION IF NOT EXISTS {self.qualified(name)} "
            f"(provider = icu, locale = '{locale}', deterministic = false)"
            for name, locale, _case, _accents in PG_FOLDING
            if name in used
        ]
        out += super().create_table_sql(table, types)
        if table.partitioning:
            out[len(used)] += f" PARTITION BY {table.partitioning}"
            parent = self.qualified(table.name)
            out += [
                f"CREATE TABLE {self.qualified(n)} PARTITION OF {parent} {bound}"
                for n, bound in table.partitions
            ]
        return out

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
        return [str_or_none if c.type.kind == "uuid" else None for c in table.columns]

    def encoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        return encoders(table, self.options.nul_bytes == "strip", counters)

    def lossy_encoders(self, table: Table) -> list[Converter | None]:
        return lossy_encoders(table, self.options.nul_bytes == "strip")

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
        cur = conn.cursor(name=f"dmt_{uuid.uuid4().hex[:12]}")
        try:
            cur.execute(sql, tuple(params))
            yield cur.fetchmany
            cur.close()
        except BaseException:
            _close_cursor(conn, cur)
            raise
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
            raise TransferError(f"COPY failed: {self.describe_error(exc)}", table.name) from exc
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


def _close_cursor(conn: Any, cur: Any) -> None:
    """Close a server-side cursor after a failure. On a connection the server dropped, closing
    the cursor fails and leaves it open (psycopg then warns when it is collected); closing the
    connection first lets the cursor close without asking the server."""
    try:
        cur.close()
    except Exception:  # the connection is gone: the error that brought us here says so
        conn.close()
        cur.close()
