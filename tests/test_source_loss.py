"""The source server drops dmt's connections mid-copy: ``pg_terminate_backend`` of dmt's
sessions on the source database (by application_name), MariaDB's ``KILL CONNECTION`` of every
connection to the source database. SQLite has no server, so no connection to lose.

Each engine is tested on the exact row path and on the fast path it takes by default (binary
COPY out of PostgreSQL; the columnar path, connectorx, out of MariaDB). A loss is retried in
process as a resume (chunks in flight are removed from the target and read again), so every row
arrives exactly once; a loss that keeps happening ends with exit 2 and ``dmt resume`` completes.
The connections are dropped from the reporter's ``advance``, right after a batch of ``acc`` is
committed, so the loss lands mid-copy every time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dmt.copying as copying_module
from dmt.config import build_config
from dmt.errors import ConnectError
from dmt.progress import NullReporter
from dmt.run import execute
from tests.conftest import MY, PG, endpoint
from tests.support.compare import assert_same_table
from tests.support.resume_data import fresh_db

ROWS = {"acc": 60_000, "loose": 3_000}
#: (source engine, data_path, the path `acc` must take, target engine)
CASES = {
    "postgres-rows": ("postgres", "rows", "rows", "postgres"),
    "postgres-copy": ("postgres", "auto", "pg-binary-copy", "postgres"),
    "mysql-rows": ("mysql", "rows", "rows", "sqlite"),
    "mysql-columnar": ("mysql", "auto", "arrow (connectorx -> adbc ingest)", "sqlite"),
}


def _fill(engine: str, db: str) -> None:
    acc = [(i, f"name {i} ä", i * 7 - 3) for i in range(1, ROWS["acc"] + 1)]
    loose = [(i % 50, f"r{i}") for i in range(ROWS["loose"])]
    if engine == "postgres":
        import psycopg

        with psycopg.connect(dbname=db, **PG) as c:
            c.execute("CREATE TABLE acc (id bigint PRIMARY KEY, name varchar(40), qty bigint)")
            c.execute("CREATE TABLE loose (a int, b varchar(20))")
            with c.cursor() as cur:
                cur.executemany("INSERT INTO acc VALUES (%s, %s, %s)", acc)
                cur.executemany("INSERT INTO loose VALUES (%s, %s)", loose)
        return
    import pymysql

    c2 = pymysql.connect(database=db, charset="utf8mb4", **MY)  # type: ignore[arg-type]
    try:
        with c2.cursor() as cur:
            cur.execute("CREATE TABLE acc (id bigint PRIMARY KEY, name varchar(40), qty bigint)")
            cur.execute("CREATE TABLE loose (a int, b varchar(20))")
            cur.executemany("INSERT INTO acc VALUES (%s, %s, %s)", acc)
            cur.executemany("INSERT INTO loose VALUES (%s, %s)", loose)
        c2.commit()
    finally:
        c2.close()


def drop_connections(engine: str, db: str) -> int:
    """Drop every dmt connection to the source database ``db``; how many were dropped."""
    if engine == "postgres":
        import psycopg

        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
            row = admin.execute(
                "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'dmt' AND datname = %s AND pid <> pg_backend_pid()",
                (db,),
            ).fetchone()
            return int(row[0]) if row else 0
    import pymysql

    admin = pymysql.connect(autocommit=True, **MY)  # type: ignore[arg-type]
    killed = 0
    try:
        with admin.cursor() as cur:
            cur.execute(
                "SELECT ID FROM information_schema.PROCESSLIST "
                "WHERE DB = %s AND ID <> CONNECTION_ID()",
                (db,),
            )
            for (pid,) in cur.fetchall():
                try:
                    cur.execute(f"KILL CONNECTION {int(pid)}")
                    killed += 1
                except pymysql.err.OperationalError:  # gone meanwhile
                    pass
    finally:
        admin.close()
    return killed


class DropAfter(NullReporter):
    """Calls ``drop`` once, after the ``nth`` committed batch of ``acc`` (counted across the
    reporters of retried copies)."""

    def __init__(self, drop: Any, nth: int, seen: list[int]) -> None:
        self.drop = drop
        self.nth = nth
        self.seen = seen  # [batches seen, connections dropped]

    def advance(self, table: str, rows: int, nbytes: int = 0) -> None:
        if table != "acc":
            return
        self.seen[0] += 1
        if self.seen[0] == self.nth:
            self.seen[1] = self.drop()


@pytest.fixture(params=list(CASES))
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, ...]]:
    engine, data_path, path, target = CASES[request.param]
    with fresh_db(engine, tmp_path) as src, fresh_db(target, tmp_path) as dst:
        _fill(engine, src)
        raw = {
            "source": endpoint(engine, src),
            "target": endpoint(target, dst),
            "migration": {"state_dir": str(tmp_path / "state"), "chunk_size": 1000,
                          "workers": 2, "parallel_readers": 2, "write_ahead_writers": 2,
                          "validate": "count", "data_path": data_path},
            "ai": {"provider": "none"},
        }  # fmt: skip
        yield engine, src, path, raw


def _assert_copied(raw: dict[str, Any], tmp: Path) -> None:
    cfg = build_config(raw, tmp)
    assert {t: assert_same_table(cfg.source, cfg.target, t) for t in ROWS} == ROWS


def test_source_connections_dropped_once_are_retried(
    setup: tuple[Any, ...], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine, src, path, raw = setup
    cfg = build_config(raw, tmp_path)
    seen = [0, 0]
    with caplog.at_level(logging.INFO, logger="dmt"):
        result = execute(
            cfg, lambda total: DropAfter(lambda: drop_connections(engine, src), 3, seen)
        )
    assert seen[1] > 0, "no dmt connection to the source was dropped"
    assert result.status == "success"
    assert {t.name: t.path for t in result.tables}["acc"] == path
    lost = [r.getMessage() for r in caplog.records if "copying again in" in r.getMessage()]
    assert all("lost the connection to the source" in m for m in lost), caplog.text
    if path.startswith("arrow"):
        # connectorx opens a connection per query: a loss between its queries needs no retry
        print(lost[0] if lost else "absorbed: the next connectorx query reconnected")
    else:
        assert lost, caplog.text
        print(lost[0])
    _assert_copied(raw, tmp_path)


def test_source_connections_that_keep_dropping_stop_with_exit_2_then_resume(
    setup: tuple[Any, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(copying_module, "COPY_RETRY_BACKOFF", (0.1, 0.2))  # keep the test short
    engine, src, path, raw = setup
    cfg = build_config(raw, tmp_path)
    started, stop = threading.Event(), threading.Event()
    dropped: list[int] = []

    def keep_dropping() -> None:
        started.wait()
        while not stop.is_set():
            dropped.append(drop_connections(engine, src))
            time.sleep(0.002)

    killer = threading.Thread(target=keep_dropping)
    killer.start()
    err: ConnectError | None = None
    try:
        execute(cfg, lambda total: DropAfter(started.set, 1, [0, 0]))
    except ConnectError as exc:  # lost, or lost while reconnecting
        err = exc
    finally:
        started.set()
        stop.set()
        killer.join()
    assert sum(dropped) > 0
    if err is None:
        # connectorx connects per query: a run can slip every query between two drops
        assert path.startswith("arrow"), "the copy survived connections dropped every 2 ms"
        print("absorbed: every connectorx query reconnected")
    else:
        assert err.exit_code == 2 and err.side == "source", err
        print(err)
        assert execute(cfg, resume=True).status == "success"
    _assert_copied(raw, tmp_path)
