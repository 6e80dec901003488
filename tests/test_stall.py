"""A lock held on a target table mid-copy: stall detection names the stuck chunk and what the
server says about it, cancels the query and copies the chunk again as a resume of it.

Another connection takes the lock right after the first batch of the table is committed (in the
reporter's ``advance``, so it lands mid-copy every time): ``LOCK TABLE ... IN ACCESS EXCLUSIVE
MODE`` on PostgreSQL, ``LOCK TABLES ... WRITE`` on MariaDB. Released after the first cancel,
the run completes with every row exactly once; held throughout, the run stops with exit 2
naming the table and chunk, and ``dmt resume`` completes once the lock is gone.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dmt.copying as copying_module
from dmt.config import build_config
from dmt.errors import ConnectError, DmtError, PostLoadError, Stalled, ValidationIncomplete
from dmt.progress import NullReporter
from dmt.run import execute
from tests.conftest import MY, PG, endpoint
from tests.support.compare import assert_same_table
from tests.support.resume_data import ROWS, TABLES, fill, fresh_db

STALL = 2.0  # seconds; batches here take milliseconds, so the limit stays at this
#: (source, target, the table locked, the path it takes): binary COPY pass-through, the row
#: path (LOAD DATA), and the columnar path, whose ADBC ingest runs on connections of its own
CASES = {
    "postgres": ("postgres", "postgres", "ints", "pg-binary-copy"),
    "mysql": ("sqlite", "mysql", "ints", "rows"),
    "postgres-adbc": ("sqlite", "postgres", "plain", "arrow (connectorx -> adbc ingest)"),
}
PLAIN = 20_000  # rows of `plain`, a table the columnar path carries


class TableLock:
    """A lock on a target table from a connection of the test's own."""

    def __init__(self, engine: str, db: str, table: str = "ints") -> None:
        self.engine = engine
        self.table = table
        self.pid = 0
        if engine == "postgres":
            import psycopg

            self.conn: Any = psycopg.connect(dbname=db, **PG)
            self.pid = self.conn.info.backend_pid
        else:
            import pymysql

            self.conn = pymysql.connect(database=db, autocommit=True, **MY)  # type: ignore[arg-type]
            self.pid = self.conn.thread_id()
        self.held = threading.Event()
        self._mutex = threading.Lock()
        self._taken = False

    def take_once(self) -> None:
        with self._mutex:
            if not self._taken:
                self._taken = True
                self.take()

    def take(self) -> None:
        if self.engine == "postgres":
            self.conn.execute(f'LOCK TABLE "public"."{self.table}" IN ACCESS EXCLUSIVE MODE')
        else:
            with self.conn.cursor() as cur:
                cur.execute(f"LOCK TABLES `{self.table}` WRITE")
        self.held.set()

    def release(self) -> None:
        if not self.held.is_set():
            return
        if self.engine == "postgres":
            self.conn.rollback()
        else:
            with self.conn.cursor() as cur:
                cur.execute("UNLOCK TABLES")
        self.held.clear()

    def close(self) -> None:
        self.release()
        self.conn.close()


class LockAfterFirstBatch(NullReporter):
    """Takes the lock right after the first batch of its table is committed (once per lock: a
    retried copy makes a new reporter)."""

    def __init__(self, lock: TableLock) -> None:
        self.lock = lock

    def advance(self, table: str, rows: int, nbytes: int = 0) -> None:
        if table == self.lock.table:
            self.lock.take_once()


class ReleaseOnRetry(logging.Handler):
    """Releases the lock when the copy is about to be retried (after the first cancel)."""

    def __init__(self, lock: TableLock) -> None:
        super().__init__(logging.WARNING)
        self.table_lock = lock  # `lock` is the handler's own

    def emit(self, record: logging.LogRecord) -> None:
        if "copying again in" in record.getMessage():
            self.table_lock.release()


@pytest.fixture(params=list(CASES))
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, ...]]:
    kind, engine, table, path = CASES[request.param]
    with fresh_db(kind, tmp_path) as src, fresh_db(engine, tmp_path) as dst:
        fill(kind, src)
        if table == "plain":
            with sqlite3.connect(src) as c:
                c.execute("CREATE TABLE plain (id integer PRIMARY KEY, v text, q integer)")
                c.executemany(
                    "INSERT INTO plain VALUES (?, ?, ?)",
                    ((i, f"v{i}", i * 3) for i in range(PLAIN)),
                )
        raw = {
            "source": endpoint(kind, src),
            "target": endpoint(engine, dst),
            "migration": {"state_dir": str(tmp_path / "state"), "chunk_size": 1000,
                          "workers": 1, "write_ahead_writers": 2, "validate": "count",
                          "stall_timeout": STALL},
            "ai": {"provider": "none"},
        }  # fmt: skip
        yield dst, raw, table, path


