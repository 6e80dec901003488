"""Stall detection: when no batch has committed for the stall timeout, name the stuck query,
ask its server what it is waiting for, stop the copy with a :class:`~dmt.errors.Stalled` error
and cancel the query from a separate connection.

Readers and writers mark the time they spend in a server call (:meth:`StallWatch.busy`); time
spent waiting on the read-ahead queue is not a server call. The stuck call is the oldest one
still running. The limit is ``stall_timeout`` or ``STALL_FACTOR`` times the slowest batch seen
(read or write), whichever is longer, so a copy whose batches are merely slow is not a stall.
The copy that stops this way is retried as a resume (:mod:`dmt.run`): the chunk in flight is
removed from the target and copied again.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from dmt.dialects.base import Dialect
from dmt.errors import Stalled, first_line, located
from dmt.model.ranges import Chunk

log = logging.getLogger("dmt.pipeline")

#: the limit grows to this many times the slowest batch seen
STALL_FACTOR = 10


@dataclass(frozen=True)
class _Call:
    dialect: Dialect
    conn: Callable[[], Any]  # the connection running the call's statement now
    table: str
    chunk: Chunk
    doing: str
    since: float


class StallWatch:
    """Watches one pipeline's server calls; ``on_stall`` gets the error before the cancel."""

    def __init__(
        self,
        timeout: float,
        on_stall: Callable[[Stalled], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self._on_stall = on_stall
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: dict[int, _Call] = {}
        self._ids = itertools.count()
        self._last = clock()
        self._slowest = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def limit(self) -> float:
        """Seconds without a commit that count as a stall."""
        return max(self.timeout, STALL_FACTOR * self._slowest)

    @contextmanager
    def busy(
        self, dialect: Dialect, conn: Callable[[], Any], table: str, chunk: Chunk, doing: str
    ) -> Iterator[None]:
        """Marks a server call while the block runs: ``doing`` says what it is, ``conn()`` is
        the connection running its statement."""
        token = next(self._ids)
        with self._lock:
            self._calls[token] = _Call(dialect, conn, table, chunk, doing, self._clock())
        try:
            yield
        finally:
            with self._lock:
                del self._calls[token]

    def observed(self, seconds: float) -> None:
        """A batch took ``seconds`` to read or to write."""
        with self._lock:
            self._slowest = max(self._slowest, seconds)

    def committed(self, seconds: float) -> None:
        """A batch was committed on the target after ``seconds`` of writing."""
        with self._lock:
            self._last = self._clock()
            self._slowest = max(self._slowest, seconds)

    # ------------------------------------------------------------------ the thread
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="dmt-stall-watch")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(min(5.0, max(0.1, self.limit() / 5))):
            self.check()

    def check(self) -> Stalled | None:
        """The stall found now (already handed to ``on_stall`` and cancelled), or None."""
        now = self._clock()
        with self._lock:
            quiet = now - self._last
            if quiet < self.limit() or not self._calls:
                return None
            call = min(self._calls.values(), key=lambda c: c.since)
            self._last = now  # the next stall is counted from this one
        side = call.dialect.side
        err = Stalled(
            side,
            located(call.table, call.chunk.describe())
            + f"no batch committed for {quiet:.1f}s (stall_timeout {self.limit():.1f}s); "
            f"{call.doing} on the {side} has run for {now - call.since:.1f}s: "
            + self._ask(call, cancel=False)
            + "; cancelling it",
        )
        self._on_stall(err)
        self._ask(call, cancel=True)
        return err

    def _ask(self, call: _Call, cancel: bool) -> str:
        """What the server reports on the call's session (or cancel its statement), asked on
        a connection of its own; a failure to ask is said, never raised."""
        d = call.dialect
        try:
            session = d.session_id(call.conn())
        except Exception as exc:  # a connection that broke meanwhile
            return f"its session is unknown ({first_line(exc)})"
        if session is None:
            return "no server session to ask about"
        try:
            admin = d.connect()
        except Exception as exc:
            return f"the server could not be asked ({first_line(exc)})"
        try:
            if cancel:
                d.cancel_session(admin, session)
                return ""
            return d.session_report(admin, session)
        except Exception as exc:
            log.debug("asking the %s about session %s failed: %s", d.side, session, exc)
            return f"the server could not be asked ({d.describe_error(exc)})"
        finally:
            try:
                admin.close()
            except Exception as exc:  # nothing more to do with it
                log.debug("closing a connection failed: %s", exc)
