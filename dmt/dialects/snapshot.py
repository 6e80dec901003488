"""One consistent snapshot for every reader of a run (``migration.consistency: snapshot``).

A source dialect opens the run's snapshot once (:meth:`~dmt.dialects.base.Dialect.open_snapshot`)
and, until it is closed, every connection it hands out reads that one moment of the source:

- PostgreSQL exports the snapshot of one REPEATABLE READ transaction held open for the run;
  every reader connection imports it at the start of each of its transactions;
- MySQL/MariaDB start a fixed set of ``WITH CONSISTENT SNAPSHOT`` transactions at the same
  moment and lend them out (:class:`SnapshotPool`); they are never committed;
- MySQL/MariaDB and SQLite, whose columnar reader (connectorx) opens connections of its own,
  hold the copied tables still instead where they can: MySQL ``LOCK TABLES ... READ`` on the
  run's tables, SQLite the file's write lock (``BEGIN IMMEDIATE``), from the start of the copy
  to its end. Every reader, of any kind, then reads the one moment the lock began; writers to
  those tables wait. Where the lock is refused, MySQL readers fall back to the lent
  ``WITH CONSISTENT SNAPSHOT`` connections (and the row path).

:class:`RunSnapshot` is the run's handle on it: opened before the copy, renewed when a lost
connection makes the copy start again, closed after validation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dmt.dialects.base import Dialect

log = logging.getLogger("dmt")

#: what a resumed run says: the snapshot of the run it continues died with it
RESUMED = "resumed from a new snapshot: rows changed since the first run may differ"


class SnapshotPool:
    """A fixed set of connections, each already inside the run's snapshot, lent to readers.

    :meth:`take` with ``wait`` blocks until one is free (a table driver must have one);
    without it returns None at once (an extra reader thread then stands down). Connections
    come back through :meth:`give` (their ``close()`` calls it); :meth:`close` really closes
    them all with ``really_close``.
    """

    def __init__(self, conns: list[Any], really_close: Callable[[Any], None]) -> None:
        self._idle = list(conns)
        self._all = list(conns)
        self._really_close = really_close
        self._cond = threading.Condition()
        self.closed = False

    def __len__(self) -> int:
        return len(self._all)

    def take(self, wait: bool = True) -> Any:
        with self._cond:
            while not self._idle:
                if not wait or self.closed:
                    return None
                self._cond.wait()
            return self._idle.pop()

    def give(self, conn: Any) -> None:
        with self._cond:
            if self.closed:
                self._really_close(conn)
                return
            if conn not in self._idle:
                self._idle.append(conn)
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            conns, self._all, self._idle = self._all, [], []
            self._cond.notify_all()
        for conn in conns:
            try:
                self._really_close(conn)
            except Exception as exc:  # a broken connection cannot be closed cleanly
                log.debug("closing a snapshot connection failed: %s", exc)


class RunSnapshot:
    """The run's snapshot of the source: :meth:`open` before the copy, :meth:`renew` when the
    copy starts again after a lost connection, :meth:`close` after validation. Does nothing
    when ``enabled`` is false (``consistency: none``)."""

    def __init__(
        self, source: Dialect, readers: int, enabled: bool, tables: Sequence[str] = ()
    ) -> None:
        self.source = source
        self.readers = max(1, readers)
        self.enabled = enabled
        self.tables = list(tables)
        self.opened = False

    def open(self) -> None:
        if not self.enabled or self.opened:
            return
        how = self.source.open_snapshot(self.readers, self.tables)
        self.opened = True
        log.info("reading the source from one snapshot: %s", how)

    def renew(self) -> None:
        if not self.enabled:
            return
        self.close()
        log.warning("copying again from a new snapshot: rows changed since the last one may differ")
        self.open()

    def close(self) -> None:
        if self.opened:
            self.opened = False
            self.source.close_snapshot()

    def __enter__(self) -> RunSnapshot:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
