"""The pipeline with its key ranges copied end to end by Ray tasks.

The driver (this process) keeps everything but the rows: it plans each table's key ranges
and cleans a resumed table's ranges in flight (:class:`~dmt.pipeline.pipeline.Pipeline`,
unchanged), then dispatches the ranges as tasks (:mod:`dmt.cluster.task`). A range is
*started* in the state store before its task is submitted and *done* only after the task
returned success; a task that failed with a lost connection or a stall, or that Ray lost
(its worker or node died), has its range removed from the target and copied again, up to
``ray.range_retries`` times; past that the run fails with exit 3 naming table and range.

Runtime tuning is the thread pipeline's: the writer count is the number of ranges in flight
across the cluster (:class:`Slots`, one for every table of the run), changed through the same
update slot at any moment; ``chunk_size`` changes the ranges not yet dispatched (consecutive
planned ranges are merged into one task, as with ``chunk_size_at: chunk``). A task running
longer than ``stall_timeout`` is cancelled and its range copied again like a failed one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any

from dmt.cluster.session import RaySession
from dmt.dialects.base import ValueCounters
from dmt.errors import DmtError, TransferError
from dmt.model.job import Batch, TableJob
from dmt.model.ranges import Chunk
from dmt.pipeline.executor import KeyRangeTasks
from dmt.pipeline.pipeline import Pipeline
from dmt.tuning.metrics import MB, HostSample

log = logging.getLogger("dmt.pipeline")

#: seconds the dispatch loop waits for a task before it looks at the update slot again
POLL = 0.2
#: a task reads its range in batches of at least this many parts of chunk_size, so that its
#: reads overlap its writes (the thread pipeline overlaps whole ranges instead)
BATCHES_PER_RANGE = 4
MIN_BATCH_ROWS = 1000


class Slots:
    """The ranges in flight across the cluster, at most :attr:`limit` (the writer count)."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self.used = 0
        self._cond = threading.Condition()

    def try_take(self) -> bool:
        with self._cond:
            if self.used >= self.limit:
                return False
            self.used += 1
            return True

    def give(self) -> None:
        with self._cond:
            self.used -= 1
            self._cond.notify_all()

    def wait(self, timeout: float) -> None:
        with self._cond:
            self._cond.wait(timeout)

    def scale(self, n: int) -> tuple[int, int]:
        with self._cond:
            before, self.limit = self.limit, max(1, n)
            self._cond.notify_all()
        return before, self.limit


class RangeFailed(DmtError):
    """A task's own error, as the worker described it (exit code included)."""

    def __init__(self, message: str, exit_code: int) -> None:
        self.exit_code = exit_code
        super().__init__(message)


