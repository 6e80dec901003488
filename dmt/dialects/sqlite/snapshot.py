"""The run's snapshot on SQLite: the file held still.

SQLite gives each connection its own view, fixed by its read transaction, and no driver dmt
uses can hand one connection's view to another (``sqlite3_snapshot_open`` is not exposed;
connectorx opens connections of its own). So the run holds the file's write lock
(``BEGIN IMMEDIATE``) from the start of the copy to its end: readers of any kind, as many as
the pipeline runs, read the one state the file had when the lock was taken; writers to the
source wait (or give up with SQLITE_BUSY) until the copy ends, which dmt says in the log.

The lock is held by a small child process, not by a connection of dmt's own: a process's file
locks are the process's, and the second SQLite library connectorx carries drops every lock the
process holds on a file when it closes its own descriptor of it. The child exits, releasing the
lock, when dmt closes its stdin, or when dmt dies.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from dmt.dialects.sqlite.columnar import SQLiteColumnar
from dmt.errors import ConnectError


class SQLiteSnapshot(SQLiteColumnar):
    """The snapshot part of :class:`~dmt.dialects.sqlite.SQLiteDialect` (see the module)."""

    snapshot_holds_writers = True

    columnar_in_snapshot = True  # every reader sees the held file
    _holder: subprocess.Popen[str] | None = None

    def _connect(self, factory: type[sqlite3.Connection] = sqlite3.Connection) -> Any:
        raise NotImplementedError

    def connect(self) -> Any:
        return self._connect()

    def open_snapshot(self, readers: int, tables: Sequence[str] = ()) -> str:
        path = str(self.endpoint.path)
        child = subprocess.Popen(
            [sys.executable, "-c", _HOLDER, path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        assert child.stdout is not None
        answer = child.stdout.readline().strip()
        if answer != "held":
            child.kill()
            child.wait()
            child.stdout.close()
            raise ConnectError(
                self.side, f"SQLite file `{path}`: cannot hold it still for the copy "
                f"({answer or 'the holder exited'}); set `migration.consistency: none` to copy "
                "without holding it",
            )  # fmt: skip
        self._holder = child
        self.in_snapshot = True
        return f"the file's write lock is held until the copy ends: writers to `{path}` wait"

    def close_snapshot(self) -> None:
        child, self._holder = self._holder, None
        self.in_snapshot = False
        if child is not None:
            with contextlib.suppress(OSError):
                assert child.stdin is not None
                child.stdin.close()  # the holder rolls back and exits
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            if child.stdout is not None:
                child.stdout.close()


#: the holder: takes the write lock (waiting up to 60 s for a writer in progress), says so,
#: and keeps it until its stdin closes
_HOLDER = """
import sqlite3, sys
try:
    conn = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
except Exception as exc:
    print(str(exc).splitlines()[0], flush=True)
    sys.exit(1)
print("held", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""
