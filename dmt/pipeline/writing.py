"""What each writer of the pool does: open its target connection, write a batch through the
table's data path or the row path, count it, and close."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Any

from dmt.dialects.base import Dialect
from dmt.model.job import Batch
from dmt.paths.base import DataPath
from dmt.pipeline.failures import write_failed
from dmt.pipeline.groupcommit import GroupCommit
from dmt.pipeline.stall import StallWatch
from dmt.pipeline.stats import PipelineCounters
from dmt.pipeline.tracker import ChunkTracker
from dmt.progress import Reporter


class BatchWriter:
    """The writer side of a pipeline: ``failed()`` says whether the run failed (a writer then
    keeps nothing it holds), ``fail`` reports an error, ``after_batch`` runs after each batch
    (the update slot's drain)."""

    def __init__(
        self, target: Dialect, paths: Mapping[str, DataPath], watch: StallWatch,
        counters: PipelineCounters, tracker: ChunkTracker, reporter: Reporter,
        group: GroupCommit, failed: Callable[[], bool], fail: Callable[[BaseException], None],
        after_batch: Callable[[], None],
    ) -> None:  # fmt: skip
        self.target = target
        self.paths = paths
        self.watch = watch
        self.counters = counters
        self.tracker = tracker
        self.reporter = reporter
        self.group = group
        self._failed = failed
        self._fail = fail
        self._after_batch = after_batch

    def connect(self) -> Any:
        conn = self.target.connect()
        self.target.begin_load(conn)
        self.group.begin(conn)
        return conn

    def disconnect(self, conn: Any) -> None:
        try:
            self.group.end(conn, self._failed(), self._fail)
            self.target.end_load(conn)
        finally:
            with contextlib.suppress(Exception):  # a broken connection must not mask the error
                conn.close()

    def write(self, conn: Any, batch: Batch) -> None:
        t0 = time.monotonic()
        job = batch.job
        doing = f"the write of batch {batch.seq + 1}"
        path = self.paths[job.source.name] if batch.by_path else None
        on = (lambda: path.session_conn(conn)) if path is not None else (lambda: conn)
        try:
            with self.watch.busy(self.target, on, job.source.name, batch.chunk, doing):
                if path is not None:
                    n = path.write(conn, job, batch.rows)
                else:
                    n = self.target.write_rows(conn, job.target, batch.rows)
        except Exception as exc:
            # the batch may or may not be committed: its chunk stays not-done, and a retry or
            # resume removes the chunk from the target before copying it again
            lost = write_failed(self.target, batch, exc)
            if lost is not None:
                raise lost from exc
            raise
        finally:
            self.counters.add("batches_in_flight", -1)
        secs = time.monotonic() - t0
        self.watch.committed(secs)
        self.counters.record_write(n, batch.nbytes, secs, job.source.name)
        self.tracker.add_write(batch.job, secs)
        self.reporter.advance(batch.job.source.name, n, batch.nbytes)
        self.group.wrote(conn, batch, n)
        self._after_batch()
