"""The one small protocol every engine implements, and the registry that finds them.

A dialect knows its driver, its SQL spelling (:mod:`dmt.dialects.sql`) and its type mapping;
nothing of the pipeline or the monitor. Drivers are imported inside :meth:`Dialect.connect`,
so ``dmt --help`` and a SQLite-only run never import psycopg or PyMySQL. Driver exceptions
are translated here, once, into :mod:`dmt.errors` (:meth:`Dialect.translate_error`).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar

from dmt.config import Endpoint
from dmt.dialects.hooks import DataPathHooks
from dmt.dialects.registry import ENGINES, engine_for
from dmt.dialects.registry import lookup as lookup_engine
from dmt.dialects.sessions import SessionHooks
from dmt.dialects.sql import TypeChoice
from dmt.dialects.values import (
    Converter,
    Fetch,
    Row,
    ValueCounters,
    ValueOptions,
    format_timedelta,
    value_options,
)
from dmt.errors import (
    ConnectError,
    ConnectionLost,
    DiskFull,
    DmtError,
    TransferError,
    causes,
    first_line,
    located,
)
from dmt.model.schema import ColumnType, Schema, Table

__all__ = [
    "DIALECTS",
    "Converter",
    "Dialect",
    "Fetch",
    "Row",
    "TypeChoice",
    "ValueCounters",
    "ValueOptions",
    "dialect_class",
    "expression_dialect",
    "format_timedelta",
    "get_dialect",
    "value_options",
]

log = logging.getLogger("dmt")


class Dialect(DataPathHooks, SessionHooks):
    """Base class: one subclass per engine overrides only its differences.

    Capabilities (class attributes, here and on :class:`SqlDialect`) are what the rest of dmt
    may branch on; nothing outside ``dialects/`` branches on the engine name.
    """

    #: the most bound values one statement takes (deletes of listed keys are split to fit)
    max_bind_params: ClassVar[int] = 65535
    #: the most writer connections that help; None: no limit beyond the knob's bounds
    max_writers: ClassVar[int | None] = None
    #: the heading of this engine's column in docs/type-mapping.md
    title: ClassVar[str] = ""
    #: declared types of this engine that docs/type-mapping.md shows mapped to every target
    sample_types: ClassVar[tuple[str, ...]] = ()

    def __init__(self, endpoint: Endpoint, side: str, options: ValueOptions | None = None) -> None:
        self.endpoint = endpoint
        self.side = side  # "source" or "target", for messages
        self.options = options or ValueOptions()
        self.in_snapshot = False  # true between open_snapshot and close_snapshot

    # ------------------------------------------------------------------ connections
    #: seconds one statement on a :meth:`timed_connect` connection may take; 0: no limit
    statement_seconds: float = 0.0

    def timed_connect(self) -> Any:
        """A connection whose statements fail after :attr:`statement_seconds` (post-load and
        validation work; the copy itself is watched by stall detection instead)."""
        conn = self.connect()
        self.set_statement_timeout(conn, self.statement_seconds)
        return conn

    def connect(self) -> Any:
        """A new DB-API connection (autocommit off). Raises ConnectError."""
        raise NotImplementedError

    def connect_reader(self) -> Any:
        """A source connection for an extra reader thread; None when the run's snapshot has
        no connection free (the thread then stands down: :mod:`dmt.dialects.snapshot`)."""
        return self.connect()

    def server_version(self, conn: Any) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------------ snapshot
    def open_snapshot(self, readers: int, tables: Sequence[str] = ()) -> str:
        """Make every connection :meth:`connect` hands out until :meth:`close_snapshot` read
        one moment of this (source) database, for up to ``readers`` readers at once (of
        ``tables``, the run's); return how, in words for the log (:mod:`dmt.dialects.snapshot`)."""
        raise NotImplementedError

    def close_snapshot(self) -> None:
        """End the snapshot :meth:`open_snapshot` opened."""

    def shared_snapshot(self) -> str | None:
        """What another process passes to :meth:`join_snapshot` to read the run's snapshot:
        ``""`` when its plain connections already read it (the copied tables are held still),
        None when it cannot (no snapshot, or one only this process's lent connections hold)."""
        held = self.in_snapshot and self.snapshot_holds_writers and self.columnar_in_snapshot
        return "" if held else None

    def join_snapshot(self, token: str) -> None:
        """Read, in this process, the snapshot another process opened (:meth:`shared_snapshot`)."""

    def snapshot_exceptions(self, table: Table) -> str | None:
        """Why rows of ``table`` are not read from the run's snapshot, or None."""
        return None

    def ping(self, conn: Any) -> None:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        cur.fetchall()
        cur.close()

    def execute(self, cur: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run dmt-built SQL; always with a tuple, so ``%%`` means ``%`` consistently."""
        return cur.execute(sql, tuple(params))

    # ------------------------------------------------------------------ errors
    def connection_broke(self, exc: BaseException) -> bool:
        """Whether this one exception says a connection itself broke. The base knows dmt's own
        ConnectError and the OS's ConnectionError; each dialect adds its driver's."""
        return isinstance(exc, ConnectError | ConnectionError)

    def full_disk(self, exc: BaseException) -> str | None:
        """The local file this one exception says ran out of disk space, or None. A server's
        full disk is the server's to report (a TransferError naming the table); only an engine
        that writes local files (SQLite) names one."""
        return None

    def describe_error(self, exc: BaseException) -> str:
        """One line describing a driver error, without secrets."""
        return first_line(exc)

    def translate_error(
        self,
        exc: BaseException,
        what: str = "",
        table: str | None = None,
        key_range: str | None = None,
    ) -> DmtError:
        """``exc``, raised while doing ``what``, as the DmtError it means (the caller chains
        it: ``raise err from exc``).

        A ConnectionLost (exit 2, safe to retry) when ``exc`` or an exception in its cause
        chain says the connection broke; a DiskFull (exit 7) when one says a local file's disk
        is full; else ``exc`` itself when it is a DmtError; else a
        TransferError naming ``what`` with :meth:`describe_error`. An error that already is a
        ConnectionLost is returned as it is.
        """
        if isinstance(exc, ConnectionLost):
            return exc
        broken = next((e for e in causes(exc) if self.connection_broke(e)), None)
        doing = f"{what}: " if what else ""
        if broken is not None:
            why = self.describe_error(broken)
            return ConnectionLost(self.side, located(table, key_range) + doing + why)
        full = next((p for e in causes(exc) if (p := self.full_disk(e)) is not None), None)
        if full is not None:
            return DiskFull(full, self.side, located(table, key_range) + doing)
        if isinstance(exc, DmtError):
            return exc
        return TransferError(doing + self.describe_error(exc), table, key_range)

    # ------------------------------------------------------------------ schema
    def reflect(self, conn: Any, select: Callable[[str], bool]) -> Schema:
        """Every base table that ``select`` accepts, in the engine-neutral model."""
        raise NotImplementedError

    def declared_type(self, declared: str) -> ColumnType:
        """The canonical type reflection gives a column declared ``declared`` (the rows of
        docs/type-mapping.md)."""
        raise NotImplementedError

    def existing_tables(self, conn: Any) -> set[str]:
        raise NotImplementedError

    def reset_sequence_sql(self, conn: Any, table: Table) -> list[str]:
        """Statements that make the next generated key max+1."""
        return []

    # ------------------------------------------------------------------ reading
    def decoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        """Per column: driver value -> canonical Python value (None = already canonical)."""
        return [None] * len(table.columns)

    @contextlib.contextmanager
    def stream(self, conn: Any, sql: str, params: Sequence[Any]) -> Iterator[Fetch]:
        """Run ``sql`` without materialising its result; yield its ``fetchmany(n)``."""
        cur = conn.cursor()
        try:
            self.execute(cur, sql, params)
            yield cur.fetchmany
        finally:
            cur.close()
            conn.commit()

    def key_boundaries(self, conn: Any, table: Table, key: Sequence[str], every: int) -> list[Row]:
        """Every ``every``-th key in key order: the upper bounds of all chunks but the last."""
        cols = self.column_list(key)
        sql = (
            f"SELECT {cols} FROM (SELECT {cols}, ROW_NUMBER() OVER (ORDER BY {cols}) AS dmt_rn "
            f"FROM {self.relation(table.name)}) dmt_k WHERE MOD(dmt_rn, {int(every)}) = 0 "
            f"ORDER BY {cols}"
        )
        cur = conn.cursor()
        self.execute(cur, sql)
        out = [tuple(r) for r in cur.fetchall()]
        cur.close()
        conn.commit()
        return out

    def key_stats(self, conn: Any, table: Table, col: str) -> tuple[Any, Any, int]:
        """MIN and MAX of one key column, and the row count: the engine's estimate from the
        reflected schema where it has one (an exact COUNT(*) scans the whole table), else
        COUNT(*). The count only sizes the key ranges: a wrong estimate makes ranges hold more
        or fewer rows, never loses one (a range with more rows than chunk_size is still read
        in batches of chunk_size). Each aggregate is its own subquery: SQLite answers a lone
        MIN or MAX from the index end but scans the whole table for ``SELECT MIN(k), MAX(k)``."""
        q, t = self.quote(col), self.relation(table.name)
        exact = table.row_estimate <= 0
        count = f", (SELECT COUNT(*) FROM {t})" if exact else ""
        cur = conn.cursor()
        self.execute(cur, f"SELECT (SELECT MIN({q}) FROM {t}), (SELECT MAX({q}) FROM {t}){count}")
        lo, hi, *n = cur.fetchone()
        cur.close()
        conn.commit()
        return lo, hi, int(n[0]) if exact else table.row_estimate

    def count_rows(self, conn: Any, table: str) -> int:
        cur = conn.cursor()
        self.execute(cur, f"SELECT COUNT(*) FROM {self.relation(table)}")
        (n,) = cur.fetchone()
        cur.close()
        conn.commit()
        return int(n)

    # ------------------------------------------------------------------ writing
    def encoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        """Per column: canonical Python value -> what this driver's bulk path takes."""
        return [None] * len(table.columns)

    def lossy_encoders(self, table: Table) -> list[Converter | None]:
        """Per column: only the documented lossy substitutions :meth:`encoders` makes (a value
        this target cannot hold -> the canonical value stored instead), so that checksum
        validation expects them and nothing else. Default: none."""
        return [None] * len(table.columns)

    def write_rows(self, conn: Any, table: Table, rows: Sequence[Row]) -> int:
        """Load ``rows`` through the native bulk path and commit; return rows written."""
        raise NotImplementedError

    def begin_load(self, conn: Any) -> None:
        """Session settings for a writer connection (e.g. SQLite pragmas)."""

    def end_load(self, conn: Any) -> None:
        """Undo :meth:`begin_load`."""

    def delete_range(
        self, conn: Any, table: Table, key: Sequence[str], lower: Row | None, upper: Row | None
    ) -> int:
        """Delete target rows with ``lower < key <= upper`` (all rows when ``key`` is empty)."""
        sql = f"DELETE FROM {self.qualified(table.name)}"
        where, params = [], []
        if key and lower is not None:
            where.append(self._row_compare(key, ">"))
            params += list(lower)
        if key and upper is not None:
            where.append(self._row_compare(key, "<="))
            params += list(upper)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._execute_count(conn, sql, params)

    def delete_keys(self, conn: Any, table: Table, key: Sequence[str], keys: Sequence[Row]) -> int:
        """Delete the target rows whose key is one of ``keys``, in statements of at most
        :attr:`max_bind_params` bound values."""
        per = max(1, self.max_bind_params // max(1, len(key)))
        total = 0
        for i in range(0, len(keys), per):
            part = keys[i : i + per]
            sql = f"DELETE FROM {self.qualified(table.name)} WHERE {self._key_in(key, len(part))}"
            total += self._execute_count(conn, sql, [v for k in part for v in k])
        return total

    def _execute_count(self, conn: Any, sql: str, params: Sequence[Any]) -> int:
        cur = conn.cursor()
        try:
            self.execute(cur, sql, params)
            n = cur.rowcount
        finally:
            cur.close()
        conn.commit()
        return max(0, int(n))


#: engine name -> ``module:Class`` of its dialect, from the engine registry: the engines with
#: a fixed type mapping (the generic dialect's depends on its URL, so it is not listed)
DIALECTS = {name: engine.dialect for name, engine in ENGINES.items() if not engine.url}


def dialect_class(engine: str, key: str = "engine") -> type[Dialect]:
    """The dialect class of an engine name or alias; an unknown name lists the known ones and
    the closest (a ConfigError naming the config ``key``)."""
    module, cls = engine_for(engine, key).dialect.split(":")
    found: type[Dialect] = getattr(importlib.import_module(module), cls)
    return found


def expression_dialect(engine: str) -> type[Dialect] | None:
    """The dialect class that reads defaults and checks an engine wrote (its transpiler and
    spelling): a registered engine's own, a generic one's by its backend
    (``generic:postgresql``); None when dmt knows no reader for them."""
    if engine in DIALECTS:
        return dialect_class(engine)
    head, _, backend = engine.partition(":")
    if backend and lookup_engine(head) is not None and ENGINES[head].url:
        module, _cls = ENGINES[head].dialect.split(":")
        found: type[Dialect] | None = importlib.import_module(module).expression_class(backend)
        return found
    return None


def get_dialect(endpoint: Endpoint, side: str, options: ValueOptions | None = None) -> Dialect:
    """The dialect for an endpoint; an unknown engine lists the known ones."""
    return dialect_class(endpoint.engine, f"{side}.type")(endpoint, side, options)
