"""``dmt calibrate`` on real databases: it measures a grid on scratch tables, keeps the winner
as a learned start the next run uses, prints what it measured, charts it, and leaves no
scratch table behind (nor touches the real target tables), also when a copy fails."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from dmt.settings import default_writers
from tests.conftest import PG, endpoint
from tests.support.killing import dmt, run_cli


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("calibrate") / "source.db"
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, v INTEGER, s TEXT)")
    c.execute("CREATE TABLE small (id INTEGER PRIMARY KEY, s TEXT)")
    c.executemany("INSERT INTO big VALUES (?, ?, ?)", ((i, i, f"r{i}") for i in range(60_000)))
    c.executemany("INSERT INTO small VALUES (?, ?)", ((i, f"s{i}") for i in range(500)))
    c.commit()
    c.close()
    return path


def _config(source: Path, db: str, tmp: Path, **migration: Any) -> str:
    raw = {
        "source": endpoint("sqlite", source),
        "target": endpoint("postgres", db),
        "migration": {"state_dir": str(tmp / "state"), "chunk_size": 4000,
                      "write_ahead_writers": 2, **migration},
        "ai": {"provider": "none"},
    }  # fmt: skip
    path = tmp / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def _tables(db: str) -> dict[str, int]:
    with psycopg.connect(dbname=db, **PG) as c:
        names = [
            r[0]
            for r in c.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        ]
        return {n: c.execute(f'SELECT COUNT(*) FROM "{n}"').fetchone()[0] for n in names}  # type: ignore[index]


def test_calibrate_measures_on_scratch_tables_and_the_next_run_starts_at_the_winner(
    source: Path, pg_db: str, tmp_path: Path
) -> None:
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as c:  # a real target table
        c.execute("CREATE TABLE big (id int PRIMARY KEY, v int, s text)")
        c.execute("INSERT INTO big VALUES (1, 1, 'kept')")
    cfg = _config(source, pg_db, tmp_path)
    chart = tmp_path / "cal.svg"
    r = run_cli("calibrate", "-c", cfg, "--budget", "2s", "--plot", str(chart), "--output-json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [t["table"] for t in data["tables"]] == ["big", "small"]  # the largest first
    big = data["tables"][0]
    measured = {(p["writers"], p["chunk_size"]) for p in big["measured"]}
    w = default_writers()  # the grid lies around dmt's defaults, and the config's own setting
    grid = {(a, c) for a in {max(1, w // 2), w, 2 * w} for c in (25_000, 50_000, 100_000)}
    assert measured == grid | {(2, 4000)}
    assert all(p["rates"] for p in big["measured"])  # every point measured at least once
    best = max(big["measured"], key=lambda p: p["median"])
    chosen = big["chosen"]
    assert (chosen["writers"], chosen["chunk_size"]) == (best["writers"], best["chunk_size"])
    assert _tables(pg_db) == {"big": 1}  # no scratch table left; the real one untouched
    assert chart.read_text().count("<svg") == 1

    text = run_cli("history", "--config", cfg, "--learned")
    assert text.returncode == 0 and "(calibrated)" in text.stdout, text.stdout + text.stderr
    plan = json.loads(run_cli("plan", "-c", cfg, "--output-json").stdout)
    starts = {s["table"]: s for s in plan["learned_starts"]}
    assert (starts["big"]["writers"], starts["big"]["chunk_size"], starts["big"]["how"]) == (
        chosen["writers"], chosen["chunk_size"], "calibrated",
    )  # fmt: skip
    run = run_cli("run", "-c", cfg, "--output-json", "--verbosity", "info")
    assert run.returncode == 0, run.stderr
    line = (
        f"big votes: starting at {chosen['writers']} writers / {chosen['chunk_size']} rows, "
        f"learned from runs {data['run_id'][:6]}"
    )
    assert line in run.stderr


def test_calibrate_prints_a_table_and_drops_its_scratch_tables_when_a_copy_fails(
    source: Path, pg_db: str, tmp_path: Path
) -> None:
    before = _tables(pg_db)
    ok = run_cli("calibrate", "-c", _config(source, pg_db, tmp_path), "--budget", "1s")
    assert ok.returncode == 0, ok.stderr
    assert "<- chosen" in ok.stdout and "(own settings)" in ok.stdout
    bad = tmp_path / "bad.db"
    c = sqlite3.connect(bad)
    c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT)")
    c.executemany("INSERT INTO t VALUES (?, ?)", ((i, "x\x00y") for i in range(5_000)))
    c.commit()
    c.close()
    r = run_cli("calibrate", "-c", _config(bad, pg_db, tmp_path), "--budget", "1s")
    assert r.returncode == 3, r.stderr  # a transfer error: NUL bytes bound for PostgreSQL
    assert _tables(pg_db) == before  # the scratch table was dropped after the failure
    bad_budget = run_cli("calibrate", "-c", _config(bad, pg_db, tmp_path), "--budget", "soon")
    assert bad_budget.returncode == 1 and "--budget" in bad_budget.stderr


def test_ctrl_c_stops_calibrate_and_drops_its_scratch_tables(
    source: Path, pg_db: str, tmp_path: Path
) -> None:
    before = _tables(pg_db)
    log = tmp_path / "cal.log"
    proc = dmt("calibrate", "-c", _config(source, pg_db, tmp_path), "--budget", "120s", log=log)
    try:
        deadline = time.monotonic() + 60
        while not any(n.startswith("dmt_calibrate_") for n in _tables(pg_db)):
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "no scratch table appeared"
            time.sleep(0.05)
        time.sleep(0.5)  # inside a measurement
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 5, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert _tables(pg_db) == before
