"""The columnar data path: Arrow batches read in C or Rust, written to PostgreSQL by ADBC.

MySQL and SQLite are read with connectorx, PostgreSQL with the ADBC driver; every target is
PostgreSQL, loaded by ADBC ingest (binary COPY built in C++). Rows never become Python objects,
which is what lets MySQL -> PostgreSQL pass PyMySQL's pure-Python ceiling.

It carries a table only when all of this holds (:func:`choose`), else the exact row path does:

- a single-column integer primary key: a batch is ``key > last ... ORDER BY key LIMIT n``, so
  each query is bounded in rows and, from the widest batch seen, in bytes;
- every column is of a kind whose reader is exact for it (``../shared/notes/columnar-readers.md``:
  no decimals — connectorx truncates them —, no time, interval, json, enum …), see ``_CASTS``;
- the endpoints can be spelled as a URL the readers take.

Values the exact path would convert (a MySQL zero date, a SQLite value stored with another type
than declared, a PostgreSQL ±infinity, a NUL character bound for PostgreSQL text) are detected
per batch — by a guard column the source computes, or in Arrow — and the rest of that chunk then
takes the row path, so what lands is what the row path would have written. Such a payload is a
list of converted rows; :meth:`ArrowPath.write` hands it to the target dialect.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from dmt.config import Endpoint
from dmt.dialects.base import Dialect
from dmt.errors import TransferError, first_line
from dmt.pipeline.reader import read_rows

if TYPE_CHECKING:
    import pyarrow as pa

    from dmt.pipeline.chunks import Chunk
    from dmt.pipeline.pipeline import TableJob
    from dmt.schema.model import Column
    from dmt.schema.translate import TablePlan

log = logging.getLogger("dmt.pipeline")

GUARD = "__dmt_exact"  # the guard column's name: 1 where every value of the row is plain
FIRST_ROWS = 4  # the first batch of a table: its rows may be of any width
COPIES = 2  # a batch's Arrow size times this is what it costs in memory at its peak
RANGE_BATCHES = 4  # batches one connectorx query streams (see ArrowPath.min_range_rows)

# PostgreSQL target type (normalized, parameters stripped) -> the kind the Arrow batch takes
_TARGET = {
    "smallint": "int16",
    "integer": "int32",
    "bigint": "int64",
    "double precision": "float64",
    "character varying": "varchar",
    "character": "char",
    "text": "text",
    "bytea": "blob",
    "date": "date",
    "timestamp without time zone": "timestamp",
    "boolean": "boolean",
}
# that kind -> source kinds the readers carry exactly into it
_CARRIES: dict[str, set[str]] = {
    "int16": {"int8", "int16"},
    "int32": {"int8", "int16", "int32"},
    "int64": {"int8", "int16", "int32", "int64"},
    "float64": {"float64"},
    "varchar": {"char", "varchar", "text"},
    "char": {"char", "varchar", "text"},
    "text": {"char", "varchar", "text"},
    "date": {"date"},
    "timestamp": {"timestamp"},
    "binary": {"binary", "varbinary", "blob"},
    "varbinary": {"binary", "varbinary", "blob"},
    "blob": {"binary", "varbinary", "blob"},
    "boolean": {"boolean"},
}
_TEXT = {"char", "varchar", "text"}
_PLAIN_PATH = re.compile(r"^[\w./-]+$")


def _arrow_type(kind: str) -> pa.DataType:
    import pyarrow as pa

    return {
        "int16": pa.int16(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
        "boolean": pa.bool_(),
        **dict.fromkeys(_TEXT, pa.string()),
        **dict.fromkeys(("binary", "varbinary", "blob"), pa.binary()),
    }[kind]


def available() -> bool:
    """Whether the columnar libraries import (they are dependencies of the default install)."""
    try:
        import adbc_driver_postgresql.dbapi  # noqa: F401
        import connectorx  # noqa: F401
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _url(ep: Endpoint, scheme: str, default_port: int) -> str:
    user = quote(ep.user or "", safe="")
    auth = f"{user}:{quote(ep.password, safe='')}@" if ep.password else (f"{user}@" if user else "")
    host = ep.host or ""
    port = f":{ep.port or default_port}" if host else ""
    return f"{scheme}://{auth}{host}{port}/{quote(ep.database or '', safe='')}"


class _Pool:
    """Idle driver connections, shared by the threads of one run; all closed at the end."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def take(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            conn = self._connect()
            with self._lock:
                self._all.append(conn)
            return conn

    def give(self, conn: Any) -> None:
        self._idle.put(conn)

    def discard(self, conn: Any) -> None:
        with self._lock:
            self._all.remove(conn)
        _close(conn)

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            _close(conn)


