"""Crash-safe resume, PostgreSQL -> SQLite: kill -9 a fresh ``dmt run`` at one of seven moments,
``dmt resume``, and find every source row on the target exactly once (each moment in its own
run; tests/test_resume_engines.py chains kills across resumes for the other directions).

Each kill lands at its moment (the state store is held still until it does), and the resume
copies only what was not committed before the kill: no chunk done then is copied again, and
the rows it writes are exactly the source's rows less those chunks'."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import psycopg
import pytest
import yaml

from dmt.config import build_config
from tests.conftest import PG, endpoint
from tests.support.compare import assert_same_table
from tests.support.killing import (
    Moment,
    assert_skipped_done_chunks,
    dmt,
    read_state,
    run_cli,
    stop_at,
)

TABLES = ("ints", "pairs", "texts", "nokey")
ROWS = 40_000 + 20_000 + 20_000 + 10_000


def _fill_pg(db: str) -> None:
    with psycopg.connect(dbname=db, autocommit=True, **PG) as c:
        c.execute(
            "CREATE TABLE ints (id bigint PRIMARY KEY, v text, n numeric(12,3));"
            "INSERT INTO ints SELECT g, md5(g::text), g / 7.0 FROM generate_series(1, 40000) g;"
            "CREATE TABLE pairs (a int, b int, v text, PRIMARY KEY (a, b));"
            "INSERT INTO pairs SELECT g % 97, g, repeat('p', g % 20) FROM generate_series(1, 20000) g;"
            "CREATE TABLE texts (k varchar(40) PRIMARY KEY, v int);"
            "INSERT INTO texts SELECT 'Key-' || md5(g::text) || CASE WHEN g % 3 = 0 THEN 'ä' "
            "ELSE 'Z' END, g FROM generate_series(1, 20000) g;"
            "CREATE TABLE nokey (x int, y text);"
            "INSERT INTO nokey SELECT g % 1000, 'row' || g FROM generate_series(1, 10000) g;"
            "CREATE INDEX ints_v ON ints (v);"
            "ALTER TABLE pairs ADD CONSTRAINT pairs_ints FOREIGN KEY (b) REFERENCES ints (id);"
            "ANALYZE"
        )


# (kill moment): chunks committed, chunks started, or a phase (+ delay), all counted from the
# start of the run (the first process has nothing before it)
# (done:3, started:45 and finalize+0 ms were dropped to keep CI inside its time on a slow
# machine: done:20, started:1 and finalize+20 ms hit the same code; the chains in
# test_resume_engines.py kill at 13 moments per direction)
KILL_POINTS = [
    Moment("phase", "prepare"),
    Moment("started", 1),
    Moment("done", 20),
    Moment("in_flight", 55),
    Moment("done", 70),
    Moment("phase", "finalize", 20),
    Moment("phase", "validate"),
]


@pytest.fixture(scope="module")
def source_db(pg_db: str) -> str:
    _fill_pg(pg_db)
    return pg_db


@pytest.mark.parametrize("moment", KILL_POINTS, ids=[m.label for m in KILL_POINTS])
def test_kill_and_resume_pg_to_sqlite(source_db: str, tmp_path: Path, moment: Moment) -> None:
    state = tmp_path / "state"
    raw = {
        "source": endpoint("postgres", source_db),
        "target": endpoint("sqlite", tmp_path / "target.db"),
        "migration": {"state_dir": str(state), "chunk_size": 1000, "parallel_readers": 2,
                      "workers": 2, "validate": "checksum"},
    }  # fmt: skip
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    proc = dmt("run", "-c", str(cfg_path), "--verbosity", "warn")
    outcome, after = stop_at(proc, state, moment)
    print(f"{moment.label}: {outcome} (phase {after.phase}, {after.done} chunks done, "
          f"{after.in_flight} in flight)")  # fmt: skip
    assert outcome == "killed", after
    assert (after.status, after.pid) == ("running", proc.pid), after
    if moment.kind == "phase":
        assert after.phase == moment.arg, after
    r = run_cli("resume", "-c", str(cfg_path), "--verbosity", "warn", "--output-json")
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    # the resume wrote the rows of every chunk not done at the kill, and no other
    assert result["rows_copied"] == ROWS - after.rows_done, (result["rows_copied"], after)
    assert_skipped_done_chunks(after, read_state(state))
    cfg = build_config(raw, tmp_path)
    for t in TABLES:
        assert_same_table(cfg.source, cfg.target, t)
    # post-load objects exist after the resume: the FK rejects an orphan, the index is there
    with sqlite3.connect(tmp_path / "target.db") as c:
        names = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "ints_v" in names
    c.close()
