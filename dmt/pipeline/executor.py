"""The executor seam: how the key-range tasks of one table are run.

The pipeline hands an :class:`Executor` the work of a table as :class:`KeyRangeTasks` (its
planned key ranges, in key order) and one function, ``run_task(conn, chunk)``, that reads a key
range and queues its batches for the writers. :meth:`Executor.run` returns once every task is
done or the run stops; an error of the calling worker is raised, the other workers' go to
``on_error``.

:class:`ThreadExecutor` is today's: up to ``parallel_readers`` threads of this process, each
with its own source connection, the calling thread (with the table's planning connection) being
the first. The Ray executor (:mod:`dmt.cluster`) takes the same :class:`KeyRangeTasks` but
copies each range end to end in a task (its pipeline overrides ``Pipeline.run_tasks``);
nothing here assumes threads but :class:`ThreadExecutor` itself.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from dmt.model.ranges import Chunk, take_adjacent

#: runs one task: reads the key range ``chunk`` on the source connection ``conn``
RunTask = Callable[[Any, Chunk], None]


class KeyRangeTasks:
    """The key ranges of one table still to read, handed out in key order.

    Each :meth:`take` reads ``width()`` consecutive planned ranges as one (only as many as are
    adjacent), so a chunk_size raised mid-table grows the reads; nothing is handed out once
    ``stopped()``. ``on_width(n)`` is told when the width changes.
    """

    def __init__(
        self, chunks: list[Chunk], width: Callable[[], int], stopped: Callable[[], bool],
        on_width: Callable[[int], None],
    ) -> None:  # fmt: skip
        self._pending = deque(chunks)
        self._width = width
        self._stopped = stopped
        self._on_width = on_width
        self._current = 1  # planned chunks per read
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    def take(self) -> Chunk | None:
        with self._lock:
            if not self._pending or self._stopped():
                return None
            n = self._width()
            if n != self._current:
                self._current = n
                self._on_width(n)
            return take_adjacent(self._pending, n)


class Executor(Protocol):
    """Runs the key-range tasks of one table (see the module docstring)."""

    def run(self, tasks: KeyRangeTasks, run_task: RunTask, workers: int, conn: Any) -> None:
        """Run ``run_task`` for every range ``tasks`` hands out, on up to ``workers`` workers;
        ``conn`` is the caller's source connection."""


class ThreadExecutor:
    """Tasks on threads of this process: each thread opens its own source connection
    (``connect`` / ``close``; a thread that gets None stands down), ``on_worker(+1 / -1)``
    counts the live ones."""

    def __init__(
        self,
        connect: Callable[[], Any],
        close: Callable[[Any], None],
        on_error: Callable[[BaseException], None],
        on_worker: Callable[[int], None],
    ) -> None:
        self._connect = connect
        self._close = close
        self._on_error = on_error
        self._on_worker = on_worker

    def run(self, tasks: KeyRangeTasks, run_task: RunTask, workers: int, conn: Any) -> None:
        n = max(1, min(workers, len(tasks)))
        extra = [
            threading.Thread(target=self._worker, args=(None, tasks, run_task),
                             name=f"dmt-reader-{i}")
            for i in range(n - 1)
        ]  # fmt: skip
        for t in extra:
            t.start()
        # an error of this worker goes up at once (the others stop once the run is stopped)
        self._worker(conn, tasks, run_task)
        for t in extra:
            t.join()

    def _worker(self, conn: Any, tasks: KeyRangeTasks, run_task: RunTask) -> None:
        own = conn is None
        self._on_worker(1)
        try:
            if own:
                conn = self._connect()
                if conn is None:  # no source connection free (the run's snapshot lends a
                    return  # fixed set): the other workers read this table's ranges
            while (chunk := tasks.take()) is not None:
                run_task(conn, chunk)
        except BaseException as exc:
            if not own:
                raise
            self._on_error(exc)
        finally:
            self._on_worker(-1)
            if own and conn is not None:
                self._close(conn)
