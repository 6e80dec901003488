"""Reading one key range: its batches, from the table's data path or the exact row path, put
on the read-ahead queue, with the chunk's checkpoint marked before its first batch."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from dmt.dialects.base import Dialect
from dmt.model.job import Batch, TableJob
from dmt.model.ranges import Chunk
from dmt.paths.base import DataPath, RowFallback
from dmt.paths.rows import read_rows
from dmt.pipeline.batchqueue import BatchQueue
from dmt.pipeline.checkpoints import Checkpoints
from dmt.pipeline.failures import read_failed
from dmt.pipeline.knobs import Knobs
from dmt.pipeline.stall import StallWatch
from dmt.pipeline.stats import PipelineCounters
from dmt.pipeline.stop import StopFlag
from dmt.pipeline.tracker import ChunkTracker

#: one batch as read: ``(payload, rows, bytes, read_seconds, by_path)``
ReadBatch = tuple[Any, int, int, float, bool]


def read_batches(
    source: Dialect, path: DataPath | None, conn: Any, job: TableJob, chunk: Chunk,
    max_rows: int, max_bytes: int, stop: StopFlag,
) -> Generator[ReadBatch, None, None]:  # fmt: skip
    """The batches of one key range: the path's own, and the exact row path's for the ranges
    it hands back (:class:`~dmt.paths.base.RowFallback`), or the row path's alone."""
    if path is not None:
        for item in path.read(conn, job, chunk, max_rows, max_bytes, stop.is_set):
            if isinstance(item, RowFallback):
                for rows, n, nbytes, secs in read_rows(
                    source, conn, job, item.chunk, max_rows, max_bytes, stop.is_set
                ):
                    yield rows, n, nbytes, secs, False
                    del rows
            else:
                payload, n, nbytes, secs = item
                del item
                yield payload, n, nbytes, secs, True
                del payload
        return
    # a batch is let go once yielded: the caller holds it until the queue takes it, and no
    # frame here keeps it while the next one is read
    for rows, n, nbytes, secs in read_rows(
        source, conn, job, chunk, max_rows, max_bytes, stop.is_set
    ):
        yield rows, n, nbytes, secs, False
        del rows


class RangeReader:
    """Reads key ranges into the queue for one pipeline; called from its reader threads."""

    def __init__(
        self,
        source: Dialect,
        paths: Mapping[str, DataPath],
        knobs: Knobs,
        queue: BatchQueue,
        tracker: ChunkTracker,
        counters: PipelineCounters,
        checkpoints: Checkpoints | None,
        stop: StopFlag,
        watch: StallWatch | None = None,
    ) -> None:
        self.source = source
        self.paths = paths
        self.knobs = knobs
        self.queue = queue
        self.tracker = tracker
        self.counters = counters
        self.checkpoints = checkpoints
        self.stop = stop
        self.watch = watch or StallWatch(0, lambda err: None)

    def read(self, conn: Any, job: TableJob, chunk: Chunk) -> None:
        """Queue every batch of ``chunk``; errors are named by table and key range."""
        seq = 0
        k = self.knobs
        path = self.paths.get(job.source.name)
        batches = read_batches(
            self.source, path, conn, job, chunk, k.chunk_size, k.batch_bytes(), self.stop
        )
        try:
            while True:
                with self.watch.busy(self.source, lambda: conn, job.source.name, chunk, "the read"):
                    item = next(batches, None)
                if item is None:
                    break
                payload, nrows, nbytes, secs, by_path = item
                self.watch.observed(secs)
                self.counters.record_read(secs)
                if nrows:
                    self.counters.set(avg_row_bytes=nbytes / nrows)
                self.tracker.add_read(job, secs)
                batch = Batch(job, chunk, seq, payload, nbytes, nrows=nrows, read_seconds=secs,
                              by_path=by_path)  # fmt: skip
                if seq == 0 and self.checkpoints is not None:
                    self.checkpoints.chunk_started(job, chunk)
                seq += 1
                self.counters.add("batches_in_flight")
                waited = self.queue.put(batch, self.stop)
                del batch, payload  # the queue and its writer hold it now, not this reader
                self.counters.record_wait(waited)
                self.tracker.add_wait(job, waited)
        except Exception as exc:
            raise read_failed(self.source, job, chunk, exc) from exc
        finally:
            batches.close()
        if not self.stop.is_set():
            self.tracker.chunk_read(job, chunk, seq)
