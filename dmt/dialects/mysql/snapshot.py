"""The run's snapshot on MySQL/MariaDB: a fixed set of connections whose ``START TRANSACTION
WITH CONSISTENT SNAPSHOT`` ran at the same moment, lent to the readers and never committed.

The same moment is made by a brief global lock (MariaDB ``BACKUP STAGE BLOCK_COMMIT``, MySQL
``FLUSH TABLES WITH READ LOCK``), released as soon as every transaction has started. Without
the privilege (or when the lock is not granted in time) the transactions start without it and
their binary log positions (MariaDB's ``binlog_snapshot_file/position``) must agree, else they
start again; where no position can be read (no binary log, MySQL) one connection reads
everything, which is one moment by construction.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

from dmt.dialects.mysql.columnar import MySQLColumnar
from dmt.dialects.snapshot import SnapshotPool
from dmt.errors import ConnectError
from dmt.model.schema import Table

log = logging.getLogger("dmt")

#: how often a lock-free start is tried before giving up on agreeing positions
TRIES = 5
#: seconds the global lock may wait for running statements before dmt starts without it
LOCK_WAIT = 10
#: the codes of a lock dmt may not take (no RELOAD privilege) or did not get in time
_NO_LOCK = {1044, 1045, 1142, 1205, 1227}
#: storage engines whose reads see a transaction's snapshot
_TRANSACTIONAL = {"innodb", "xtradb", "rocksdb", "tokudb", "ndb", "ndbcluster"}


@functools.cache
def connection_class() -> type:
    """PyMySQL's Connection lent out of a :class:`SnapshotPool`: commit and rollback keep the
    snapshot's transaction, close gives the connection back."""
    import pymysql

    class SnapshotConnection(pymysql.connections.Connection):
        pool: SnapshotPool | None = None

        def commit(self) -> None:
            """Nothing: the snapshot lives as long as this transaction (reads only)."""

        def rollback(self) -> None:
            """Nothing: a failed read does not end the snapshot's transaction."""

        def close(self) -> None:
            if self.pool is not None:
                self.pool.give(self)
            else:
                self.really_close()

        def really_close(self) -> None:
            if self.open:
                pymysql.connections.Connection.close(self)

    return SnapshotConnection


