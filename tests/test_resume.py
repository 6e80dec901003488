"""Crash-safe resume: kill -9 the dmt process at many moments, resume, and find every source
row on the target exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from dmt.config import build_config
from tests.conftest import PG, endpoint
from tests.support.compare import assert_same_table

TABLES = ("ints", "pairs", "texts", "nokey")


def _fill_pg(db: str) -> None:
    with psycopg.connect(dbname=db, autocommit=True, **PG) as c:
        c.execute(
            "CREATE TABLE ints (id bigint PRIMARY KEY, v text, n numeric(12,3));"
            "INSERT INTO ints SELECT g, md5(g::text), g / 7.0 FROM generate_series(1, 120000) g;"
            "CREATE TABLE pairs (a int, b int, v text, PRIMARY KEY (a, b));"
            "INSERT INTO pairs SELECT g % 97, g, repeat('p', g % 20) FROM generate_series(1, 40000) g;"
            "CREATE TABLE texts (k varchar(40) PRIMARY KEY, v int);"
            "INSERT INTO texts SELECT 'Key-' || md5(g::text) || CASE WHEN g % 3 = 0 THEN 'ä' "
            "ELSE 'Z' END, g FROM generate_series(1, 40000) g;"
            "CREATE TABLE nokey (x int, y text);"
            "INSERT INTO nokey SELECT g % 1000, 'row' || g FROM generate_series(1, 20000) g;"
            "CREATE INDEX ints_v ON ints (v);"
            "ALTER TABLE pairs ADD CONSTRAINT pairs_ints FOREIGN KEY (b) REFERENCES ints (id);"
            "ANALYZE"
        )


def _state_query(state_dir: Path, sql: str) -> Any:
    path = state_dir / "state.db"
    if not path.exists():
        return None
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as c:
            row = c.execute(sql).fetchone()
            return row[0] if row else None
    except sqlite3.Error:
        return None


def _run_and_kill(cfg_path: Path, state_dir: Path, kill_when: str, threshold: int) -> str:
    """Start `dmt run`, SIGKILL it when the state store shows the moment; return what happened."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dmt", "run", "-c", str(cfg_path), "--verbosity", "warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return "finished before the kill point"
            if kill_when == "chunks":
                done = _state_query(state_dir, "SELECT COUNT(*) FROM chunks WHERE done = 1")
                if done is not None and done >= threshold:
                    break
            elif kill_when == "started":
                st = _state_query(state_dir, "SELECT COUNT(*) FROM chunks WHERE started = 1")
                if st is not None and st >= threshold:
                    break
            else:  # a phase name
                phase = _state_query(
                    state_dir, "SELECT phase FROM runs ORDER BY started DESC LIMIT 1"
                )
                if phase == kill_when:
                    time.sleep(threshold / 1000)
                    if proc.poll() is not None:
                        return "finished before the kill point"
                    break
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        return "killed"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# (kill moment, threshold): chunks committed, chunks started, or a phase (+ delay in ms)
KILL_POINTS = [
    ("prepare", 0),
    ("started", 1),
    ("chunks", 3),
    ("chunks", 40),
    ("started", 90),
    ("chunks", 120),
    ("chunks", 175),
    ("finalize", 0),
    ("finalize", 20),
    ("validate", 0),
]


@pytest.fixture(scope="module")
def source_db(pg_db: str) -> str:
    _fill_pg(pg_db)
    return pg_db


@pytest.mark.parametrize(
    ("when", "threshold"), KILL_POINTS, ids=[f"{w}-{t}" for w, t in KILL_POINTS]
)
def test_kill_and_resume_pg_to_sqlite(
    source_db: str, tmp_path: Path, when: str, threshold: int
) -> None:
    state = tmp_path / "state"
    raw = {
        "source": endpoint("postgres", source_db),
        "target": endpoint("sqlite", tmp_path / "target.db"),
        "migration": {"state_dir": str(state), "chunk_size": 1000, "parallel_readers": 2,
                      "workers": 2, "validate": "count"},
    }  # fmt: skip
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    outcome = _run_and_kill(cfg_path, state, when, threshold)
    r = subprocess.run(
        [sys.executable, "-m", "dmt", "resume", "-c", str(cfg_path), "--verbosity", "info"],
        capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if outcome == "finished before the kill point":
        # only the last phases are short enough to be missed
        assert when in ("finalize", "validate"), outcome
        assert r.returncode == 1 and "nothing to resume" in r.stderr
    else:
        assert r.returncode == 0, r.stderr
    cfg = build_config(raw, tmp_path)
    for t in TABLES:
        assert_same_table(cfg.source, cfg.target, t)
    # post-load objects exist after the resume: the FK rejects an orphan, the index is there
    with sqlite3.connect(tmp_path / "target.db") as c:
        names = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "ints_v" in names
