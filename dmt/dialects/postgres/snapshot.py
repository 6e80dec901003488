"""The run's snapshot on PostgreSQL: one REPEATABLE READ transaction exports it
(``pg_export_snapshot()``) and stays open until the snapshot is closed; every reader
connection imports it (``SET TRANSACTION SNAPSHOT``) at the start of each of its transactions,
so a commit between two chunks starts the next one at the same moment again."""

from __future__ import annotations

import functools
import re
from typing import Any

from dmt.errors import ConnectionLost, first_line

#: what pg_export_snapshot() returns (e.g. ``00000003-0000001B-1``): safe to spell as a literal
_SNAPSHOT_ID = re.compile(r"^[0-9A-Fa-f-]+$")
#: a reader sits idle in its transaction between chunks; a server-side limit must not end it
_NO_IDLE_LIMIT = "SET SESSION idle_in_transaction_session_timeout = 0"


def begin_statements(snapshot_id: str) -> list[str]:
    """The statements that start a transaction inside the exported snapshot ``snapshot_id``."""
    if not _SNAPSHOT_ID.match(snapshot_id):
        raise ValueError(f"not a snapshot id: {snapshot_id!r}")
    return [
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        f"SET TRANSACTION SNAPSHOT '{snapshot_id}'",
    ]


@functools.cache
def connection_class() -> type:
    """psycopg's Connection whose every transaction imports ``snapshot_id``: a new one is
    started (and the snapshot imported) as soon as the last one commits or rolls back."""
    import psycopg

    class SnapshotConnection(psycopg.Connection):
        snapshot_id = ""

        def begin_snapshot(self, snapshot_id: str) -> None:
            self.snapshot_id = snapshot_id
            with self.cursor() as cur:
                cur.execute(_NO_IDLE_LIMIT)
            super().commit()
            self._import()

        def commit(self) -> None:
            super().commit()
            self._import()

        def rollback(self) -> None:
            super().rollback()
            self._import()

        def _import(self) -> None:
            try:
                with self.cursor() as cur:  # psycopg's own BEGIN comes first
                    for sql in begin_statements(self.snapshot_id):
                        cur.execute(sql)
            except psycopg.errors.InvalidParameterValue as exc:
                # the exporting transaction ended: a retry of the copy opens a new snapshot
                raise ConnectionLost(
                    "source",
                    f"the run's snapshot `{self.snapshot_id}` ended (its exporting "
                    f"connection is gone): {first_line(exc)}",
                ) from exc

    return SnapshotConnection


def export(conn: Any) -> str:
    """Begin the coordinating transaction on ``conn`` (autocommit) and export its snapshot."""
    conn.autocommit = True
    conn.execute(_NO_IDLE_LIMIT)
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
    row = conn.execute("SELECT pg_export_snapshot()").fetchone()
    return str(row[0])
