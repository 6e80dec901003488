"""The pipeline's stop flag."""

from __future__ import annotations

import threading
from collections.abc import Callable


class StopFlag:
    """Set by the pipeline itself (its first error), or seen set once the user's ``cancel``
    event is (Ctrl-C / SIGTERM). Setting it never sets the user's event, so a failed attempt
    leaves a retry free to start afresh, and a later Ctrl-C is still the first one.

    Nothing waits on it: the threads check it between batches, and :meth:`set` runs the
    ``on_set`` callbacks, which wake what is blocked (the read-ahead queue's waiting puts).
    A user's cancel wakes them through the queue itself, as the writers keep taking batches.
    """

    def __init__(self, cancel: threading.Event | None = None) -> None:
        self._cancel = cancel
        self._set = threading.Event()
        self._callbacks: list[Callable[[], None]] = []

    def is_set(self) -> bool:
        return self._set.is_set() or (self._cancel is not None and self._cancel.is_set())

    def set(self) -> None:
        self._set.set()
        for callback in self._callbacks:
            callback()

    def on_set(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` (from the thread that sets the flag) whenever :meth:`set` is."""
        self._callbacks.append(callback)
