"""SQLAlchemy is loaded only when a generic endpoint needs it: a run between two hand-tuned
engines (SQLite -> SQLite, PostgreSQL -> PostgreSQL) never imports it, a generic run does."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.conftest import PG, endpoint

#: prints, at exit, whether the process imported SQLAlchemy; then runs the command line
CODE = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('sqlalchemy' in sys.modules, file=sys.stderr))\n"
    "from dmt.cli import main\nsys.argv[0] = 'dmt'\nmain()"
)


def _run(tmp_path: Path, source: dict[str, Any], target: dict[str, Any]) -> bool:
    """Run one migration in a fresh interpreter; whether it imported SQLAlchemy."""
    cfg = tmp_path / "c.yaml"
    migration = {"state_dir": str(tmp_path / "state"), "validate": "count"}
    cfg.write_text(yaml.safe_dump({"source": source, "target": target, "migration": migration}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DMT_")}
    r = subprocess.run(
        [sys.executable, "-c", CODE, "run", "-c", str(cfg), "--output-json"],
        capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows_transferred"] == 1
    return r.stderr.strip().splitlines()[-1] == "True"


@pytest.fixture
def sqlite_src(tmp_path: Path) -> Path:
    src = tmp_path / "src.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE one (id INTEGER PRIMARY KEY, v TEXT, d NUMERIC(10,2))")
        conn.execute("INSERT INTO one VALUES (1, 'a', 1.5)")
    conn.close()
    return src


def test_sqlite_to_sqlite_does_not_import_sqlalchemy(tmp_path: Path, sqlite_src: Path) -> None:
    target = endpoint("sqlite", tmp_path / "t.db")
    assert not _run(tmp_path, endpoint("sqlite", sqlite_src), target)


def test_postgres_to_postgres_does_not_import_sqlalchemy(pg_dbs: Any, tmp_path: Path) -> None:
    src, dst = pg_dbs(), pg_dbs()
    with psycopg.connect(dbname=src, autocommit=True, **PG) as c:
        c.execute("CREATE TABLE one (id bigint PRIMARY KEY, t timestamp, j jsonb)")
        c.execute("INSERT INTO one VALUES (1, '2020-01-02 03:04:05', '{\"a\": 1}')")
    assert not _run(tmp_path, endpoint("postgres", src), endpoint("postgres", dst))


def test_a_generic_endpoint_imports_sqlalchemy(tmp_path: Path, sqlite_src: Path) -> None:
    target = {"type": "generic", "url": f"sqlite:///{tmp_path / 't.db'}"}
    assert _run(tmp_path, endpoint("sqlite", sqlite_src), target)
