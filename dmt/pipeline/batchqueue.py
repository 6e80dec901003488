"""The read-ahead queue: bounded in items and in bytes, with limits that can change between
tables.

Nothing polls: every wait is on the queue's condition, which every change notifies (a put, a
get, a capacity change, :meth:`BatchQueue.close`, :meth:`BatchQueue.drain` and
:meth:`BatchQueue.abort`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol


class Flag(Protocol):
    """What ``put`` checks of an abort flag (a ``threading.Event``, or the pipeline's own)."""

    def is_set(self) -> bool: ...


STOP = object()  # the queue is closed and empty: no more batches
RETIRE = object()  # returned by get() when the caller was asked to stop waiting


def size_of(item: object) -> int:
    """The bytes an item holds, as its data path counted them (a batch's ``nbytes``)."""
    return int(getattr(item, "nbytes", 0))


class BatchQueue:
    """A FIFO bounded at ``capacity`` items and ``max_bytes`` bytes (0: no byte bound), both
    changeable at runtime.

    An item is counted by its ``nbytes`` (:func:`size_of`): Arrow tables, COPY bytes and row
    lists alike, as their paths measured them. ``put`` blocks while the queue is full in
    items, or while the item would take it past ``max_bytes`` (an empty queue takes any one
    item, so a batch larger than the bound still moves, alone); ``get`` blocks while empty;
    both return the seconds they waited so the pipeline can report its waiting share.
    Closing the queue ends every consumer once the queue is empty, however many writers the
    pool has by then; aborting it ends every ``put`` waiting for room.
    """

    def __init__(
        self,
        capacity: int,
        on_change: Callable[[int, int], None] | None = None,
        max_bytes: int = 0,
    ) -> None:
        self._items: deque[object] = deque()
        self._capacity = capacity
        self._max_bytes = max_bytes
        self._bytes = 0
        self.peak_bytes = 0  # the most bytes the queue has held at once
        self._cond = threading.Condition()
        self._on_change = on_change
        self._closed = False
        self._aborted = False

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @property
    def nbytes(self) -> int:
        """The bytes the queued items hold now."""
        with self._cond:
            return self._bytes

    def set_capacity(self, capacity: int, max_bytes: int | None = None) -> None:
        with self._cond:
            self._capacity = capacity
            if max_bytes is not None:
                self._max_bytes = max_bytes
            self._cond.notify_all()

    def _full(self, size: int) -> bool:
        if len(self._items) >= self._capacity:
            return True
        over = self._max_bytes > 0 and self._bytes + size > self._max_bytes
        return over and bool(self._items)

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, item: object, abort: Flag | None = None) -> float:
        """Queue ``item`` once there is room; dropped, not queued, once the queue is aborted or
        ``abort`` is set (checked again whenever the queue changes: a writer taking a batch
        makes room, and a failure drains or aborts the queue)."""
        start = time.monotonic()
        size = size_of(item)
        with self._cond:
            while self._full(size):
                if self._aborted or (abort is not None and abort.is_set()):
                    return time.monotonic() - start
                self._cond.wait()
            self._items.append(item)
            self._bytes += size
            self.peak_bytes = max(self.peak_bytes, self._bytes)
            self._notify_change()
            self._cond.notify_all()
        return time.monotonic() - start

    def get(self, interrupt: Callable[[], bool] | None = None) -> tuple[object, float]:
        """The next item; ``STOP`` once closed and empty; ``RETIRE`` if ``interrupt()`` turns
        true while waiting (checked again on every :meth:`wake`)."""
        start = time.monotonic()
        with self._cond:
            while not self._items:
                if self._closed:
                    return STOP, time.monotonic() - start
                if interrupt is not None and interrupt():
                    return RETIRE, time.monotonic() - start
                self._cond.wait()
            item = self._items.popleft()
            self._bytes -= size_of(item)
            self._notify_change()
            self._cond.notify_all()
        return item, time.monotonic() - start

    def close(self) -> None:
        """No more puts: consumers get ``STOP`` once the queue is empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def abort(self) -> None:
        """Stop taking batches: every ``put`` waiting for room returns at once."""
        with self._cond:
            self._aborted = True
            self._cond.notify_all()

    def wake(self) -> None:
        """Make waiting consumers re-check their interrupt condition."""
        with self._cond:
            self._cond.notify_all()

    def drain(self) -> int:
        """Drop every queued batch (on failure or cancel)."""
        with self._cond:
            dropped = len(self._items)
            self._items.clear()
            self._bytes = 0
            self._notify_change()
            self._cond.notify_all()
            return dropped

    def _notify_change(self) -> None:
        if self._on_change is not None:
            self._on_change(len(self._items), self._bytes)
