"""What a run costs around its rows: the times it reports from the process start, and the
modules a run without the AI never loads (the speed itself is measured in bench/, not here)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import yaml

from tests.conftest import PG, endpoint

#: what a run whose AI is off, with no terminal, on the pass-through path has no use for
UNUSED = ("pydantic", "anthropic", "matplotlib", "rich", "pyarrow", "psutil")


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMT_")}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _config(tmp_path: Path, source: dict[str, Any], target: dict[str, Any], **m: Any) -> Path:
    cfg = tmp_path / "c.yaml"
    migration = {"state_dir": str(tmp_path / "state"), "validate": "none", **m}
    cfg.write_text(yaml.safe_dump({"source": source, "target": target, "migration": migration}))
    return cfg


def test_started_is_when_the_os_started_the_process() -> None:
    before = time.monotonic()
    r = _python("import time; time.sleep(0.2)\nfrom dmt.proc import started; print(started())")
    after = time.monotonic()
    assert r.returncode == 0, r.stderr
    # the kernel counts in clock ticks (10 ms): the start may read up to one tick early
    assert before - 0.011 <= float(r.stdout) <= before + 0.15 < after


def test_a_run_reports_its_first_and_last_row_from_the_process_start(tmp_path: Path) -> None:
    src = tmp_path / "src.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE one (id INTEGER PRIMARY KEY, v TEXT)")
        conn.execute("INSERT INTO one VALUES (1, 'a')")
        conn.execute("CREATE TABLE empty (id INTEGER PRIMARY KEY)")
    for tables, rows in ((["one", "empty"], 1), (["empty"], 0)):
        cfg = _config(tmp_path, endpoint("sqlite", src), endpoint("sqlite", tmp_path / "t.db"),
                      include_tables=tables)  # fmt: skip
        t0 = time.monotonic()
        r = _python(
            "import sys\nfrom dmt.cli import main\nsys.argv[0] = 'dmt'\nmain()",
            "run", "-c", str(cfg), "--output-json", "--verbosity", "debug",
        )  # fmt: skip
        wall = time.monotonic() - t0
        assert r.returncode == 0, r.stderr
        out = json.loads(r.stdout)
        assert out["rows_transferred"] == rows
        if not rows:  # nothing written: no time to report
            assert out["first_row_s"] is None and out["last_row_s"] is None
            continue
        assert 0 < out["first_row_s"] <= out["last_row_s"] < wall + 0.011
        assert "first row written" in r.stderr
        assert "s after the process started" in r.stderr.splitlines()[-1]  # the exit, last


def test_a_run_without_the_ai_loads_nothing_it_does_not_use(pg_db: str, tmp_path: Path) -> None:
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as c:
        c.execute("CREATE TABLE one (id bigint PRIMARY KEY, t timestamp)")
        c.execute("INSERT INTO one VALUES (1, '2020-01-02 03:04:05')")
    target = tmp_path / "target"
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as c:
        c.execute(f'CREATE SCHEMA "{target.name}"')
    cfg = _config(tmp_path, endpoint("postgres", pg_db),
                  {**endpoint("postgres", pg_db), "schema": target.name})  # fmt: skip
    code = (
        "import atexit, sys\n"
        f"atexit.register(lambda: print(sorted(m for m in {UNUSED!r} if m in sys.modules), "
        "file=sys.stderr))\n"
        "from dmt.cli import main\nsys.argv[0] = 'dmt'\nmain()"
    )
    r = _python(code, "run", "-c", str(cfg), "--output-json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["rows_transferred"] == 1 and out["tables"][0]["path"] == "pg-binary-copy"
    assert r.stderr.strip().splitlines()[-1] == "[]"


def test_a_bad_choice_names_the_choices() -> None:
    r = _python("import sys\nfrom dmt.cli import main\nsys.argv[0] = 'dmt'\nmain()",
                "run", "-c", "x.yaml", "--log-format", "xml")  # fmt: skip
    assert r.returncode == 1
    assert r.stderr.strip() == (
        "error: Invalid value for '--log-format': 'xml' is not one of 'text', 'json'. "
        "(see `dmt run --help`)"
    )
