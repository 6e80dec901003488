"""Thread-safe pipeline counters and the read-only snapshot the monitor sees."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PipelineSnapshot:
    """What the pipeline looks like at one instant. Cumulative counters only; the monitor
    derives rates by differencing two snapshots."""

    taken_at: float
    rows_total: int
    bytes_total: int
    batches_written: int
    read_seconds: float  # cumulative time readers spent in the source query
    write_seconds: float  # cumulative time writers spent in the target write
    wait_seconds: float  # cumulative time readers/writers spent blocked on the queue
    read_latencies: tuple[float, ...]  # recent per-batch read durations (s)
    write_latencies: tuple[float, ...]  # recent per-batch write durations (s)
    active_writers: int
    target_writers: int
    active_readers: int
    queue_depth: int
    queue_capacity: int
    batches_in_flight: int
    chunk_size: int
    errors: int
    retries: int
    tables_done: int
    tables_total: int
    current_table: str | None
    column_count: int
    avg_row_bytes: float
    rows_expected: int
    max_batch_bytes: int = 0  # the largest batch written so far, as its data path counts it
    max_queue_bytes: int = 0  # the most bytes the read-ahead queue held at once
    batch_budget: int = 0  # the byte budget of one batch, as the readers were last given it
    reader_slots: int = 0  # batches the readers may hold at once (see settings.batch_budget)
    last_commit_at: float = 0.0  # clock at the most recent batch commit (0 before the first)


@dataclass
class PipelineCounters:
    """Mutable counters updated by pipeline threads; ``snapshot()`` is safe from any thread."""

    clock: Callable[[], float] = time.monotonic
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    rows_total: int = 0
    bytes_total: int = 0
    batches_written: int = 0
    read_seconds: float = 0.0
    write_seconds: float = 0.0
    wait_seconds: float = 0.0
    active_writers: int = 0
    target_writers: int = 0
    active_readers: int = 0
    queue_depth: int = 0
    queue_capacity: int = 0
    batches_in_flight: int = 0
    chunk_size: int = 0
    errors: int = 0
    retries: int = 0
    tables_done: int = 0
    tables_total: int = 0
    current_table: str | None = None
    column_count: int = 0
    avg_row_bytes: float = 0.0
    rows_expected: int = 0
    max_batch_bytes: int = 0
    max_queue_bytes: int = 0
    batch_budget: int = 0
    reader_slots: int = 0
    last_commit_at: float = 0.0
    _read_lat: deque[float] = field(default_factory=lambda: deque(maxlen=256), repr=False)
    _write_lat: deque[float] = field(default_factory=lambda: deque(maxlen=256), repr=False)

    def record_read(self, seconds: float) -> None:
        with self._lock:
            self.read_seconds += seconds
            self._read_lat.append(seconds)

    def record_write(self, rows: int, nbytes: int, seconds: float) -> None:
        with self._lock:
            self.rows_total += rows
            self.bytes_total += nbytes
            self.batches_written += 1
            self.max_batch_bytes = max(self.max_batch_bytes, nbytes)
            self.write_seconds += seconds
            self._write_lat.append(seconds)
            self.last_commit_at = self.clock()

    def record_wait(self, seconds: float) -> None:
        with self._lock:
            self.wait_seconds += seconds

    def add(self, name: str, delta: int = 1) -> None:
        """Add ``delta`` to an integer counter such as ``errors`` or ``batches_in_flight``."""
        with self._lock:
            setattr(self, name, getattr(self, name) + delta)

    def set(self, **values: object) -> None:
        with self._lock:
            for name, value in values.items():
                setattr(self, name, value)

    def snapshot(self) -> PipelineSnapshot:
        with self._lock:
            return PipelineSnapshot(
                taken_at=self.clock(),
                rows_total=self.rows_total,
                bytes_total=self.bytes_total,
                batches_written=self.batches_written,
                read_seconds=self.read_seconds,
                write_seconds=self.write_seconds,
                wait_seconds=self.wait_seconds,
                read_latencies=tuple(self._read_lat),
                write_latencies=tuple(self._write_lat),
                active_writers=self.active_writers,
                target_writers=self.target_writers,
                active_readers=self.active_readers,
                queue_depth=self.queue_depth,
                queue_capacity=self.queue_capacity,
                batches_in_flight=self.batches_in_flight,
                chunk_size=self.chunk_size,
                errors=self.errors,
                retries=self.retries,
                tables_done=self.tables_done,
                tables_total=self.tables_total,
                current_table=self.current_table,
                column_count=self.column_count,
                avg_row_bytes=self.avg_row_bytes,
                rows_expected=self.rows_expected,
                max_batch_bytes=self.max_batch_bytes,
                max_queue_bytes=self.max_queue_bytes,
                batch_budget=self.batch_budget,
                reader_slots=self.reader_slots,
                last_commit_at=self.last_commit_at,
            )
