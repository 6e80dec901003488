"""Runtime configuration updates and the one-slot mailbox that carries them.

The monitor puts a :class:`ConfigUpdate`; the pipeline takes it at a safe boundary.
A put never blocks and a newer update replaces an unapplied older one (latest wins).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class ConfigUpdate:
    """New values for the runtime knobs; ``None`` leaves a knob as it is.

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

    def is_empty(self) -> bool:
        return all(
            v is None
            for v in (self.writers, self.chunk_size, self.parallel_readers, self.read_ahead_buffers)
        )


class UpdateSlot:
    """A latest-value mailbox: ``put`` never blocks, ``take`` never waits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: ConfigUpdate | None = None
        self.replaced = 0  # updates overwritten before the pipeline took them

    def put(self, update: ConfigUpdate) -> None:
        with self._lock:
            if self._pending is not None:
                self.replaced += 1
            self._pending = update

    def take(self) -> ConfigUpdate | None:
        with self._lock:
            update, self._pending = self._pending, None
            return update

    def peek(self) -> ConfigUpdate | None:
        with self._lock:
            return self._pending
