"""SIGTERM and Ctrl-C on a real ``dmt run`` process: the first signal finishes the batches in
flight, checkpoints and exits 5; a second exits at once; ``dmt resume`` then completes with
every row exactly once. In-process: no thread outlives a cancelled or finished run."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from dmt.config import build_config
from dmt.errors import Cancelled
from dmt.run import execute
from tests.conftest import PG, endpoint
from tests.support.compare import assert_same_table
from tests.support.killing import (
    Moment,
    assert_skipped_done_chunks,
    dmt,
    read_state,
    run_cli,
    stop_at,
    wait_for,
)
from tests.support.resume_data import ROWS, TABLES, fill


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("signals") / "source.db"
    fill("sqlite", path)
    return path


def _config(source: Path, tmp: Path, **migration: Any) -> tuple[Path, dict[str, Any]]:
    raw = {
        "source": endpoint("sqlite", source),
        "target": endpoint("sqlite", tmp / "target.db"),
        "migration": {"state_dir": str(tmp / "state"), "chunk_size": 1000, "workers": 2,
                      "validate": "count", **migration},
        "ai": {"provider": "none"},
    }  # fmt: skip
    path = tmp / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, raw


def _assert_copied(raw: dict[str, Any], tmp: Path) -> None:
    cfg = build_config(raw, tmp)
    assert {t: assert_same_table(cfg.source, cfg.target, t) for t in TABLES} == ROWS


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_first_signal_checkpoints_exits_5_and_resume_completes(
    source: Path, tmp_path: Path, sig: int
) -> None:
    cfg_path, raw = _config(source, tmp_path)
    log = tmp_path / "run.log"
    proc = dmt("run", "-c", str(cfg_path), "--verbosity", "info", log=log)
    outcome, _ = stop_at(proc, tmp_path / "state", Moment("done", 3), sig=sig)
    assert outcome == "signalled"
    assert proc.wait(60) == 5, log.read_text()
    text = log.read_text()
    assert "finishing batches in flight" in text
    assert "error: cancelled; safe to resume" in text
    st = read_state(tmp_path / "state")
    assert (st.status, st.phase) == ("cancelled", "copy")
    assert st.done > 0  # committed chunks are checkpointed; a partial one is cleaned on resume
    r = run_cli("resume", "-c", str(cfg_path))
    assert r.returncode == 0, r.stderr
    assert_skipped_done_chunks(st, read_state(tmp_path / "state"))  # only the rest is copied
    _assert_copied(raw, tmp_path)


def test_second_signal_exits_at_once(source: Path, tmp_path: Path, pg_db: str) -> None:
    """A writer blocked on a table lock keeps the first SIGTERM's graceful stop waiting for
    its batch; the second SIGTERM ends the process at once."""
    import psycopg

    cfg_path, raw = _config(source, tmp_path)
    raw["target"] = endpoint("postgres", pg_db)
    cfg_path.write_text(yaml.safe_dump(raw))
    log = tmp_path / "run.log"
    locker = psycopg.connect(dbname=pg_db, **PG)
    try:
        proc = dmt("run", "-c", str(cfg_path), "--verbosity", "info", log=log)
        wait_for(tmp_path / "state", Moment("phase", "copy"), proc.pid)
        # every table, so whichever one a writer is on it waits with its batch in hand (on a
        # slow machine `ints` alone was sometimes already written); held until rollback
        locker.execute("LOCK TABLE ints, pairs, texts, nokey IN ACCESS EXCLUSIVE MODE")
        _wait_for_lock_waiter(pg_db)  # a writer now waits on the lock with a batch in hand
        os.kill(proc.pid, signal.SIGTERM)
        _wait_for_text(log, "finishing batches in flight")
        time.sleep(1.0)
        assert proc.poll() is None  # the first signal waits for the batch being written
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(10) == 5
        assert time.monotonic() - t0 < 2
    finally:
        locker.rollback()
        locker.close()
    assert "second signal: exiting at once" in log.read_text()
    # nothing ran after the second signal: the run is still marked running, by a dead pid
    assert read_state(tmp_path / "state").status == "running"
    r = run_cli("resume", "-c", str(cfg_path))
    assert r.returncode == 0, r.stderr
    _assert_copied(raw, tmp_path)


def _wait_for_lock_waiter(db: str, timeout: float = 60) -> None:
    """Until a session of ``db`` waits on a lock (a sleep was not enough on a slow machine:
    the signal came before any writer held a batch, and the stop finished at once)."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(dbname=db, autocommit=True, **PG) as conn:
        sql = (
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
        )
        while (conn.execute(sql, (db,)).fetchone() or (0,))[0] == 0:
            assert time.monotonic() < deadline, "no writer ever waited on the lock"
            time.sleep(0.02)


def _wait_for_text(log: Path, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.01)


@pytest.mark.parametrize(
    "moment",
    [Moment("done", 3), Moment("phase", "finalize"), Moment("phase", "validate"), None],
    ids=["copy", "finalize", "validate", "finished"],
)
def test_no_thread_outlives_the_run(source: Path, tmp_path: Path, moment: Moment | None) -> None:
    _, raw = _config(source, tmp_path, validate="checksum", write_ahead_writers=3)
    raw["target"] = endpoint("sqlite", tmp_path / "target.db")
    cfg = build_config(raw, tmp_path)
    abort = threading.Event()
    before = set(threading.enumerate())

    def cancel() -> None:
        assert moment is not None
        wait_for(tmp_path / "state", moment, os.getpid())
        abort.set()

    watcher = threading.Thread(target=cancel) if moment else None
    if watcher:
        watcher.start()
    try:
        if moment is None:
            assert execute(cfg, abort=abort).status == "success"
        else:
            with pytest.raises(Cancelled):
                execute(cfg, abort=abort)
    finally:
        if watcher:
            watcher.join()
    assert set(threading.enumerate()) - before == set()
    if moment is not None:
        assert read_state(tmp_path / "state").status == "cancelled"
        assert execute(cfg, abort=threading.Event(), resume=True).status == "success"
        assert set(threading.enumerate()) - before == set()
    _assert_copied(raw, tmp_path)
