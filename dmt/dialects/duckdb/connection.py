"""A DuckDB connection with the DB-API behaviour the rest of dmt expects.

The ``duckdb`` module runs each statement in its own transaction unless told otherwise, its
``cursor()`` opens a *new* connection (its own transaction), and ``rollback()`` without a
transaction fails. dmt's code works like psycopg's: statements gather in one transaction
until ``commit()``, and a cursor runs on its connection. :class:`Connection` gives that: the
first statement after a commit or rollback begins a transaction, and cursors share it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class Connection:
    """One DuckDB connection (``raw``), transaction begun on the first statement."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self._in_tx = False
        self.held = False  # commit() waits for flush() (the writer's group commit)

    def cursor(self) -> Cursor:
        return Cursor(self)

    def run(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Execute one statement inside the connection's transaction; the raw result."""
        if not self._in_tx:
            self.raw.begin()
            self._in_tx = True
        return self.raw.execute(sql, list(params)) if params else self.raw.execute(sql)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.run(sql, params)

    def commit(self) -> None:
        if not self.held:
            self.flush()

    def flush(self) -> None:
        """Commit the transaction, held or not."""
        if self._in_tx:
            self._in_tx = False
            self.raw.commit()

    def rollback(self) -> None:
        if self._in_tx:
            self._in_tx = False
            self.raw.rollback()

    def close(self) -> None:
        try:
            if self._in_tx:
                self._in_tx = False
                self.raw.rollback()
        finally:
            self.raw.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Cursor:
    """A cursor on :class:`Connection`: its statements run in the connection's transaction.
    Only the latest statement's result is readable (DuckDB keeps one per connection)."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.rowcount = -1
        self.description: Any = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        res = self.conn.run(sql, params)
        self.description = res.description
        self.rowcount = -1
        return self

    def fetchone(self) -> Any:
        return self.conn.raw.fetchone()

    def fetchmany(self, n: int) -> list[Any]:
        return self.conn.raw.fetchmany(n)

    def fetchall(self) -> list[Any]:
        return self.conn.raw.fetchall()

    def close(self) -> None:
        pass

    def __enter__(self) -> Cursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