def _close(conn: Any) -> None:
    try:
        conn.close()
    except Exception as exc:  # closing is best effort
        log.debug("closing an ADBC connection: %s", first_line(exc))


class ArrowPath:
    """Arrow batches from the source's columnar reader into PostgreSQL through ADBC ingest."""

    def __init__(self, source: Dialect, target: Dialect, plan: TablePlan) -> None:
        import pyarrow as pa

        self.source = source
        self.target = target
        self.reader = "adbc" if source.name == "postgres" else "connectorx"
        self.name = f"arrow ({self.reader} -> adbc ingest)"
        kinds = [_target_kind(plan.types[t.name]) or "" for t in plan.target.columns]
        names = [t.name for t in plan.target.columns]
        self.schema = pa.schema(
            [pa.field(n, _arrow_type(k)) for n, k in zip(names, kinds, strict=True)]
        )
        self._texts = [i for i, k in enumerate(kinds) if k in _TEXT]
        self._row_bytes = 0.0  # the widest average row seen in a batch of this table
        self._batch_bytes = 0  # the byte budget of one batch, as the last read was given
        self._readers = _Pool(lambda: _adbc_connect(source.endpoint))
        self._writers = _Pool(lambda: _adbc_connect(target.endpoint))

    @property
    def min_range_rows(self) -> int:
        """Every connectorx query leaks ~43 KB and three threads (connectorx 0.4.6, measured:
        60 queries, 185 threads), so the pipeline reads consecutive planned key ranges as one
        of at least RANGE_BATCHES batches, each query streaming that many (:meth:`_stream`)."""
        if self.reader != "connectorx" or not self._row_bytes:
            return 0
        return int(RANGE_BATCHES * self._batch_bytes / self._row_bytes)

    # ------------------------------------------------------------------ reading
    def read(
        self, conn: Any, job: TableJob, chunk: Chunk, max_rows: int, max_bytes: int,
        stop: Callable[[], bool],
    ) -> Iterator[tuple[Any, int, int, float]]:  # fmt: skip
        self._batch_bytes = max_bytes
        last = chunk.lower[0] if chunk.lower is not None else None
        upper = chunk.upper[0] if chunk.upper is not None else None
        while True:
            segment = self._columnar(job, last, upper, max_rows, max_bytes, stop)
            try:
                while True:
                    table, n, nbytes, secs, top = next(segment)
                    yield table, n, nbytes, secs
                    last = top
            except StopIteration as done:
                why = done.value
            if why is None or stop():
                return
            # the planned chunk holding the next key takes the row path; after it, the
            # columnar path goes on (a merged range may span many planned chunks)
            part = next(p for p in chunk.planned() if p.upper is None or last is None
                        or p.upper[0] > last)  # fmt: skip
            end = part.upper[0] if part.upper is not None else None
            log.debug(
                "table `%s` %s: keys after %s take the row path (%s)",
                job.source.name, part.describe(), last, why,
            )  # fmt: skip
            rest = _rest(part, last)
            yield from read_rows(self.source, conn, job, rest, max_rows, max_bytes, stop)
            if end is None or end == upper or stop():
                return
            last = end

    def _columnar(
        self, job: TableJob, last: Any, upper: Any, max_rows: int, max_bytes: int,
        stop: Callable[[], bool],
    ) -> Generator[tuple[Any, int, int, float, Any], None, str | None]:  # fmt: skip
        """Batches of ``(last, upper]`` as the pipeline takes them, each with its highest
        key; returns why the rest needs the row path, or None when the range is done."""
        import pyarrow.compute as pc

        started = time.monotonic()
        for table, why in self._tables(job, last, upper, max_rows, max_bytes):
            if table is not None:
                why = self._not_plain(table)
            if why is not None:
                return why
            assert table is not None
            top = pc.max(table.column(job.key[0])).as_py()
            table = table.drop_columns([GUARD]) if GUARD in table.column_names else table
            try:
                table = table.rename_columns(self.schema.names).cast(self.schema)
            except Exception as exc:  # a value the target type cannot hold: the row path says
                return f"Arrow cast failed: {first_line(exc)}"
            n = table.num_rows
            # a batch lives twice: as read (the driver's buffer, then Arrow) and as written
            # (ADBC encodes the whole batch into one COPY buffer)
            nbytes = COPIES * table.nbytes
            self._row_bytes = max(self._row_bytes, nbytes / n)
            yield table, n, nbytes, time.monotonic() - started, top
            if stop():
                return None
            started = time.monotonic()
        return None

    def _tables(
        self, job: TableJob, last: Any, upper: Any, max_rows: int, max_bytes: int
    ) -> Iterator[tuple[pa.Table | None, str | None]]:
        """The key range ``(last, upper]`` as Arrow tables in key order, none empty, each
        within ``max_rows`` and (from the widest rows seen) ``max_bytes``; ``(None, why)``
        when the reader failed. The table's first batch is small and each next one at most
        twice the last, until its row width is known; then connectorx streams the rest of the
        range in one query (each connectorx call leaks ~43 KB: one call per batch grew the
        process by 100 MB over a 5M-row table), ADBC keeps one bounded query per batch on a
        pooled connection."""
        import pyarrow.compute as pc

        limit = max_rows if self._row_bytes else FIRST_ROWS
        while True:
            if self._row_bytes and self.reader == "connectorx":
                yield from self._stream(job, last, upper, max_rows, max_bytes)
                return
            if self._row_bytes:
                limit = min(limit, int(max_bytes / self._row_bytes))
            limit = max(1, min(limit, max_rows))
            why, table = self._fetch(job, last, upper, limit)
            if table is None:
                yield None, why
                return
            n = table.num_rows
            if n == 0:
                return
            yield table, None
            if n < limit:
                return
            last = pc.max(table.column(job.key[0])).as_py()
            limit *= 2

    def _stream(
        self, job: TableJob, last: Any, upper: Any, max_rows: int, max_bytes: int
    ) -> Iterator[tuple[pa.Table | None, str | None]]:
        """``(last, upper]`` in queries of RANGE_BATCHES batches, each streamed. A query is
        capped (LIMIT) because connectorx reads its result ahead of the consumer: uncapped, a
        query holds up to its whole key range (200k-row ranges of wide rows: 1 GB)."""
        import connectorx as cx
        import pyarrow as pa

        rows = max(1, min(max_rows, int(max_bytes / self._row_bytes)))
        limit = RANGE_BATCHES * rows
        url = _cx_url(self.source.endpoint)
        while True:
            got = 0
            try:
                sql = self._select(job, last, upper, limit)
                for batch in cx.read_sql(url, sql, return_type="arrow_stream", batch_size=rows):
                    if batch.num_rows:
                        got += batch.num_rows
                        last = batch.column(job.key[0])[-1].as_py()
                        yield pa.Table.from_batches([batch]), None
            except BaseException as exc:
                yield None, _reader_failed(exc)
                return
            if got < limit or (upper is not None and last >= upper):
                return

    def _fetch(
        self, job: TableJob, last: Any, upper: Any, limit: int
    ) -> tuple[str | None, pa.Table | None]:
        sql = self._select(job, last, upper, limit)
        try:
            if self.reader == "adbc":
                conn = self._readers.take()
                try:
                    with conn.cursor() as cur:
                        cur.execute(sql)
                        table = cur.fetch_arrow_table()
                    conn.commit()
                except BaseException:
                    self._readers.discard(conn)
                    raise
                self._readers.give(conn)
                return None, table
            import connectorx as cx

            return None, cx.read_sql(_cx_url(self.source.endpoint), sql, return_type="arrow")
        except BaseException as exc:
            return _reader_failed(exc), None

    def _select(self, job: TableJob, last: Any, upper: Any, limit: int | None) -> str:
        src = self.source
        key = src.quote(job.key[0])
        cols = [_select_expr(src, c) for c in job.source.columns]
        guard = _guard(src, job.source.columns)
        if guard:
            cols.append(f"{guard} AS {src.quote(GUARD)}")
        where = []
        if last is not None:
            where.append(f"{key} > {int(last)}")
        if upper is not None:
            where.append(f"{key} <= {int(upper)}")
        sql = f"SELECT {', '.join(cols)} FROM {src.qualified(job.source.name)}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {key}" + (f" LIMIT {int(limit)}" if limit is not None else "")
        if src.name == "sqlite":  # connectorx appends its own LIMIT to learn the result's types
            sql = f"SELECT * FROM ({sql})"
        # no driver merges parameters here: undo the doubled `%` of Dialect.sql_text
        return sql.replace("%%", "%") if src.placeholder == "%s" else sql

    def _not_plain(self, table: pa.Table) -> str | None:
        """Why this batch needs the row path, or None."""
        import pyarrow.compute as pc

        if GUARD in table.column_names and not pc.all(pc.equal(table[GUARD], 1)).as_py():
            return "a value the row path converts"
        for i in self._texts:
            if pc.any(pc.match_substring(table.column(i), "\x00")).as_py():
                return "a NUL character in text"
        return None

    # ------------------------------------------------------------------ writing
    def write(self, conn: Any, job: TableJob, payload: Any) -> int:
        if isinstance(payload, list):  # a row-path fallback batch
            return self.target.write_rows(conn, job.target, payload)
        adbc = self._writers.take()
        try:
            with adbc.cursor() as cur:
                cur.adbc_ingest(
                    job.target.name, payload, mode="append",
                    db_schema_name=self.target.endpoint.schema or None,
                )  # fmt: skip
            adbc.commit()
        except Exception as exc:
            self._writers.discard(adbc)  # closing rolls the batch back
            raise TransferError(f"ADBC ingest failed: {first_line(exc)}", job.target.name) from exc
        self._writers.give(adbc)
        return int(payload.num_rows)

    def close(self) -> None:
        self._readers.close()
        self._writers.close()


