"""The read-ahead queue: bounded, with a capacity that can change between tables."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dmt.dialects.base import Row
from dmt.pipeline.chunks import Chunk


@dataclass
class Batch:
    """Rows of one chunk, bounded in rows and bytes: a list of tuples on the exact path, or a
    data path's payload (e.g. COPY bytes) holding ``nrows`` rows."""

    job: Any  # pipeline.TableJob (kept loose to avoid an import cycle)
    chunk: Chunk
    seq: int
    rows: list[Row] | Any
    nbytes: int
    nrows: int = 0
    read_seconds: float = field(default=0.0, repr=False)


STOP = object()  # the queue is closed and empty: no more batches
RETIRE = object()  # returned by get() when the caller was asked to stop waiting


class BatchQueue:
    """A FIFO bounded at ``capacity`` items whose capacity may be changed at runtime.

    ``put`` blocks while full and ``get`` while empty; both return the seconds they waited so
    the pipeline can report its waiting share. Closing the queue ends every consumer once the
    queue is empty, however many writers the pool has by then.
    """

    def __init__(self, capacity: int, on_change: Callable[[int], None] | None = None) -> None:
        self._items: deque[object] = deque()
        self._capacity = capacity
        self._cond = threading.Condition()
        self._on_change = on_change
        self._closed = False

    @property
    def capacity(self) -> int:
        return self._capacity

    def set_capacity(self, capacity: int) -> None:
        with self._cond:
            self._capacity = capacity
            self._cond.notify_all()

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def put(self, item: object, abort: threading.Event | None = None) -> float:
        start = time.monotonic()
        with self._cond:
            while len(self._items) >= self._capacity:
                if abort is not None and abort.is_set():
                    return time.monotonic() - start
                self._cond.wait(0.2)
            self._items.append(item)
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
            self._notify_change()
            self._cond.notify_all()
        return item, time.monotonic() - start

    def close(self) -> None:
        """No more puts: consumers get ``STOP`` once the queue is empty."""
        with self._cond:
            self._closed = True
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
            self._notify_change()
            self._cond.notify_all()
            return dropped

    def _notify_change(self) -> None:
        if self._on_change is not None:
            self._on_change(len(self._items))
