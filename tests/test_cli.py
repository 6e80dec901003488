"""The command line as cron sees it: exit codes, stdout that parses, stderr one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import endpoint


def dmt(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DMT_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "dmt", *args],
        capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def write_config(path: Path, raw: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(raw))
    return path


def test_version() -> None:
    r = dmt("--version")
    assert r.returncode == 0 and r.stdout.startswith("dmt ")


@pytest.mark.parametrize(
    "args",
    [("run",), ("run", "-c", "x.yaml", "--bogus"), ("frobnicate",), ("run", "-c", "/nonexistent.yaml"),
     ("run", "-c", "x.yaml", "--verbosity", "loud")],
    ids=["missing-c", "unknown-option", "unknown-command", "missing-file", "bad-verbosity"],
)  # fmt: skip
def test_usage_errors_exit_1_with_one_line(args: tuple[str, ...]) -> None:
    r = dmt(*args)
    assert r.returncode == 1, r.stderr
    assert r.stdout == ""
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr


def test_bad_config_exit_1_names_key(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", {"source": {"type": "sqlite", "path": "a.db"},
                                             "target": {"type": "sqlite", "path": "b.db"},
                                             "migration": {"chunk_size": 5}})  # fmt: skip
    r = dmt("run", "-c", str(cfg), "--output-json")
    assert r.returncode == 1
    assert "migration.chunk_size: 5 is below the minimum 1000" in r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "failed" and out["exit_code"] == 1


def test_unreachable_server_exit_2_without_password(tmp_path: Path, sample_db: Path) -> None:
    cfg = write_config(tmp_path / "c.yaml", {
        "source": {"type": "sqlite", "path": str(sample_db)},
        "target": {"type": "postgres", "host": "127.0.0.1", "port": 1, "database": "x",
                   "password": "Sup3rSecret!"},
    })  # fmt: skip
    for cmd in ("run", "status", "plan"):
        r = dmt(cmd, "-c", str(cfg), "--output-json", "--verbosity", "debug")
        assert r.returncode == 2, (cmd, r.stderr)
        assert "Sup3rSecret!" not in r.stdout + r.stderr
        json.loads(r.stdout)


def test_init_writes_template_and_refuses_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "config.yaml"
    r = dmt("init", "-o", str(out))
    assert r.returncode == 0 and out.exists()
    assert "source:" in out.read_text()
    r = dmt("init", "-o", str(out))
    assert r.returncode == 1 and "--force" in r.stderr
    r = dmt("init", "-o", str(out), "--force")
    assert r.returncode == 0


def test_sqlite_run_plan_status_validate(tmp_path: Path, sample_db: Path) -> None:
    target = tmp_path / "copy.db"
    cfg = write_config(tmp_path / "c.yaml", {
        "source": endpoint("sqlite", sample_db), "target": endpoint("sqlite", target),
        "migration": {"state_dir": str(tmp_path / "state")},
    })  # fmt: skip
    r = dmt("plan", "-c", str(cfg), "--output-json")
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert sorted(plan["will_create"]) == ["comments", "posts", "tags", "users", "votes"]
    assert not target.exists() or plan["will_drop"] == []
    r = dmt("validate", "-c", str(cfg))
    assert r.returncode == 4, r.stderr  # nothing copied yet
    r = dmt("run", "-c", str(cfg), "--output-json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)  # stdout is exactly one JSON object
    assert out["status"] == "success" and out["rows_transferred"] == 5809
    assert {t["name"] for t in out["tables"]} == {"comments", "posts", "tags", "users", "votes"}
    assert out["rows_per_second"] > 0
    r = dmt("validate", "-c", str(cfg), "--output-json")
    assert r.returncode == 0, r.stderr
    r = dmt("status", "-c", str(cfg), "--output-json")
    assert r.returncode == 0
    st = json.loads(r.stdout)
    assert st["source"]["tables"] == 5 and st["target"]["ok"]
    # a row deleted on the target is a mismatch: exit 4
    import sqlite3

    with sqlite3.connect(target) as conn:
        conn.execute("DELETE FROM votes WHERE id = 7")
    r = dmt("validate", "-c", str(cfg))
    assert r.returncode == 4
    assert "votes" in r.stderr and "3,000 rows in the source, 2,999 in the target" in r.stderr
