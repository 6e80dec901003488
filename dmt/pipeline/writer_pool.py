"""DynamicWriterPool: writer threads that can be added or retired while the pipeline runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from dmt.model.job import Batch
from dmt.pipeline.batchqueue import RETIRE, STOP, BatchQueue

log = logging.getLogger("dmt.pipeline")


class DynamicWriterPool:
    """A pool of writer threads consuming batches from one :class:`BatchQueue`.

    ``scale_workers(n)`` starts new writers at once, and retires surplus ones gracefully: a
    retiring writer finishes and commits the batch it holds, then exits; an idle one exits as
    soon as it is woken. Each writer owns one target connection for its whole life.
    """

    def __init__(
        self,
        queue: BatchQueue,
        connect: Callable[[], Any],
        disconnect: Callable[[Any], None],
        write: Callable[[Any, Batch], None],
        on_error: Callable[[BaseException, Batch | None], None],
        on_size: Callable[[int, int], None] | None = None,
        name: str = "dmt-writer",
    ) -> None:
        self._queue = queue
        self._connect = connect
        self._disconnect = disconnect
        self._write = write
        self._on_error = on_error
        self._on_size = on_size
        self._name = name
        self._lock = threading.Lock()
        self._threads: dict[int, threading.Thread] = {}
        self._target = 0
        self._alive = 0
        self._serial = 0
        self.skip_writes = threading.Event()  # set on failure/cancel: drop what is left

    @property
    def target(self) -> int:
        return self._target

    def alive(self) -> int:
        """Writer threads currently running (not yet retired)."""
        with self._lock:
            return self._alive

    def scale_workers(self, n: int) -> tuple[int, int]:
        """Set the number of writers to ``n`` (>= 1); returns (before, after) targets."""
        n = max(1, n)
        with self._lock:
            before = self._target
            self._target = n
            to_start = n - self._alive
            for _ in range(max(0, to_start)):
                self._start_locked()
        if n < before:
            self._queue.wake()  # idle writers re-check whether they should retire
        self._notify()
        return before, n

    def _start_locked(self) -> None:
        self._serial += 1
        t = threading.Thread(target=self._run, name=f"{self._name}-{self._serial}", daemon=False)
        self._threads[self._serial] = t
        self._alive += 1
        t.start()

    def _should_retire(self) -> bool:
        with self._lock:
            if self._alive > self._target:
                self._alive -= 1
                return True
            return False

    def _run(self) -> None:
        conn = None
        try:
            conn = self._connect()
            while True:
                item, _ = self._queue.get(interrupt=self._should_retire_peek)
                if item is STOP:
                    with self._lock:
                        self._alive -= 1
                    return
                if item is RETIRE:
                    if self._should_retire():
                        return
                    continue
                assert isinstance(item, Batch)
                if not self.skip_writes.is_set():
                    try:
                        self._write(conn, item)
                    except BaseException as exc:  # reported, then the pool keeps draining
                        self._on_error(exc, item)
                del item  # not held while waiting for the next batch
                if self._should_retire():
                    return
        except BaseException as exc:  # connect failed: report; the pipeline aborts the run
            with self._lock:
                self._alive -= 1
            self._on_error(exc, None)
        finally:
            if conn is not None:
                try:
                    self._disconnect(conn)
                except Exception as exc:  # closing a broken connection must not mask the error
                    log.debug("closing a writer connection failed: %s", exc)
            self._notify()

    def _should_retire_peek(self) -> bool:
        with self._lock:
            return self._alive > self._target

    def _notify(self) -> None:
        if self._on_size is not None:
            self._on_size(self.alive(), self._target)

    def join(self) -> None:
        """Wait for every writer that was ever started (call after closing the queue)."""
        while True:
            with self._lock:
                threads = list(self._threads.values())
            for t in threads:
                t.join()
            with self._lock:
                if all(not t.is_alive() for t in self._threads.values()):
                    return
