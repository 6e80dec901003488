"""Thread-safe pipeline counters and the read-only snapshot the monitor sees."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields


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
    #: table -> (rows, bytes) committed so far, bytes as the table's data path counts them
    table_totals: Mapping[str, tuple[int, int]] = field(default_factory=dict)


#: the snapshot fields :class:`PipelineCounters` holds under the same name and copies as they are
_COPIED = tuple(
    f.name
    for f in fields(PipelineSnapshot)
    if f.name not in ("taken_at", "read_latencies", "write_latencies", "table_totals")
)


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
    first_row_at: float = 0.0  # clock when the first batch with rows committed (0: none yet)
    last_row_at: float = 0.0  # clock when the last batch with rows committed
    _read_lat: deque[float] = field(default_factory=lambda: deque(maxlen=256), repr=False)
    _write_lat: deque[float] = field(default_factory=lambda: deque(maxlen=256), repr=False)
    _tables: dict[str, tuple[int, int]] = field(default_factory=dict, repr=False)

    def record_read(self, seconds: float) -> None:
        with self._lock:
            self.read_seconds += seconds
            self._read_lat.append(seconds)

    def record_write(self, rows: int, nbytes: int, seconds: float, table: str = "") -> None:
        """One committed batch of ``rows`` (``nbytes``) of ``table``, written in ``seconds``."""
        with self._lock:
            done = self._tables.get(table, (0, 0))
            self._tables[table] = (done[0] + rows, done[1] + nbytes)
            self.rows_total += rows
            self.bytes_total += nbytes
            self.batches_written += 1
            self.max_batch_bytes = max(self.max_batch_bytes, nbytes)
            self.write_seconds += seconds
            self._write_lat.append(seconds)
            self.last_commit_at = self.clock()
            if rows:
                self.first_row_at = self.first_row_at or self.last_commit_at
                self.last_row_at = self.last_commit_at

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
                read_latencies=tuple(self._read_lat),
                write_latencies=tuple(self._write_lat),
                table_totals=dict(self._tables),
                **{name: getattr(self, name) for name in _COPIED},
            )
