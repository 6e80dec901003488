"""Knows when a chunk is committed (every batch of it written) and when a table is done.

A merged chunk (several planned chunks read as one range) is one unit here: it is committed
when every batch of the merged read is written, and then counts for all its planned chunks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dmt.model.job import Batch, TableJob
from dmt.model.ranges import Chunk


@dataclass
class TableResult:
    """Rows and time of one table, with the time split the debug log prints."""

    name: str
    rows: int = 0
    seconds: float = 0.0
    read_seconds: float = 0.0
    write_seconds: float = 0.0
    wait_seconds: float = 0.0
    chunks: int = 0  # planned chunks committed
    merged: int = 0  # of those, read as part of a merged range
    path: str = "rows"
    started: float = field(default_factory=time.monotonic, repr=False)

    def split(self) -> tuple[float, float, float]:
        """(query %, write %, waiting %) of the time spent on this table's batches."""
        total = self.read_seconds + self.write_seconds + self.wait_seconds
        if total <= 0:
            return 0.0, 0.0, 0.0
        return (
            100 * self.read_seconds / total,
            100 * self.write_seconds / total,
            100 * self.wait_seconds / total,
        )


@dataclass
class _ChunkState:
    written: int = 0
    rows: int = 0
    batches: int | None = None  # known once the reader has finished the chunk


@dataclass
class _TableState:
    result: TableResult
    chunks_left: int
    reading: bool = True
    chunks: dict[int, _ChunkState] = field(default_factory=dict)


class ChunkTracker:
    """Thread-safe bookkeeping shared by readers and writers."""

    def __init__(
        self,
        on_chunk: Callable[[TableJob, Chunk, int], None],
        on_table: Callable[[TableResult], None],
    ) -> None:
        self._lock = threading.Lock()
        self._tables: dict[str, _TableState] = {}
        self._jobs: dict[str, TableJob] = {}
        self._order: list[str] = []
        self._on_chunk = on_chunk
        self._on_table = on_table

    def start_table(self, job: TableJob, chunks: int, path: str) -> None:
        name = job.source.name
        with self._lock:
            self._tables[name] = _TableState(TableResult(name, path=path), chunks)
            self._jobs[name] = job
            self._order.append(name)

    def add_read(self, job: TableJob, secs: float) -> None:
        with self._lock:
            self._tables[job.source.name].result.read_seconds += secs

    def add_wait(self, job: TableJob, secs: float) -> None:
        with self._lock:
            self._tables[job.source.name].result.wait_seconds += secs

    def add_write(self, job: TableJob, secs: float) -> None:
        with self._lock:
            self._tables[job.source.name].result.write_seconds += secs

    def chunk_read(self, job: TableJob, chunk: Chunk, batches: int) -> None:
        with self._lock:
            st = self._tables[job.source.name].chunks.setdefault(chunk.index, _ChunkState())
            st.batches = batches
        self._check(job, chunk)

    def batch_written(self, batch: Batch, rows: int) -> None:
        with self._lock:
            table = self._tables[batch.job.source.name]
            st = table.chunks.setdefault(batch.chunk.index, _ChunkState())
            st.written += 1
            st.rows += rows
            table.result.rows += rows
        self._check(batch.job, batch.chunk)

    def reading_done(self, job: TableJob) -> None:
        with self._lock:
            self._tables[job.source.name].reading = False
        self._check_table(job.source.name)

    def _check(self, job: TableJob, chunk: Chunk) -> None:
        name = job.source.name
        with self._lock:
            table = self._tables[name]
            st = table.chunks.get(chunk.index)
            if st is None or st.batches is None or st.written < st.batches:
                return
            del table.chunks[chunk.index]
            planned = len(chunk.planned())
            table.chunks_left -= planned
            table.result.chunks += planned
            if chunk.parts:
                table.result.merged += planned
            rows = st.rows
        self._on_chunk(job, chunk, rows)
        self._check_table(name)

    def _check_table(self, name: str) -> None:
        with self._lock:
            table = self._tables[name]
            if table.reading or table.chunks_left > 0 or table.result.seconds:
                return
            table.result.seconds = max(time.monotonic() - table.result.started, 1e-9)
            result = table.result
        self._on_table(result)

    def job(self, name: str) -> TableJob:
        with self._lock:
            return self._jobs[name]

    def results(self) -> list[TableResult]:
        with self._lock:
            return [self._tables[n].result for n in self._order]
