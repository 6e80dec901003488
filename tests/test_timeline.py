"""A run's monitor history holds together: samples reach the state store as they are taken
(a killed run keeps them), a copy retried in process keeps the samples and decisions of the
attempt before, and a resumed run's samples continue the run's timeline (the chart never
overlaps itself). Real databases: SQLite -> PostgreSQL with ``ai_adjust``."""

from __future__ import annotations

import json
import signal
import sqlite3
import threading
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

import dmt.copying as copying_module
from dmt.config import build_config
from dmt.run import execute
from dmt.state import StateStore
from tests.conftest import PG, endpoint
from tests.support.killing import TERMINATE, dmt, run_cli
from tests.support.resume_data import big_sqlite

ROWS = 600_000


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return big_sqlite(tmp_path_factory.mktemp("timeline") / "source.db", ROWS)


def _raw(source: Path, db: str, tmp: Path) -> dict[str, Any]:
    return {
        "source": endpoint("sqlite", source),
        "target": endpoint("postgres", db),
        "migration": {"state_dir": str(tmp / "state"), "chunk_size": 1000, "workers": 1,
                      "write_ahead_writers": 1, "validate": "count", "ai_adjust": True,
                      "ai_adjust_interval": 1, "data_path": "rows", "learn": False},
        "ai": {"provider": "none"},
    }  # fmt: skip


def _stored(state: Path, kind: str) -> list[dict[str, Any]]:
    """Records of ``kind`` in the store, read as another process would (no lock taken)."""
    db = state / "state.db"
    if not db.exists():
        return []
    c = sqlite3.connect(db, timeout=30)
    try:
        rows = c.execute("SELECT record FROM adjustments ORDER BY run_id, seq").fetchall()
    except sqlite3.OperationalError:  # the tables are not created yet
        return []
    finally:
        c.close()
    return [r for (text,) in rows if (r := json.loads(text)).get("kind") == kind]


def _wait_samples(state: Path, n: int, timeout: float = 120) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = _stored(state, "sample")
        if len(got) >= n:
            return got
        time.sleep(0.02)
    raise AssertionError(f"{n} samples not stored in {timeout}s")


def _increasing(samples: list[dict[str, Any]]) -> bool:
    ts = [s["t"] for s in samples]
    return all(a < b for a, b in pairwise(ts))


def test_killed_run_keeps_its_samples_and_resume_continues_the_timeline(
    source: Path, pg_db: str, tmp_path: Path
) -> None:
    raw = _raw(source, pg_db, tmp_path)
    state = tmp_path / "state"
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    log = tmp_path / "run.log"
    proc = dmt("run", "-c", str(cfg_path), "--verbosity", "info", log=log)
    try:
        _wait_samples(state, 2)
        assert proc.poll() is None, "the run ended before it could be killed: " + log.read_text()
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    kept = _stored(state, "sample")
    assert len(kept) >= 2 and _increasing(kept)  # flushed as taken: the kill lost none of them
    result = execute(build_config(raw, tmp_path), resume=True)
    assert result.status == "success"
    after = _stored(state, "sample")
    assert after[: len(kept)] == kept and len(after) > len(kept)
    assert _increasing(after), [s["t"] for s in after]  # the resume continues the timeline
    chart = tmp_path / "run.svg"
    r = run_cli("history", "--state-dir", str(state), "--run", result.run_id, "--plot", str(chart))
    assert r.returncode == 0, r.stderr
    assert chart.read_text().count("<svg") == 1


def test_retried_copy_keeps_the_samples_of_the_attempt_before(
    source: Path, pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(copying_module, "COPY_RETRY_BACKOFF", (0.1, 0.2))
    raw = _raw(source, pg_db, tmp_path)
    state = tmp_path / "state"
    seen: list[list[dict[str, Any]]] = []

    def drop_once() -> None:
        seen.append(_wait_samples(state, 2))
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
            admin.execute(TERMINATE, (pg_db,))

    dropper = threading.Thread(target=drop_once)
    dropper.start()
    try:
        result = execute(build_config(raw, tmp_path))
    finally:
        dropper.join()
    assert result.status == "success"
    assert result.metrics["dmt_retries_total"] == 1
    store = StateStore(state)
    try:
        stored = store.adjustments(result.run_id)
    finally:
        store.close()
    samples = [a for a in stored if a.get("kind") == "sample"]
    ids = [a["id"] for a in stored if a.get("kind") == "decision"]
    assert len(ids) == len(set(ids))  # every attempt's decisions kept, each id once in the run
    before = seen[0]
    assert samples[: len(before)] == before  # the first attempt's samples are kept
    assert len(samples) > len(before) and _increasing(samples), [s["t"] for s in samples]
