"""The pipeline: owns the queues and threads, and applies runtime updates at safe boundaries.

::

    table drivers (workers) ─ plan chunks ─▶ readers (parallel_readers per table)
        ─▶ BatchQueue (read_ahead_buffers) ─▶ DynamicWriterPool (writers) ─▶ target

Writers drain the update slot after every batch: writer counts apply at once (between
chunks), chunk_size / parallel_readers / read_ahead_buffers at the next table start (or the
next chunk with ``chunk_size_at: chunk``; once chunk_size grows past the width the table was
planned with, readers take consecutive planned chunks as one key range, so batches can grow).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from dmt.dialects.base import Dialect, Row
from dmt.errors import (
    Cancelled,
    ConnectionLost,
    DmtError,
    TransferError,
)
from dmt.pipeline.batchqueue import Batch, BatchQueue
from dmt.pipeline.chunks import Chunk, plan_chunks, take_adjacent
from dmt.pipeline.reader import read_rows
from dmt.pipeline.stats import PipelineCounters
from dmt.pipeline.tracker import ChunkTracker, TableResult
from dmt.pipeline.updates import UpdateSlot
from dmt.pipeline.writer_pool import DynamicWriterPool
from dmt.progress import NullReporter, Reporter
from dmt.schema.model import Table
from dmt.settings import KNOBS, Update, writer_bound

log = logging.getLogger("dmt.pipeline")


class DataPath(Protocol):
    """A way to move one chunk other than Python rows (e.g. a COPY stream passed through).

    ``read`` yields ``(payload, rows, bytes, read_seconds)`` per batch, each payload bounded by
    ``max_rows`` and ``max_bytes``; ``write`` loads one payload on the target and commits. A
    path may fall back to the exact row path for part of a chunk: such a payload is a list of
    converted rows, which ``write`` hands to the target dialect's ``write_rows``.
    """

    name: str

    @property
    def min_range_rows(self) -> int:
        """The fewest rows one read should cover: the pipeline merges consecutive planned
        key ranges up to it (0: read ranges as planned)."""

    def read(
        self, conn: Any, job: TableJob, chunk: Chunk, max_rows: int, max_bytes: int,
        stop: Callable[[], bool],
    ) -> Iterator[tuple[Any, int, int, float]]: ...  # fmt: skip

    def write(self, conn: Any, job: TableJob, payload: Any) -> int: ...

    def close(self) -> None:
        """Release what the path holds of its own (e.g. driver connections); once per run."""


@dataclass(frozen=True)
class TableJob:
    """One table to copy: as the source has it, as the target has it, its chunk key, and the
    data path: Python rows through ``convert`` (the exact path), or a :class:`DataPath`."""

    source: Table
    target: Table
    key: tuple[str, ...]
    convert: Callable[[list[Row]], list[Row]] | None = None
    direct: DataPath | None = None

    @property
    def path(self) -> str:
        """Which data path carries this table, for --verbosity debug and the result."""
        return self.direct.name if self.direct is not None else "rows"


@dataclass
class Knobs:
    """The runtime-adjustable settings, plus the fixed ones they are checked against."""

    workers: int
    chunk_size: int
    parallel_readers: int
    read_ahead_buffers: int
    writers: int
    max_memory_mb: int
    chunk_size_at: str = "table"

    def batch_bytes(self) -> int:
        """Byte budget of one batch: the memory budget shared by every batch that can exist."""
        slots = self.read_ahead_buffers + self.writers + self.workers * self.parallel_readers
        return max(64 * 1024, self.max_memory_mb * 1024 * 1024 // max(1, slots))


class Hooks(Protocol):
    """Checkpointing (the state store) seen from the pipeline; called from its threads.

    ``chunks_for`` decides which chunks of a table still need copying (and cleans the target
    of a chunk that was in flight when an earlier run died); ``chunk_started`` is called
    before the first batch of a chunk is queued, ``chunk_committed`` after its last batch is
    committed on the target.
    """

    def chunks_for(self, job: TableJob, conn: Any, chunk_size: int) -> list[Chunk]: ...
    def chunk_started(self, job: TableJob, chunk: Chunk) -> None: ...
    def chunk_committed(self, job: TableJob, chunk: Chunk, rows: int) -> None: ...
    def table_done(self, job: TableJob, result: TableResult) -> None: ...


@dataclass
class PipelineResult:
    tables: list[TableResult]
    applied: list[dict[str, Any]] = field(default_factory=list)


class Pipeline:
    """Copies ``jobs`` from ``source`` to ``target``; see the module docstring."""

    def __init__(
        self,
        source: Dialect,
        target: Dialect,
        jobs: list[TableJob],
        knobs: Knobs,
        counters: PipelineCounters | None = None,
        slot: UpdateSlot | None = None,
        reporter: Reporter | None = None,
        hooks: Hooks | None = None,
        abort: threading.Event | None = None,
    ) -> None:
        self.source = source
        self.target = target
        self.jobs = jobs
        self.knobs = knobs
        self.counters = counters or PipelineCounters()
        self.slot = slot
        self.reporter = reporter or NullReporter()
        self.hooks = hooks
        self.abort = abort or threading.Event()
        self.applied: list[dict[str, Any]] = []
        self._pending: dict[str, int] = {}
        self._pending_source = Update()
        self._update_lock = threading.Lock()
        self._error_lock = threading.Lock()
        self._first_error: BaseException | None = None
        self._started = time.monotonic()
        self._jobs_lock = threading.Lock()
        self._next_job = 0
        self.queue = BatchQueue(knobs.read_ahead_buffers, self._on_queue_change)
        self.tracker = ChunkTracker(self._on_chunk_committed, self._on_table_done)
        self._max_writers = writer_bound(target.max_writers)
        self.pool = DynamicWriterPool(
            self.queue,
            connect=self._writer_connect,
            disconnect=self._writer_disconnect,
            write=self._write_batch,
            on_error=self._fail,
            on_size=lambda alive, target: self.counters.set(
                active_writers=alive, target_writers=target
            ),
        )

    # ------------------------------------------------------------------ run
    def run(self) -> PipelineResult:
        """Copy every job; raise the first error (chained) or Cancelled."""
        k = self.knobs
        self.counters.set(
            tables_total=len(self.jobs),
            queue_capacity=k.read_ahead_buffers,
            chunk_size=k.chunk_size,
            rows_expected=sum(j.source.row_estimate for j in self.jobs),
        )
        self.pool.scale_workers(min(k.writers, self._max_writers))
        drivers = [
            threading.Thread(target=self._drive_tables, name=f"dmt-table-{i + 1}")
            for i in range(max(1, min(k.workers, len(self.jobs))))
        ]
        for t in drivers:
            t.start()
        for t in drivers:
            t.join()
        self.queue.close()
        self.pool.join()
        for path in {id(j.direct): j.direct for j in self.jobs if j.direct is not None}.values():
            path.close()  # connections a data path keeps of its own
        if self._first_error is not None:
            err = self._first_error
            if isinstance(err, DmtError):
                raise err
            raise TransferError(f"unexpected {type(err).__name__}: {err}") from err
        if self.abort.is_set():
            raise Cancelled()
        return PipelineResult(tables=self.tracker.results(), applied=self.applied)

    def _fail(self, exc: BaseException, batch: Batch | None) -> None:
        if batch is not None and isinstance(exc, DmtError) and not isinstance(exc, Cancelled):
            if isinstance(exc, TransferError) and exc.key_range is None:
                wrapped = TransferError(
                    str(exc).split(": ", 1)[-1], batch.job.source.name, batch.chunk.describe()
                )
                wrapped.__cause__ = exc.__cause__ or exc
                exc = wrapped
        elif batch is not None and not isinstance(exc, DmtError):
            wrapped = TransferError(
                f"{type(exc).__name__}: {exc}", batch.job.source.name, batch.chunk.describe()
            )
            wrapped.__cause__ = exc
            exc = wrapped
        with self._error_lock:
            if self._first_error is None:
                self._first_error = exc
                log.debug("stopping after error: %s", exc)
        self.counters.add("errors")
        self.abort.set()
        self.pool.skip_writes.set()
        self.queue.drain()

    # ------------------------------------------------------------------ tables and readers
    def _take_job(self) -> TableJob | None:
        with self._jobs_lock:
            if self._next_job >= len(self.jobs) or self.abort.is_set():
                return None
            job = self.jobs[self._next_job]
            self._next_job += 1
            return job

    def _drive_tables(self) -> None:
        conn = None
        try:
            while (job := self._take_job()) is not None:
                if conn is None:
                    conn = self.source.connect()
                try:
                    self._copy_table(conn, job)
                except DmtError:
                    raise
                except Exception as exc:  # planning failed: name the table
                    raise self.source.translate_error(
                        exc, "planning failed", job.source.name
                    ) from exc
        except BaseException as exc:
            self._fail(exc, None)
        finally:
            if conn is not None:
                _close(conn)

    def _copy_table(self, conn: Any, job: TableJob) -> None:
        name = job.source.name
        self.counters.set(current_table=name, column_count=len(job.source.columns))
        self._drain_updates(table_start=True)
        k = self.knobs
        chunk_size = k.chunk_size
        if self.hooks is not None:
            todo = self.hooks.chunks_for(job, conn, chunk_size)
        else:
            todo = plan_chunks(self.source, conn, job.source, job.key, chunk_size)
        log.debug(
            "table `%s`: %d chunk(s) of %d rows to copy, path=%s",
            name, len(todo), chunk_size, job.path,
        )  # fmt: skip
        self.tracker.start_table(job, len(todo))
        self.reporter.start_table(name, job.source.row_estimate)
        lock = threading.Lock()
        pending = deque(todo)
        width = 1  # planned chunks per read

        def next_chunk() -> Chunk | None:
            nonlocal width
            with lock:
                if not pending or self.abort.is_set():
                    return None
                n = self._chunks_per_read(chunk_size, job)
                if n != width:
                    width = n
                    log.debug(
                        "table `%s`: reading %d planned chunk(s) per range (chunk_size %d)",
                        name, n, self.knobs.chunk_size,
                    )  # fmt: skip
                return take_adjacent(pending, n)

        n_readers = max(1, min(k.parallel_readers, len(todo)))
        extra = [
            threading.Thread(
                target=self._reader_thread, args=(None, job, next_chunk), name=f"dmt-reader-{i}"
            )
            for i in range(n_readers - 1)
        ]
        for t in extra:
            t.start()
        self._reader_thread(conn, job, next_chunk)
        for t in extra:
            t.join()
        self.tracker.reading_done(job)

    def _chunks_per_read(self, planned: int, job: TableJob) -> int:
        """How many planned chunks (``planned`` rows each) one read takes. With ``chunk_size_at:
        chunk`` a chunk_size raised past the plan would otherwise never reach the batches (a
        batch never spans two ranges), so consecutive chunks are read as one range; and a data
        path may ask for ranges of at least ``min_range_rows`` (each connectorx query leaks)."""
        n = 1
        if self.knobs.chunk_size_at == "chunk":
            n = max(1, round(self.knobs.chunk_size / planned))
        floor = job.direct.min_range_rows if job.direct is not None else 0
        return max(n, -(-floor // max(1, planned)))

    def _reader_thread(
        self, conn: Any, job: TableJob, next_chunk: Callable[[], Chunk | None]
    ) -> None:
        own = conn is None
        self.counters.add("active_readers")
        try:
            if own:
                conn = self.source.connect()
            while (chunk := next_chunk()) is not None:
                self._read_one(conn, job, chunk)
        except BaseException as exc:
            if own:
                self._fail(exc, None)
            else:
                raise
        finally:
            self.counters.add("active_readers", -1)
            if own and conn is not None:
                _close(conn)

    def _read_one(self, conn: Any, job: TableJob, chunk: Chunk) -> None:
        seq = 0
        try:
            for payload, nrows, nbytes, secs in self._batches(conn, job, chunk):
                self.counters.record_read(secs)
                if nrows:
                    self.counters.set(avg_row_bytes=nbytes / nrows)
                self.tracker.add_read(job, secs)
                batch = Batch(job, chunk, seq, payload, nbytes, nrows=nrows, read_seconds=secs)
                if seq == 0 and self.hooks is not None:
                    self.hooks.chunk_started(job, chunk)
                seq += 1
                self.counters.add("batches_in_flight")
                waited = self.queue.put(batch, self.abort)
                self.counters.record_wait(waited)
                self.tracker.add_wait(job, waited)
        except Exception as exc:
            err = self.source.translate_error(exc, "read failed", job.source.name, chunk.describe())
            if err is exc and not isinstance(exc, ConnectionLost):  # ours: name table and range
                err = TransferError(str(exc), job.source.name, chunk.describe())
            raise err from exc
        if not self.abort.is_set():
            self.tracker.chunk_read(job, chunk, seq)

    def _batches(
        self, conn: Any, job: TableJob, chunk: Chunk
    ) -> Iterator[tuple[Any, int, int, float]]:
        k = self.knobs
        if job.direct is not None:
            yield from job.direct.read(
                conn, job, chunk, k.chunk_size, k.batch_bytes(), self.abort.is_set
            )
            return
        yield from read_rows(
            self.source, conn, job, chunk, k.chunk_size, k.batch_bytes(), self.abort.is_set
        )

    # ------------------------------------------------------------------ writers
    def _writer_connect(self) -> Any:
        conn = self.target.connect()
        self.target.begin_load(conn)
        return conn

    def _writer_disconnect(self, conn: Any) -> None:
        try:
            self.target.end_load(conn)
        finally:
            _close(conn)

    def _write_batch(self, conn: Any, batch: Batch) -> None:
        t0 = time.monotonic()
        job = batch.job
        try:
            if job.direct is not None:
                n = job.direct.write(conn, job, batch.rows)
            else:
                n = self.target.write_rows(conn, job.target, batch.rows)
        except Exception as exc:
            # the batch may or may not be committed: its chunk stays not-done, and a retry or
            # resume removes the chunk from the target before copying it again
            err = self.target.translate_error(
                exc, "write failed", job.source.name, batch.chunk.describe()
            )
            if isinstance(err, ConnectionLost) and err is not exc:
                raise err from exc
            raise
        finally:
            self.counters.add("batches_in_flight", -1)
        secs = time.monotonic() - t0
        self.counters.record_write(n, batch.nbytes, secs)
        self.tracker.add_write(batch.job, secs)
        self.reporter.advance(batch.job.source.name, n)
        self.tracker.batch_written(batch, n)
        self._drain_updates(table_start=False)

    def _on_queue_change(self, depth: int) -> None:
        self.counters.set(queue_depth=depth)

    def _on_chunk_committed(self, job: TableJob, chunk: Chunk, rows: int) -> None:
        if self.hooks is not None:
            self.hooks.chunk_committed(job, chunk, rows)

    def _on_table_done(self, result: TableResult) -> None:
        if self.hooks is not None:
            self.hooks.table_done(self.tracker.job(result.name), result)
        self.counters.add("tables_done")
        self.reporter.finish_table(result.name, result.rows)
        log.debug(
            "table `%s`: %d rows in %.2fs (query %.0f%%, write %.0f%%, waiting %.0f%%)",
            result.name, result.rows, result.seconds, *result.split(),
        )  # fmt: skip
        if result.merged:
            log.debug(
                "table `%s`: %d of %d planned chunk(s) read in merged ranges",
                result.name, result.merged, result.chunks,
            )  # fmt: skip

    # ------------------------------------------------------------------ runtime updates
    def _drain_updates(self, table_start: bool) -> None:
        with self._update_lock:
            upd = self.slot.take() if self.slot is not None else None
            if upd is not None:
                self._accept(upd)
            if table_start or self.knobs.chunk_size_at == "chunk":
                self._apply_pending()

    def _accept(self, upd: Update) -> None:
        for knob in ("writers", "chunk_size", "parallel_readers", "read_ahead_buffers"):
            value = getattr(upd, knob)
            if value is None:
                continue
            lo, hi = KNOBS[knob].low, KNOBS[knob].high
            if not lo <= value <= hi:
                log.warning("ignored runtime update %s=%s: outside %d-%d", knob, value, lo, hi)
                continue
            if knob == "writers":
                value = min(value, self._max_writers)
                before, after = self.pool.target, value
                if before != after:
                    self.pool.scale_workers(after)
                    self.knobs.writers = after
                    log.info("Scaled writers from %d to %d", before, after)
                    self._record(upd, knob, before, after)
            else:
                self._pending[knob] = value
                self._pending_source = upd

    def _apply_pending(self) -> None:
        for knob, value in self._pending.items():
            before = getattr(self.knobs, knob)
            if before == value:
                continue
            setattr(self.knobs, knob, value)
            if knob == "read_ahead_buffers":
                self.queue.set_capacity(value)
                self.counters.set(queue_capacity=value)
            if knob == "chunk_size":
                self.counters.set(chunk_size=value)
            log.info("Changed %s from %d to %d", knob, before, value)
            self._record(self._pending_source, knob, before, value)
        self._pending.clear()

    def _record(self, upd: Update, knob: str, before: int, after: int) -> None:
        self.applied.append(
            {
                "at_seconds": round(time.monotonic() - self._started, 3),
                "knob": knob,
                "before": before,
                "after": after,
                "source": upd.source,
                "action": upd.action,
                "decision_id": upd.decision_id,
                "table": self.counters.current_table,
            }
        )


def _close(conn: Any) -> None:
    try:
        conn.close()
    except Exception as exc:  # a broken connection cannot be closed cleanly; nothing to do
        log.debug("closing a connection failed: %s", exc)