class ClusterPipeline(Pipeline):
    """:class:`~dmt.pipeline.pipeline.Pipeline` whose key ranges run as Ray tasks of
    ``session``; ``values`` gathers the tasks' value conversions, ``retries`` is
    ``ray.range_retries``. :attr:`digests` keeps each range's content digest."""

    def __init__(
        self, *args: Any, session: RaySession, values: ValueCounters, retries: int, **kw: Any
    ) -> None:
        self.slots = Slots(1)
        super().__init__(*args, **kw)
        self.session = session
        self.values = values
        self.retries = retries
        self.knobs.chunk_size_at = "chunk"  # a new chunk_size reaches the next dispatched range
        self.digests: dict[tuple[str, int, int], str] = {}
        self.nodes: dict[str, tuple[float, float]] = {}  # node -> (CPU %, memory %), latest
        self.max_in_flight = 0
        self._since: dict[Any, float] = {}  # task -> when it was submitted
        self._cancelled: set[Any] = set()  # tasks cancelled for running past stall_timeout
        self.timings: list[dict[str, Any]] = []  # per range done (bench/ray_bench.py reads them)

    writer_target = property(lambda self: self.slots.limit)

    def scale_writers(self, n: int) -> tuple[int, int]:
        before, after = self.slots.scale(n)
        self.counters.set(target_writers=after)
        return before, after

    def _in_flight(self, delta: int) -> None:
        self.counters.add("active_writers", delta)
        self.counters.add("active_readers", delta)
        self.max_in_flight = max(self.max_in_flight, self.slots.used)

    def run_tasks(self, conn: Any, job: TableJob, tasks: KeyRangeTasks) -> None:
        """Dispatch the table's ranges while slots are free, and take the outcomes."""
        pending: dict[Any, tuple[Chunk, int]] = {}
        again: deque[tuple[Chunk, int]] = deque()
        try:
            while not self.stop.is_set():
                self.updates.drain(table_start=False)
                exhausted = self._dispatch(job, tasks, pending, again)
                if not pending:
                    if exhausted and not again:
                        return
                    self.slots.wait(POLL)  # every slot is another table's
                    continue
                finished = []
                for ref in self.session.wait(list(pending), POLL):
                    chunk, attempt = pending.pop(ref)
                    self.slots.give()
                    self._in_flight(-1)
                    finished.append((chunk, attempt, self._stalled(ref, self.session.outcome(ref))))
                self._cancel_stalled(pending)
                if finished:  # a freed slot takes the next range before the bookkeeping
                    self._dispatch(job, tasks, pending, again)
                for chunk, attempt, out in finished:
                    self._outcome(conn, job, chunk, attempt, out, again)
        finally:
            for ref in pending:  # stopped: a range in flight stays started, a resume redoes it
                self.session.cancel(ref)
                self.slots.give()
                self._in_flight(-1)

    def _dispatch(
        self, job: TableJob, tasks: KeyRangeTasks, pending: dict[Any, tuple[Chunk, int]],
        again: deque[tuple[Chunk, int]],
    ) -> bool:  # fmt: skip
        """Submit ranges while slots are free; whether the table has no range left to take."""
        k = self.knobs
        while not self.stop.is_set() and self.slots.try_take():
            item = again.popleft() if again else None
            if item is None and (chunk := tasks.take()) is not None:
                item = (chunk, 0)
            if item is None:
                self.slots.give()
                return True
            if self.checkpoints is not None:
                self.checkpoints.chunk_started(job, item[0])
            rows = max(MIN_BATCH_ROWS, k.chunk_size // BATCHES_PER_RANGE)
            ref = self.session.submit(job.source.name, item[0], rows, k.batch_bytes())
            pending[ref] = item
            self._since[ref] = time.monotonic()
            self._in_flight(1)
        return len(tasks) == 0

    def _cancel_stalled(self, pending: dict[Any, tuple[Chunk, int]]) -> None:
        """Cancel a task that has run longer than stall_timeout (its range is copied again)."""
        now = time.monotonic()
        for ref in pending:
            if ref not in self._cancelled and now - self._since[ref] > self.watch.timeout:
                self._cancelled.add(ref)
                self.session.cancel(ref)

    def _stalled(self, ref: Any, out: dict[str, Any]) -> dict[str, Any]:
        self._since.pop(ref, None)
        if ref in self._cancelled:
            self._cancelled.discard(ref)
            why = f"the task ran longer than stall_timeout ({self.watch.timeout:g}s); cancelled"
            out["error"] = {"kind": "Stalled", "message": why, "exit_code": 2, "retry": True}
        return out

    def _outcome(
        self, conn: Any, job: TableJob, chunk: Chunk, attempt: int, out: dict[str, Any],
        again: deque[tuple[Chunk, int]],
    ) -> None:  # fmt: skip
        err = out.get("error")
        if err is None:
            self._done(job, chunk, out)
            return
        self.counters.add("errors")
        name, where = job.source.name, chunk.describe()
        if not err["retry"]:
            raise RangeFailed(err["message"], int(err["exit_code"]))
        if attempt >= self.retries:
            raise TransferError(
                f"copied {attempt + 1} time(s) without success (ray.range_retries: "
                f"{self.retries}); the last failure: {err['message']}", name, where,
            )  # fmt: skip
        log.warning(
            "table `%s` %s: %s; copying the range again (retry %d of %d; its rows are removed "
            "from the target first)", name, where, err["message"], attempt + 1, self.retries,
        )  # fmt: skip
        self.counters.add("retries")
        if self.checkpoints is None:
            raise TransferError(f"cannot copy a failed range again without checkpoints: "
                                f"{err['message']}", name, where)  # fmt: skip
        self.checkpoints.clean(job, conn, [chunk])
        again.append((chunk, attempt + 1))

    def _done(self, job: TableJob, chunk: Chunk, out: dict[str, Any]) -> None:
        name, c = job.source.name, self.counters
        reads = writes = 0.0
        for rows, nbytes, read_s, write_s in out["batches"]:
            c.record_read(read_s)
            c.record_write(rows, nbytes, write_s, name)
            reads += read_s
            writes += write_s
        c.record_wait(out.get("wait", 0.0))
        self.tracker.add_read(job, reads)
        self.tracker.add_write(job, writes)
        self.tracker.add_wait(job, out.get("wait", 0.0))
        for reason, n in out["conversions"].items():
            self.values.add(reason, n)
        self.digests[(name, chunk.index, len(chunk.planned()))] = out["digest"]
        self.timings.append({"table": name, "chunk": chunk.index, "rows": out["rows"],
                             "bytes": out["bytes"], "seconds": out["seconds"], "read": reads,
                             "write": writes, "node": out["node"]})  # fmt: skip
        self.nodes[out["node"]] = (out["cpu"], out["memory"])
        rows = out["rows"]
        self.tracker.chunk_read(job, chunk, 1)
        self.tracker.batch_written(Batch(job, chunk, 0, None, out["bytes"], nrows=rows), rows)
        self.reporter.advance(name, rows, out["bytes"])

    def host(self) -> HostSample:
        """The cluster as the monitor sees it: the busiest node's CPU and memory (from the
        tasks' last reports), every node's CPUs, the driver's own RSS."""
        import psutil

        nodes, cpus = self.session.shape()
        load = list(self.nodes.values()) or [(0.0, 0.0)]
        cpu, mem = max(u for u, _ in load), max(m for _, m in load)
        vm = psutil.virtual_memory()
        return HostSample(
            process_rss_mb=psutil.Process().memory_info().rss / MB,
            process_cpu_percent=cpu,
            system_cpu_percent=cpu,
            system_memory_percent=mem,
            system_memory_available_mb=vm.available / MB,
            cpu_count=max(1, round(cpus)),
            nodes=nodes,
        )
