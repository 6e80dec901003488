"""The columnar data path: Arrow batches read in C or Rust, written by ADBC ingest.

The source's ``columnar_reader`` reads it (connectorx for MySQL and SQLite, the ADBC driver for
PostgreSQL, DuckDB's own driver: "native"); a target with ``columnar_writer`` "adbc" loads it
by ADBC ingest (PostgreSQL: binary COPY built in C++; SQLite: prepared inserts in one
transaction, in C), one with "tsv" (MySQL) by LOAD DATA of the tab-separated text its
``columnar_encode`` builds, one with "native" (DuckDB) by its own ``columnar_write``. Rows never
become Python objects, which is what lets MySQL -> PostgreSQL pass PyMySQL's pure-Python
ceiling.

It carries a table only when all of this holds (:func:`choose`), else the exact row path does:

- a single-column integer primary key: a batch is ``key > last ... ORDER BY key LIMIT n``, so
  each query is bounded in rows and, from the widest batch seen, in bytes;
- every column is of a kind whose reader is exact for it (``../shared/notes/columnar-readers.md``:
  no decimals — connectorx truncates them —, no time, interval, json, enum …), see ``_CARRIES``
  and the target's :meth:`~dmt.dialects.base.Dialect.columnar_kind`;
- the endpoints can be spelled as a URL the readers take.

Values the exact path would convert (a MySQL zero date, a SQLite value stored with another type
than declared, a PostgreSQL ±infinity, a NUL character bound for PostgreSQL text) are detected
per batch — by a guard column the source computes (the source's
:meth:`~dmt.dialects.base.Dialect.columnar_guard`), or in Arrow — and the rest of that chunk then
takes the row path (the path yields a :class:`~dmt.paths.base.RowFallback`), so what lands is
what the row path would have written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

from dmt.dialects.base import Dialect
from dmt.errors import TransferError, first_line
from dmt.model.job import TableJob
from dmt.model.ranges import Chunk
from dmt.model.schema import INT_KINDS
from dmt.paths.base import Read, RowFallback
from dmt.paths.columnar_support import (
    CARRIES,
    COPIES,
    GUARD,
    TEXT,
    ConnectionPool,
    InfileCheck,
    arrow_bytes,
    arrow_type,
    available,
    columnar_select,
    reader_failed,
    returning_pool,
    tsv_bytes,
    within_budget,
)
from dmt.schema.translate import TablePlan

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("dmt.pipeline")

FIRST_ROWS = 4  # the first batch of a table: its rows may be of any width
RANGE_BATCHES = 4  # batches one connectorx query streams (see ArrowPath.min_range_rows)
#: the target's ``columnar_writer`` -> how a batch is loaded, as the path's name says it
_WRITERS = {"adbc": "adbc ingest", "tsv": "load data", "native": "native insert"}


class ArrowPath:
    """Arrow batches from the source's columnar reader into the target through ADBC ingest."""

    def __init__(self, source: Dialect, target: Dialect, plan: TablePlan) -> None:
        import pyarrow as pa

        returning_pool()
        self.source = source
        self.target = target
        self.reader = source.columnar_reader
        self._url = source.columnar_url() or ""  # connectorx's; choose() made sure of it
        self.writer = target.columnar_writer
        self.name = f"arrow ({self.reader} -> {_WRITERS[self.writer or '']})"
        kinds = [target.columnar_kind(plan.types[t.name]) or "" for t in plan.target.columns]
        names = [t.name for t in plan.target.columns]
        self.schema = pa.schema(
            [pa.field(n, arrow_type(k)) for n, k in zip(names, kinds, strict=True)]
        )
        self._texts = [i for i, k in enumerate(kinds) if k in TEXT]
        self._row_bytes = 0.0  # the widest average row seen in a batch of this table
        self._batch_bytes = 0  # the byte budget of one batch, as the last read was given
        self._readers = ConnectionPool(source.columnar_connect)
        self._writers = ConnectionPool(target.columnar_connect)
        self._writing: dict[int, Any] = {}  # id(pipeline connection) -> its ADBC connection
        self._infile = InfileCheck(target) if self.writer == "tsv" else None

    @property
    def reader_batches(self) -> int:
        """The batch yielded, and a connectorx query's RANGE_BATCHES read ahead (as COPIES)."""
        return 1 + -(-RANGE_BATCHES // COPIES) if self.reader == "connectorx" else 1

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
    ) -> Iterator[Read | RowFallback]:  # fmt: skip
        self._batch_bytes = max_bytes
        if self._infile is not None and not self._infile.usable():
            yield RowFallback(chunk, "the target refuses LOAD DATA LOCAL INFILE")
            return
        last = chunk.lower[0] if chunk.lower is not None else None
        upper = chunk.upper[0] if chunk.upper is not None else None
        while True:
            segment = self._columnar(job, last, upper, max_rows, max_bytes, stop)
            try:
                while True:
                    table, n, nbytes, secs, top = next(segment)
                    yield table, n, nbytes, secs
                    del table  # not held while the next batch is read
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
            lower = None if last is None else (last,)
            yield RowFallback(Chunk(part.table, part.index, lower, part.upper), why)
            if end is None or end == upper or stop():
                return
            last = end

    def _columnar(
        self, job: TableJob, last: Any, upper: Any, max_rows: int, max_bytes: int,
        stop: Callable[[], bool],
    ) -> Generator[tuple[Any, int, int, float, Any], None, str | None]:  # fmt: skip
        """Batches of ``(last, upper]`` as the pipeline takes them, each with its highest
        key; returns why the rest needs the row path, or None when the range is done."""
        started = time.monotonic()
        for table, why in self._tables(job, last, upper, max_rows, max_bytes):
            if table is not None:
                why = self._not_plain(table)
            if why is not None:
                return why
            assert table is not None
            keys = table.column(job.key[0])  # ascending: the query orders by it
            table = table.drop_columns([GUARD]) if GUARD in table.column_names else table
            try:
                table = table.rename_columns(self.schema.names).cast(self.schema)
            except Exception as exc:  # a value the target type cannot hold: the row path says
                return f"Arrow cast failed: {first_line(exc)}"
            encoded, why = self.target.columnar_encode(table)
            if encoded is None:
                return why
            table = encoded
            n = table.num_rows
            nbytes = arrow_bytes(table)
            self._row_bytes = max(self._row_bytes, nbytes / n)
            secs = time.monotonic() - started
            for part, rows, size, top in within_budget(table, keys, nbytes, max_bytes):
                yield part, rows, size, secs * rows / n, top
                del part  # not held while the next batch is read
            del table, keys
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
            top = pc.max(table.column(job.key[0])).as_py()
            box, table = [table], None  # handed over: not held here while the pipeline does
            yield box.pop(), None
            if n < limit:
                return
            last = top
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
        url = self._url
        while True:
            got = 0
            try:
                sql = self._select(job, last, upper, limit)
                for batch in cx.read_sql(url, sql, return_type="arrow_stream", batch_size=rows):
                    if batch.num_rows:
                        got += batch.num_rows
                        last = batch.column(job.key[0])[-1].as_py()
                        box = [pa.Table.from_batches([batch])]  # handed over (see _tables)
                        del batch
                        yield box.pop(), None
            except BaseException as exc:
                yield None, reader_failed(exc)
                return
            if got < limit or (upper is not None and last >= upper):
                return

    def _fetch(
        self, job: TableJob, last: Any, upper: Any, limit: int
    ) -> tuple[str | None, pa.Table | None]:
        sql = self._select(job, last, upper, limit)
        try:
            if self.reader != "connectorx":
                conn = self._readers.take()
                try:
                    self.source.columnar_begin(conn)  # inside the run's snapshot, if any
                    table = self.source.columnar_fetch(conn, sql)
                except BaseException:
                    self._readers.discard(conn)
                    raise
                self._readers.give(conn)
                return None, table
            import connectorx as cx

            return None, cx.read_sql(self._url, sql, return_type="arrow")
        except BaseException as exc:
            return reader_failed(exc), None

    def _select(self, job: TableJob, last: Any, upper: Any, limit: int | None) -> str:
        return columnar_select(self.source, job.source, job.key[0], last, upper, limit)

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
        if self.writer == "tsv":  # on the pipeline's own connection; the dialect commits
            data = tsv_bytes(payload)
            return self.target.load_tsv(conn, job.target, lambda f: f.write(data), payload.num_rows)
        if self.writer == "native":  # on the pipeline's own connection, like "tsv"
            return self.target.columnar_write(conn, job.target, payload)
        with self.target.exclusive_writes():
            adbc = self._writers.take()
            self._writing[id(conn)] = adbc
            try:
                with adbc.cursor() as cur:
                    cur.adbc_ingest(
                        job.target.name, payload, mode="append",
                        db_schema_name=self.target.endpoint.schema or None,
                    )  # fmt: skip
                adbc.commit()
            except Exception as exc:
                self._writers.discard(adbc)  # closing rolls the batch back
                msg = f"ADBC ingest failed: {first_line(exc)}"
                raise TransferError(msg, job.target.name) from exc
            finally:
                self._writing.pop(id(conn), None)
            self._writers.give(adbc)
        return int(payload.num_rows)

    def session_conn(self, conn: Any) -> Any:
        return self._writing.get(id(conn), conn)

    def close(self) -> None:
        self._readers.close()
        self._writers.close()


def choose_columnar(source: Dialect, target: Dialect, plan: TablePlan) -> ArrowPath | None:
    """The columnar path for this table, or None."""
    if source.columnar_reader is None or target.columnar_writer not in _WRITERS:
        return None
    if not (available() and source.columnar_available() and target.columnar_available()):
        return None
    key = plan.source.primary_key
    if len(key) != 1:
        return None
    by_name = {c.name: c for c in plan.source.columns}
    if by_name[key[0]].type.kind not in INT_KINDS:
        return None
    if source.columnar_url() is None:
        return None
    if source.in_snapshot and not source.columnar_in_snapshot:
        return None  # its reader opens connections of its own, outside the run's snapshot
    for col, tcol in zip(plan.source.columns, plan.target.columns, strict=True):
        kinds = CARRIES.get(target.columnar_kind(plan.types[tcol.name]) or "")
        if (
            kinds is None
            or col.type.kind not in kinds
            or (col.type.unsigned and col.type.kind == "int64")
        ):
            return None
        if not source.columnar_carries(col):
            return None
    return ArrowPath(source, target, plan)