class MySQLSnapshot(MySQLColumnar):
    """The snapshot part of :class:`~dmt.dialects.mysql.MySQLDialect` (see the module)."""

    snapshot_holds_writers = True

    mariadb = True
    _pool: SnapshotPool | None = None
    _holder: Any = None  # the connection holding LOCK TABLES while the snapshot is open

    def _connect(self, cls: Any = None) -> Any:
        raise NotImplementedError

    def connect(self) -> Any:
        """A new connection; while the run's snapshot is open, one of its connections (waiting
        until one is free)."""
        pool = self._pool
        if pool is None:
            return self._connect()
        conn = pool.take(wait=True)
        if conn is None:
            raise ConnectError(self.side, "the run's snapshot was closed")
        return conn

    def connect_reader(self) -> Any:
        return self.connect() if self._pool is None else self._pool.take(wait=False)

    def snapshot_exceptions(self, table: Table) -> str | None:
        engine = table.storage_engine
        if engine and engine.lower() not in _TRANSACTIONAL:
            return (
                f"{table.name}: storage engine {engine} is not transactional; its rows are "
                "read as they are at that moment, not from the run's snapshot"
            )
        return None

    def open_snapshot(self, readers: int, tables: Sequence[str] = ()) -> str:
        held = self._hold(tables)
        if held:  # nothing commits to the run's tables: every reader reads this moment
            self.columnar_in_snapshot = True
            self.in_snapshot = True
            return held
        for _ in range(TRIES):
            conns = [self._connect(connection_class()) for _ in range(readers)]
            try:
                locked = self._start_together(conns)
                how = f"{len(conns)} connection(s) started under {locked}" if locked else None
                if how is None:
                    how, conns = self._agreed(conns)
            except BaseException:
                for c in conns:
                    c.really_close()
                raise
            if how is not None:
                self._pool = SnapshotPool(conns, lambda c: c.really_close())
                for c in conns:
                    c.pool = self._pool
                self.in_snapshot = True
                return how
        raise ConnectError(
            self.side, f"no consistent snapshot after {TRIES} tries: the readers' binary log "
            "positions kept differing; grant RELOAD (for BACKUP STAGE / FLUSH TABLES WITH READ "
            "LOCK) or set `migration.consistency: none`",
        )  # fmt: skip

    def close_snapshot(self) -> None:
        pool, self._pool = self._pool, None
        holder, self._holder = self._holder, None
        self.in_snapshot = False
        self.columnar_in_snapshot = False
        if pool is not None:
            pool.close()
        if holder is not None:
            try:
                with holder.cursor() as cur:
                    cur.execute("UNLOCK TABLES")
                holder.close()
            except Exception as exc:  # its session ended: the tables were not held throughout
                log.warning(
                    "the lock holding the source tables still was lost before the copy ended "
                    "(%s): rows written since may differ; `dmt validate --mode checksum` "
                    "finds them", self.describe_error(exc),
                )  # fmt: skip

    def _hold(self, tables: Sequence[str]) -> str | None:
        """``LOCK TABLES ... READ`` on the run's tables, on a connection kept until the copy
        ends: writers to them wait (the lock itself waits for their transactions in progress),
        readers of any kind, connectorx's own connections too, read one moment. None when the
        lock is refused (no LOCK TABLES privilege, or not granted in time): the caller then
        starts the lent snapshot connections instead."""
        import pymysql

        if not tables:
            return None
        conn = self._connect()
        names = ", ".join(f"{self.raw_quote(t)} READ" for t in tables)
        try:
            with conn.cursor() as cur:
                cur.execute(f"SET SESSION lock_wait_timeout = {LOCK_WAIT}")
                cur.execute(f"LOCK TABLES {names}")  # no parameters: no `%` doubling
        except pymysql.err.MySQLError as exc:
            conn.close()
            if exc.args and exc.args[0] in _NO_LOCK:
                log.info("cannot hold the source tables still (%s): reading from consistent-"
                         "snapshot connections instead", self.describe_error(exc))  # fmt: skip
                return None
            raise
        self._holder = conn
        return (
            f"{len(tables)} table(s) held with LOCK TABLES ... READ until the copy ends: "
            "writers to them wait until then"
        )

    def _start_together(self, conns: list[Any]) -> str | None:
        """Start every snapshot transaction under the global lock; the lock's name, or None
        when they were started without it (the lock was refused or not granted in time)."""
        import pymysql

        lock = self._connect()
        stages = (
            ["BACKUP STAGE START", "BACKUP STAGE BLOCK_COMMIT"]
            if self.mariadb
            else ["FLUSH TABLES WITH READ LOCK"]
        )
        name = "BACKUP STAGE BLOCK_COMMIT" if self.mariadb else "FLUSH TABLES WITH READ LOCK"
        try:
            with lock.cursor() as cur:
                cur.execute(f"SET SESSION lock_wait_timeout = {LOCK_WAIT}")
                try:
                    for sql in stages:
                        cur.execute(sql)
                except pymysql.err.MySQLError as exc:
                    if not (exc.args and exc.args[0] in _NO_LOCK):
                        raise
                    log.info("no global lock for the snapshot (%s): starting without it",
                             self.describe_error(exc))  # fmt: skip
                    name = ""
                for c in conns:
                    with c.cursor() as rc:
                        rc.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                        rc.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT")
                if name:
                    cur.execute("BACKUP STAGE END" if self.mariadb else "UNLOCK TABLES")
        finally:
            lock.close()
        return name or None

    def _agreed(self, conns: list[Any]) -> tuple[str | None, list[Any]]:
        """After a lock-free start: a description when every transaction's binary log position
        agrees; None (start again) when they differ; one connection alone when no position
        can be read."""
        positions = set()
        for c in conns:
            with c.cursor() as cur:
                cur.execute("SHOW STATUS LIKE 'binlog_snapshot_%%'", ())
                positions.add(tuple(sorted((str(k).lower(), str(v)) for k, v in cur.fetchall())))
        known = [p for p in positions if any(k.endswith("file") and v for k, v in p)]
        if len(positions) == 1 and known:
            return f"{len(conns)} connection(s) at one binary log position, without a lock", conns
        if known:
            for c in conns:
                c.really_close()
            return None, []
        for c in conns[1:]:
            c.really_close()
        return "one connection reads every table (no lock, no binary log position)", conns[:1]
