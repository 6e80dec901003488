"""The pipeline: owns the queues and threads, and applies runtime updates at safe boundaries.

::

    table drivers (tables_in_flight) ─ plan key ranges ─▶ executor: readers (parallel_readers
        per table, :mod:`~dmt.pipeline.executor`) ─▶ BatchQueue (read_ahead_buffers)
        ─▶ DynamicWriterPool (writers) ─▶ target

A table's rows move by its data path (:mod:`dmt.paths`, chosen before the run) or by the exact
row path; a path may hand a key range back to the row path (:mod:`~dmt.pipeline.reading`).
Writers drain the update slot after every batch (:mod:`~dmt.pipeline.knobs`): writer counts
apply at once, chunk_size / parallel_readers / read_ahead_buffers at the next table start (or
the next key range with ``chunk_size_at: chunk``; once chunk_size grows past the width the table
was planned with, readers take consecutive planned chunks as one key range, so batches can
grow). Checkpoints go to :class:`~dmt.pipeline.checkpoints.Checkpoints`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dmt.dialects.base import Dialect
from dmt.errors import Cancelled, DmtError, TransferError
from dmt.model.job import Batch, TableJob
from dmt.model.ranges import Chunk
from dmt.paths.base import DataPath
from dmt.pipeline.batchqueue import BatchQueue
from dmt.pipeline.checkpoints import Checkpoints
from dmt.pipeline.chunks import plan_chunks
from dmt.pipeline.executor import Executor, KeyRangeTasks, ThreadExecutor
from dmt.pipeline.failures import planning_failed, with_key_range
from dmt.pipeline.groupcommit import GroupCommit
from dmt.pipeline.knobs import Knobs, KnobUpdates
from dmt.pipeline.reading import RangeReader
from dmt.pipeline.stall import StallWatch
from dmt.pipeline.stats import PipelineCounters
from dmt.pipeline.stop import StopFlag
from dmt.pipeline.tracker import ChunkTracker, TableResult
from dmt.pipeline.updates import UpdateSlot
from dmt.pipeline.writer_pool import DynamicWriterPool
from dmt.pipeline.writing import BatchWriter
from dmt.progress import NullReporter, Reporter
from dmt.settings import Update, writer_bound

log = logging.getLogger("dmt.pipeline")


@dataclass
class PipelineResult:
    """What the copy did: each table's result, and the runtime changes applied."""

    tables: list[TableResult]
    applied: list[dict[str, Any]] = field(default_factory=list)


