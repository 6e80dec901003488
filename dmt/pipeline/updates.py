"""The one-slot mailbox that carries runtime updates from the controller to the pipeline.

The monitor puts a :class:`~dmt.settings.Update`; the pipeline takes it at a safe boundary.
A put never blocks and a newer update replaces an unapplied older one (latest wins).
"""

from __future__ import annotations

import threading

from dmt.settings import Update


class UpdateSlot:
    """A latest-value mailbox: ``put`` never blocks, ``take`` never waits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: Update | None = None
        self.replaced = 0  # updates overwritten before the pipeline took them

    def put(self, update: Update) -> None:
        with self._lock:
            if self._pending is not None:
                self.replaced += 1
            self._pending = update

    def take(self) -> Update | None:
        with self._lock:
            update, self._pending = self._pending, None
            return update
