"""The runtime knobs: each one's bounds, meaning and when a change takes effect, declared once.

Config validation (``migration.*`` bounds), the pipeline (which changes it accepts), the
controller (which values it may propose) and the AI tool schema all read :data:`KNOBS`.
A target's declared ``max_writers`` capability narrows the writer bound for one run
(:func:`writer_bound`), so nothing proposes a value the pipeline would clamp.

One shape travels through the one-slot queue: :class:`Update`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Knob:
    """One runtime-adjustable setting: its inclusive bounds and when a new value applies."""

    name: str
    low: int
    high: int
    meaning: str
    applies: str

    def contains(self, value: int) -> bool:
        return self.low <= value <= self.high

    def clamp(self, value: int) -> int:
        return max(self.low, min(self.high, value))


KNOBS: dict[str, Knob] = {
    k.name: k
    for k in (
        Knob("writers", 1, 16, "writer threads loading the target", "between batches"),
        Knob(
            "chunk_size",
            1_000,
            500_000,
            "rows per read chunk (one key range)",
            "at the next table start, or the next key range with chunk_size_at: chunk",
        ),
        Knob("parallel_readers", 1, 16, "key-range readers per table", "at the next table start"),
        Knob(
            "read_ahead_buffers", 1, 64, "batches the read-ahead queue holds", "at the next table"
        ),
    )
}
WRITERS = KNOBS["writers"]
CHUNK_SIZE = KNOBS["chunk_size"]

#: tables copied at once (``migration.workers``): fixed for a run, not a runtime knob
TABLES_IN_FLIGHT = (1, 32)
#: chunk sizes the controller proposes lie on this grid
CHUNK_GRID = 1_000
#: the most writers one decision may add or remove
MAX_WRITER_STEP = 4
#: the most a chunk size may grow or shrink in one decision. A batch far shorter than the
#: batch-time target grows eightfold per measured step, and such a step must be revertible in
#: one decision.
MAX_CHUNK_GROWTH = 8


MB = 1024 * 1024
#: the smallest byte budget of one batch, however many batches share the memory budget
MIN_BATCH_BYTES = 64 * 1024


def batch_budget(max_memory_mb: float, read_ahead: int, writers: int, reader_slots: int) -> int:
    """Bytes one batch may hold: ``migration.max_memory_mb`` shared by every batch that can
    exist at once — ``read_ahead`` queued, one per writer (its encoded copy is in the batch's
    count), and ``reader_slots`` held by the readers (one per reader, more where a reader's
    driver reads ahead of it). The pipeline sizes batches by it, and the controller's largest
    chunk_size is this budget in rows, so no proposal is one the pipeline would cut."""
    slots = read_ahead + writers + reader_slots
    return int(max(MIN_BATCH_BYTES, max_memory_mb * MB // max(1, slots)))


def max_batch_rows(
    max_memory_mb: float, row_bytes: float, read_ahead: int, writers: int, reader_slots: int
) -> int:
    """The most rows one batch holds inside :func:`batch_budget` at ``row_bytes`` a row (as
    the data path counts a row, its copies included); the chunk_size bound when unknown."""
    if row_bytes <= 0:
        return CHUNK_SIZE.high
    return int(batch_budget(max_memory_mb, read_ahead, writers, reader_slots) // row_bytes)


def writer_bound(max_writers: int | None) -> int:
    """The highest writer count a run may use: the knob's bound, narrowed by the target's
    declared ``max_writers`` capability (SQLite: 1)."""
    if max_writers is None:
        return WRITERS.high
    return max(WRITERS.low, min(WRITERS.high, max_writers))


def default_writers() -> int:
    """One writer per core, between 2 and 4: every writer is a loading server process beside
    the source's, so on 2 cores a third and fourth writer only compete for them."""
    return max(2, min(4, os.cpu_count() or 2))


def default_readers() -> int:
    """Half the default writers, at least one: every reader is a source server process too,
    and a reader moves rows about twice as fast as a writer loads them."""
    return max(1, default_writers() // 2)


def default_memory_mb() -> int:
    """A safe share of available memory: an eighth, between 64 and 128 MB. Batches in flight
    are what grows with the data; more budget than this buys no speed."""
    try:
        avail = _available_mb()
    except Exception:  # psutil missing or unreadable /proc: fall back to a fixed budget
        return 128
    return int(max(64, min(128, avail // 8)))


def _available_mb() -> int:
    """Available memory in MB: Linux's own estimate in /proc/meminfo (no import), else psutil."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024  # kB
    except OSError:
        pass
    import psutil

    return int(psutil.virtual_memory().available // (1024 * 1024))


@dataclass(frozen=True)
class Update:
    """New values for the runtime knobs; ``None`` leaves a knob as it is. The one shape the
    controller puts in the update slot and the pipeline takes from it.

    ``writers`` applies between batches, ``chunk_size`` at the next table boundary (or at the
    next key range read with ``migration.chunk_size_at: chunk``, which then merges planned
    ranges when the size grew), ``parallel_readers`` and ``read_ahead_buffers`` at the next
    table start.
    """

    writers: int | None = None
    chunk_size: int | None = None
    parallel_readers: int | None = None
    read_ahead_buffers: int | None = None
    source: str = "manual"  # ai | cache | fallback | manual | rollback
    action: str = "continue"
    reason: str = ""
    decision_id: int | None = None

    def values(self) -> dict[str, int]:
        """The knobs this update sets, by name."""
        return {name: v for name in KNOBS if (v := getattr(self, name)) is not None}