def _run(raw: dict[str, Any], tmp: Path, lock: TableLock | None, resume: bool = False) -> Any:
    cfg = build_config(raw, tmp)
    if lock is None:
        return execute(cfg, resume=resume)
    return execute(cfg, reporter_factory=lambda total: LockAfterFirstBatch(lock), resume=resume)


def _assert_copied(raw: dict[str, Any], tmp: Path, table: str = "ints") -> None:
    cfg = build_config(raw, tmp)
    assert {t: assert_same_table(cfg.source, cfg.target, t) for t in TABLES} == ROWS
    if table == "plain":
        assert assert_same_table(cfg.source, cfg.target, "plain") == PLAIN


def test_a_lock_released_after_the_first_cancel(
    setup: tuple[Any, ...], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dst, raw, table, path = setup
    engine = raw["target"]["type"]
    lock = TableLock(engine, dst, table)
    handler = ReleaseOnRetry(lock)
    logging.getLogger("dmt").addHandler(handler)
    try:
        with caplog.at_level(logging.INFO, logger="dmt"):
            result = _run(raw, tmp_path, lock)
    finally:
        logging.getLogger("dmt").removeHandler(handler)
        lock.close()
    assert result.status == "success"
    assert {t.name: t.path for t in result.tables}[table] == path
    stalls = [r.getMessage() for r in caplog.records if "no batch committed" in r.getMessage()]
    assert len(stalls) == 1, caplog.text
    stall = stalls[0]
    print(stall)
    assert stall.startswith(f"table `{table}` chunk"), stall
    assert "the write of batch" in stall and "on the target" in stall
    if engine == "postgres":
        assert f"blocked by pid {lock.pid} " in stall, stall
        assert "waiting on Lock `relation`" in stall, stall
    else:
        assert "state `Waiting for table metadata lock`" in stall, stall
    assert "copying again in" in caplog.text
    _assert_copied(raw, tmp_path, table)


def test_a_lock_held_throughout_stops_with_exit_2_then_resume_completes(
    setup: tuple[Any, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    monkeypatch.setattr(copying_module, "COPY_RETRY_BACKOFF", (0.1, 0.2))  # keep the test short
    dst, raw, table, _ = setup
    lock = TableLock(raw["target"]["type"], dst, table)
    try:
        with caplog.at_level(logging.INFO, logger="dmt"), pytest.raises(ConnectError) as info:
            _run(raw, tmp_path, lock)
        assert lock.held.is_set()
    finally:
        lock.close()
    err = info.value
    print(err)
    assert isinstance(err, Stalled) and err.exit_code == 2
    assert str(err).startswith(f"table `{table}` chunk"), err
    assert caplog.text.count("copying again in") == 2
    result = _run(raw, tmp_path, None, resume=True)  # the lock is gone
    assert result.status == "success"
    _assert_copied(raw, tmp_path, table)


class LockWhenCopied(NullReporter):
    """Takes the lock once every row of ``ints`` is copied: the post-load work meets it."""

    def __init__(self, lock: TableLock) -> None:
        self.lock = lock

    def finish_table(self, table: str, rows: int) -> None:
        if table == "ints":
            self.lock.take_once()


@pytest.mark.parametrize("setup", ["postgres", "mysql"], indirect=True)
@pytest.mark.parametrize("stage", ["post-load", "validation"])
def test_post_load_and_validation_statements_time_out(
    setup: tuple[Any, ...], tmp_path: Path, stage: str
) -> None:
    dst, raw, _, _ = setup
    engine = raw["target"]["type"]
    raw["migration"]["statement_timeout"] = 1
    if stage == "validation":  # nothing to build after the copy: validation meets the lock
        raw["migration"].update(create_indexes=False, create_foreign_keys=False)
    lock = TableLock(engine, dst)
    cfg = build_config(raw, tmp_path)
    try:
        with pytest.raises(DmtError) as info:
            execute(cfg, reporter_factory=lambda total: LockWhenCopied(lock))
    finally:
        lock.close()
    err = info.value
    print(err)
    # MariaDB: whichever of max_statement_time and the lock-wait timeout (both 1s) ends it
    said = ("statement timeout",) if engine == "postgres" else ("max_statement_time", "Lock wait")
    assert any(s in str(err) for s in said), err
    if stage == "post-load":
        assert isinstance(err, PostLoadError) and err.exit_code == 3
        assert any("ints_v" in f for f in err.failures), err
    else:
        assert isinstance(err, ValidationIncomplete) and err.exit_code == 4
        assert "counting rows on the target failed" in str(err), err
