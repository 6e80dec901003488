"""The run's snapshot on SQLite: one reader.

SQLite gives each connection its own view, fixed by its read transaction, and Python's sqlite3
cannot hand one connection's view to another (``sqlite3_snapshot_open`` is not exposed). So
every read of the run goes through one connection inside one read transaction, lent to one
reader at a time (the pipeline's extra reader threads stand down). In WAL mode writers to the
source go on committing meanwhile; with a rollback journal they wait for the copy to end (the
read transaction holds the file's shared lock), which dmt says in the log.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from dmt.dialects.snapshot import SnapshotPool
from dmt.dialects.sqlite.columnar import SQLiteColumnar
from dmt.errors import ConnectError

log = logging.getLogger("dmt")


class SnapshotConnection(sqlite3.Connection):
    """The connection of the run's read transaction: commit and rollback keep it, close gives
    the connection back to its pool."""

    pool: SnapshotPool | None = None

    def commit(self) -> None:
        """Nothing: the snapshot lives as long as this read transaction."""

    def rollback(self) -> None:
        """Nothing: a failed read does not end the snapshot's transaction."""

    def close(self) -> None:
        if self.pool is not None:
            self.pool.give(self)
        else:
            sqlite3.Connection.close(self)


class SQLiteSnapshot(SQLiteColumnar):
    """The snapshot part of :class:`~dmt.dialects.sqlite.SQLiteDialect` (see the module)."""

    _pool: SnapshotPool | None = None

    def _connect(self, factory: type[sqlite3.Connection] = sqlite3.Connection) -> Any:
        raise NotImplementedError

    def connect(self) -> Any:
        """A new connection; while the run's snapshot is open, its one connection (waiting
        until it is free)."""
        pool = self._pool
        if pool is None:
            return self._connect()
        conn = pool.take(wait=True)
        if conn is None:
            raise ConnectError(self.side, "the run's snapshot was closed")
        return conn

    def connect_reader(self) -> Any:
        return self.connect() if self._pool is None else self._pool.take(wait=False)

    def open_snapshot(self, readers: int) -> str:
        conn = self._connect(SnapshotConnection)
        try:
            (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the view is fixed
        except sqlite3.Error as exc:
            sqlite3.Connection.close(conn)
            raise ConnectError(self.side, f"SQLite file `{self.endpoint.path}`: {exc}") from exc
        self._pool = SnapshotPool([conn], lambda c: sqlite3.Connection.close(c))
        conn.pool = self._pool
        self.in_snapshot = True
        if str(mode).lower() != "wal":  # the common case of a file nobody writes: no warning
            log.info(
                "the source `%s` is in `%s` journal mode, not WAL: writers to it wait until "
                "the copy ends (or set `migration.consistency: none`)", self.endpoint.path, mode,
            )  # fmt: skip
        return "one reader inside one read transaction"

    def close_snapshot(self) -> None:
        pool, self._pool = self._pool, None
        self.in_snapshot = False
        if pool is not None:
            pool.close()