def _reader_failed(exc: BaseException) -> str:
    """Why a read failed, for the row path to take over; anything but a driver error or
    connectorx's Rust panic (a ``BaseException``) — GeneratorExit, Ctrl-C — goes on up."""
    if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
        raise exc
    return f"reader failed: {first_line(exc)}"


def _rest(chunk: Chunk, last: Any) -> Chunk:
    from dmt.pipeline.chunks import Chunk

    return Chunk(chunk.table, chunk.index, None if last is None else (last,), chunk.upper)


def _adbc_connect(ep: Endpoint) -> Any:
    import adbc_driver_postgresql.dbapi as pgdb

    try:
        return pgdb.connect(_url(ep, "postgresql", 5432))
    except Exception as exc:
        raise TransferError(
            f"ADBC could not connect to {ep.describe()}: {first_line(exc)}"
        ) from None


def _cx_url(ep: Endpoint) -> str:
    if ep.engine == "sqlite":
        return "sqlite://" + os.path.abspath(ep.path or "")
    return _url(ep, "mysql", 3306)


def _select_expr(src: Dialect, col: Column) -> str:
    q = src.quote(col.name)
    if src.name == "mysql" and col.type.kind in ("date", "timestamp"):
        return f"CASE WHEN {_zero_date(q)} THEN NULL ELSE {q} END AS {q}"  # no Rust panic
    return q