class Pipeline:
    """Copies ``jobs`` from ``source`` to ``target``; see the module docstring.

    ``paths`` maps a table to the data path that carries it (absent: the exact row path);
    ``abort`` is the user's cancel event (never set by the pipeline itself); ``executor`` runs
    each table's key-range tasks (default: threads); ``stall_timeout`` is
    :class:`~dmt.pipeline.stall.StallWatch`'s; ``start_for(job)`` gives a table's starting
    writers and chunk_size (a learned start), applied before its chunks are planned.
    """

    def __init__(
        self,
        source: Dialect,
        target: Dialect,
        jobs: list[TableJob],
        knobs: Knobs,
        counters: PipelineCounters | None = None,
        slot: UpdateSlot | None = None,
        reporter: Reporter | None = None,
        checkpoints: Checkpoints | None = None,
        abort: threading.Event | None = None,
        paths: Mapping[str, DataPath] | None = None,
        executor: Executor | None = None,
        stall_timeout: float = 300.0,
        start_for: Callable[[TableJob], Update | None] | None = None,
    ) -> None:
        self.source = source
        self.target = target
        self.jobs = jobs
        self.knobs = knobs
        self.paths = dict(paths or {})
        self.start_for = start_for  # a table's starting writers / chunk_size, if it has one
        self.counters = counters or PipelineCounters()
        self.reporter = reporter or NullReporter()
        self.checkpoints = checkpoints
        self.stop = StopFlag(abort)
        self._error_lock = threading.Lock()
        self._first_error: BaseException | None = None
        self._jobs_lock = threading.Lock()
        self._next_job = 0
        self.watch = StallWatch(stall_timeout, lambda err: self._fail(err, None))
        # a reader holds as many batches as the greediest data path of the run has it hold
        knobs.reader_batches = max([1, *(p.reader_batches for p in self.paths.values())])
        self.queue = BatchQueue(
            knobs.read_ahead_buffers, self._on_queue_change, knobs.queue_bytes()
        )
        self.stop.on_set(self.queue.abort)
        self.tracker = ChunkTracker(self._on_chunk_committed, self._on_table_done)
        self.writer = BatchWriter(
            target, self.paths, self.watch, self.counters, self.tracker, self.reporter,
            GroupCommit(target, lambda: len(self.queue), self.tracker.batch_written),
            failed=lambda: self.pool.skip_writes.is_set(), fail=lambda e: self._fail(e, None),
            after_batch=lambda: self.updates.drain(table_start=False),
        )  # fmt: skip
        self.pool = DynamicWriterPool(
            self.queue,
            connect=self.writer.connect,
            disconnect=self.writer.disconnect,
            write=self._write_batch,
            on_error=self._fail,
            on_size=lambda alive, target: self.counters.set(
                active_writers=alive, target_writers=target
            ),
        )
        self.updates = KnobUpdates(
            knobs, slot, writer_bound(target.max_writers),
            pool_target=lambda: self.writer_target, scale_writers=self.scale_writers,
            on_applied=self._on_knob_applied,
            current_table=lambda: self.counters.current_table,
        )  # fmt: skip
        self.reader = RangeReader(
            source, self.paths, knobs, self.queue, self.tracker, self.counters, checkpoints,
            self.stop, self.watch,
        )  # fmt: skip
        self.executor = executor or ThreadExecutor(
            connect=source.connect_reader, close=_close, on_error=lambda exc: self._fail(exc, None),
            on_worker=lambda n: self.counters.add("active_readers", n),
        )  # fmt: skip

    @property
    def applied(self) -> list[dict[str, Any]]:
        """The runtime changes applied so far (see :class:`~dmt.pipeline.knobs.KnobUpdates`)."""
        return self.updates.applied

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
        self.scale_writers(min(k.writers, self.updates.max_writers))
        drivers = [
            threading.Thread(target=self._drive_tables, name=f"dmt-table-{i + 1}")
            for i in range(max(1, min(k.tables_in_flight, len(self.jobs))))
        ]
        self.watch.start()
        try:
            for t in drivers:
                t.start()
            for t in drivers:
                t.join()
            self.queue.close()
            self.pool.join()
        finally:
            self.watch.stop()
        for path in {id(p): p for p in self.paths.values()}.values():
            path.close()  # connections a data path keeps of its own
        if self._first_error is not None:
            err = self._first_error
            if isinstance(err, DmtError):
                raise err
            raise TransferError(f"unexpected {type(err).__name__}: {err}") from err
        if self.stop.is_set():
            raise Cancelled()
        return PipelineResult(tables=self.tracker.results(), applied=self.applied)

    def _fail(self, exc: BaseException, batch: Batch | None) -> None:
        """Keep the first error, then stop: no new work, queued batches dropped."""
        exc = with_key_range(exc, batch)
        with self._error_lock:
            if self._first_error is None:
                self._first_error = exc
                log.debug("stopping after error: %s", exc)
        self.counters.add("errors")
        self.stop.set()
        self.pool.skip_writes.set()
        self.queue.drain()

    # ------------------------------------------------------------------ tables
    def path_name(self, job: TableJob) -> str:
        """Which data path carries this table, for --verbosity debug and the result."""
        path = self.paths.get(job.source.name)
        return path.name if path is not None else "rows"

    def _take_job(self) -> TableJob | None:
        with self._jobs_lock:
            if self._next_job >= len(self.jobs) or self.stop.is_set():
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
                    raise planning_failed(self.source, self.target, job, exc) from exc
        except BaseException as exc:
            self._fail(exc, None)
        finally:
            if conn is not None:
                _close(conn)

    def _copy_table(self, conn: Any, job: TableJob) -> None:
        name = job.source.name
        self.counters.set(current_table=name, column_count=len(job.source.columns))
        self.updates.drain(table_start=True)
        if self.start_for is not None and (start := self.start_for(job)) is not None:
            self.updates.start(start)
        k = self.knobs
        self._fit_memory()
        chunk_size = k.chunk_size
        if self.checkpoints is not None:
            todo = self.checkpoints.chunks_for(job, conn, chunk_size)
        else:
            todo = plan_chunks(self.source, conn, job.source, job.key, chunk_size)
        log.debug("table `%s`: %s chunk(s) of %s rows to copy, path=%s", name,
                  f"{len(todo):,}", f"{chunk_size:,}", self.path_name(job))  # fmt: skip
        self.tracker.start_table(job, len(todo), self.path_name(job))
        self.reporter.start_table(name, job.source.row_estimate)

        def on_width(n: int) -> None:
            log.debug("table `%s`: reading %d planned chunk(s) per range (chunk_size %d)",
                      name, n, self.knobs.chunk_size)  # fmt: skip

        tasks = KeyRangeTasks(todo, lambda: self._chunks_per_read(chunk_size, job),
                              self.stop.is_set, on_width)  # fmt: skip
        self.run_tasks(conn, job, tasks)
        self.tracker.reading_done(job)

    # a pipeline whose executor copies key ranges end to end elsewhere overrides these three
    def run_tasks(self, conn: Any, job: TableJob, tasks: KeyRangeTasks) -> None:
        """Run the table's key-range tasks: read here, queued for the writer pool."""
        read = self.reader.read
        self.executor.run(tasks, lambda c, chunk: read(c, job, chunk), self.knobs.parallel_readers,
                          conn)  # fmt: skip

    writer_target = property(lambda self: self.pool.target)

    def scale_writers(self, n: int) -> Any:
        return self.pool.scale_workers(n)

    def _chunks_per_read(self, planned: int, job: TableJob) -> int:
        """How many planned chunks (``planned`` rows each) one read takes. With ``chunk_size_at:
        chunk`` a chunk_size raised past the plan would otherwise never reach the batches (a
        batch never spans two ranges), so consecutive chunks are read as one range; and a data
        path may ask for ranges of at least ``min_range_rows`` (each connectorx query leaks)."""
        n = 1
        if self.knobs.chunk_size_at == "chunk":
            n = max(1, round(self.knobs.chunk_size / planned))
        path = self.paths.get(job.source.name)
        floor = path.min_range_rows if path is not None else 0
        return max(n, -(-floor // max(1, planned)))

    def _write_batch(self, conn: Any, batch: Batch) -> None:
        self.writer.write(conn, batch)

    # ------------------------------------------------------------------ callbacks
    def _on_queue_change(self, depth: int, nbytes: int) -> None:
        self.counters.set(queue_depth=depth)
        if nbytes > self.counters.max_queue_bytes:
            self.counters.set(max_queue_bytes=nbytes)

    def _fit_memory(self) -> None:
        """The queue's bounds and the batch budget for the knobs as they are now (the
        writer count changes the budget's split; it is applied at table starts)."""
        k = self.knobs
        self.queue.set_capacity(k.read_ahead_buffers, k.queue_bytes())
        self.counters.set(
            queue_capacity=k.read_ahead_buffers, batch_budget=k.batch_bytes(),
            reader_slots=k.reader_slots(),
        )  # fmt: skip

    def _on_knob_applied(self, knob: str, value: int) -> None:
        if knob in ("read_ahead_buffers", "parallel_readers"):
            self._fit_memory()
        if knob == "chunk_size":
            self.counters.set(chunk_size=value)

    def _on_chunk_committed(self, job: TableJob, chunk: Chunk, rows: int) -> None:
        if self.checkpoints is not None:
            self.checkpoints.chunk_committed(job, chunk, rows)

    def _on_table_done(self, result: TableResult) -> None:
        if self.checkpoints is not None:
            self.checkpoints.table_done(self.tracker.job(result.name), result)
        self.counters.add("tables_done")
        self.reporter.finish_table(result.name, result.rows)
        log.debug(
            "table `%s`: %s rows in %.2fs (query %.0f%%, write %.0f%%, waiting %.0f%%)",
            result.name, f"{result.rows:,}", result.seconds, *result.split(),
        )  # fmt: skip
        if result.merged:
            log.debug("table `%s`: %d of %d planned chunk(s) read in merged ranges",
                      result.name, result.merged, result.chunks)  # fmt: skip


def _close(conn: Any) -> None:
    try:
        conn.close()
    except Exception as exc:  # a broken connection cannot be closed cleanly; nothing to do
        log.debug("closing a connection failed: %s", exc)
