"""The runtime knobs of one copy, and the runtime updates applied to them at safe boundaries.

Writer counts apply at once (between batches); chunk_size, parallel_readers and
read_ahead_buffers at the next table start, or the next key range with ``chunk_size_at:
chunk``. Every change applied is recorded for the run summary and ``dmt history``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dmt.pipeline.updates import UpdateSlot
from dmt.settings import KNOBS, Update, batch_budget

log = logging.getLogger("dmt.pipeline")


@dataclass
class Knobs:
    """The runtime-adjustable settings, plus the fixed ones they are checked against.

    ``tables_in_flight`` is the config key ``migration.workers``: tables copied at once."""

    tables_in_flight: int
    chunk_size: int
    parallel_readers: int
    read_ahead_buffers: int
    writers: int
    max_memory_mb: int
    chunk_size_at: str = "table"
    #: batches one reader holds at once: 1, or more where its driver reads ahead (the data
    #: paths' ``reader_batches``; the pipeline sets it)
    reader_batches: int = 1

    def reader_slots(self) -> int:
        """Batches the readers of every table in flight may hold at once."""
        return self.tables_in_flight * self.parallel_readers * self.reader_batches

    def batch_bytes(self) -> int:
        """Byte budget of one batch (:func:`~dmt.settings.batch_budget`)."""
        k = self
        return batch_budget(k.max_memory_mb, k.read_ahead_buffers, k.writers, k.reader_slots())

    def queue_bytes(self) -> int:
        """What the read-ahead queue may hold in bytes: its share of the memory budget."""
        return self.read_ahead_buffers * self.batch_bytes()


class KnobUpdates:
    """Takes updates from the slot and applies them to ``knobs`` at the pipeline's boundaries.

    ``scale_writers(n)`` resizes the writer pool; ``on_applied(knob, value)`` lets the pipeline
    follow a change it must act on (the queue capacity, the counters); ``current_table()``
    names the table a change lands in, for the record.
    """

    def __init__(
        self,
        knobs: Knobs,
        slot: UpdateSlot | None,
        max_writers: int,
        pool_target: Callable[[], int],
        scale_writers: Callable[[int], Any],
        on_applied: Callable[[str, int], None],
        current_table: Callable[[], str | None],
    ) -> None:
        self.knobs = knobs
        self.slot = slot
        self.max_writers = max_writers
        self._pool_target = pool_target
        self._scale_writers = scale_writers
        self._on_applied = on_applied
        self._current_table = current_table
        self.applied: list[dict[str, Any]] = []
        self._pending: dict[str, int] = {}
        self._pending_source = Update()
        self._lock = threading.Lock()
        self._started = time.monotonic()

    def drain(self, table_start: bool) -> None:
        """Take the latest update; apply what may change at this boundary."""
        with self._lock:
            upd = self.slot.take() if self.slot is not None else None
            if upd is not None:
                self._accept(upd)
            if table_start or self.knobs.chunk_size_at == "chunk":
                self._apply_pending()

    def start(self, upd: Update) -> None:
        """Apply a table's starting point now, before its chunks are planned: writers and
        chunk_size at once, whatever ``chunk_size_at`` says (nothing of the table has been
        read yet), recorded like any change."""
        with self._lock:
            if upd.writers is not None:
                self._accept(Update(writers=upd.writers, source=upd.source, action=upd.action))
            if upd.chunk_size is not None and KNOBS["chunk_size"].contains(upd.chunk_size):
                self._pending.pop("chunk_size", None)
                before = self.knobs.chunk_size
                if before != upd.chunk_size:
                    self.knobs.chunk_size = upd.chunk_size
                    self._on_applied("chunk_size", upd.chunk_size)
                    log.info("Changed chunk_size from %d to %d", before, upd.chunk_size)
                    self._record(upd, "chunk_size", before, upd.chunk_size)

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
                value = min(value, self.max_writers)
                before, after = self._pool_target(), value
                if before != after:
                    self._scale_writers(after)
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
            self._on_applied(knob, value)
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
                "table": self._current_table(),
            }
        )