def _zero_date(q: str) -> str:
    return f"(YEAR({q}) = 0 OR MONTH({q}) = 0 OR DAYOFMONTH({q}) = 0)"


_INT_KINDS = ("int8", "int16", "int32", "int64")
# the storage class a SQLite value of these kinds must have (integers and booleans: see _guard)
_SQLITE_CLASS = {
    "float64": "'real'",
    **dict.fromkeys(_TEXT, "'text'"),
    **dict.fromkeys(("binary", "varbinary", "blob"), "'blob'"),
}
_DIGITS = "[0-9][0-9]"
_SQLITE_DATE = f"{_DIGITS}{_DIGITS}-{_DIGITS}-{_DIGITS}"
_SQLITE_TS = f"{_SQLITE_DATE} {_DIGITS}:{_DIGITS}:{_DIGITS}"


def _guard(src: Dialect, columns: tuple[Column, ...] | list[Column]) -> str | None:
    """An expression that is 1 where the row holds only values the readers carry as the row
    path would, per source engine; None when every value qualifies by its type alone.

    SQLite integer columns need no term: connectorx refuses a text, real or blob value in a
    column declared integer ("Invalid column type", tested), and the reader's failure sends
    that range to the row path; the ``typeof`` tests cost 1.2 s of CPU per 2M rows of `votes`
    (five integer columns), a fifth of the whole copy's."""
    terms: list[str] = []
    for col in columns:
        q, kind = src.quote(col.name), col.type.kind
        if src.name == "sqlite" and kind in _INT_KINDS:
            continue
        if src.name == "mysql" and kind in ("date", "timestamp"):
            terms.append(f"NOT {_zero_date(q)}")
        elif src.name == "postgres" and kind in ("date", "timestamp"):
            terms.append(f"isfinite({q})")
        elif src.name == "sqlite" and kind == "date":
            terms.append(f"(typeof({q}) = 'text' AND {q} GLOB '{_SQLITE_DATE}')")
        elif src.name == "sqlite" and kind == "timestamp":
            terms.append(
                f"(typeof({q}) = 'text' AND ({q} GLOB '{_SQLITE_TS}' "
                f"OR {q} GLOB '{_SQLITE_TS}.{_DIGITS}{_DIGITS}{_DIGITS}'))"
            )
        elif src.name == "sqlite" and kind == "boolean":
            terms.append(f"(typeof({q}) = 'integer' AND {q} IN (0, 1))")
        elif src.name == "sqlite":
            terms.append(f"typeof({q}) = {_SQLITE_CLASS[kind]}")
        else:
            continue
        terms[-1] = f"({q} IS NULL OR {terms[-1]})"
    if not terms:
        return None
    expr = " AND ".join(terms)
    return f"CASE WHEN {expr} THEN 1 ELSE 0 END"


def _target_kind(pg_type: str) -> str | None:
    from dmt.dialects.direct import base_type

    return _TARGET.get(base_type(pg_type))


def choose(source: Dialect, target: Dialect, plan: TablePlan) -> ArrowPath | None:
    """The columnar path for this table, or None."""
    if target.name != "postgres" or source.name not in ("postgres", "mysql", "sqlite"):
        return None
    if os.environ.get("DMT_COLUMNAR", "1") == "0" or not available():
        return None
    key = plan.source.primary_key
    if len(key) != 1:
        return None
    by_name = {c.name: c for c in plan.source.columns}
    if by_name[key[0]].type.kind not in _INT_KINDS:
        return None
    if source.name == "sqlite" and not _PLAIN_PATH.match(
        os.path.abspath(source.endpoint.path or "")
    ):
        return None
    for col, tcol in zip(plan.source.columns, plan.target.columns, strict=True):
        kinds = _CARRIES.get(_target_kind(plan.types[tcol.name]) or "")
        if (
            kinds is None
            or col.type.kind not in kinds
            or (col.type.unsigned and col.type.kind == "int64")
        ):
            return None
        if col.type.kind == "boolean" and source.name == "mysql":
            return None  # tinyint(1) arrives as int8, any value 0-255 in it
    return ArrowPath(source, target, plan)
