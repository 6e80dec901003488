"""Run history and the guards around a run: ``dmt history --run`` shows the tables and every
runtime decision; a second concurrent run into the same target is refused; a resume with a
changed config is refused, and accepted with ``--force`` naming what changed."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from dmt.config import build_config
from dmt.errors import Cancelled
from dmt.pipeline.updates import UpdateSlot
from dmt.run import Migration, execute
from dmt.settings import Update
from tests.conftest import endpoint
from tests.support.compare import assert_same_table
from tests.support.killing import Moment, dmt, read_state, run_cli, stop_at, wait_for
from tests.support.resume_data import ROWS, TABLES, fill


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("history") / "source.db"
    fill("sqlite", path)
    return path


def _raw(source: Path, tmp: Path, target: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "source": endpoint("sqlite", source),
        "target": target or endpoint("sqlite", tmp / "target.db"),
        "migration": {"state_dir": str(tmp / "state"), "chunk_size": 1000, "workers": 2,
                      "write_ahead_writers": 2, "validate": "count"},
        "ai": {"provider": "none"},
    }  # fmt: skip


def _write(raw: dict[str, Any], tmp: Path) -> Path:
    path = tmp / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _assert_copied(raw: dict[str, Any], tmp: Path, tables: tuple[str, ...] = TABLES) -> None:
    cfg = build_config(raw, tmp)
    for t in tables:
        assert assert_same_table(cfg.source, cfg.target, t) == ROWS[t]


def test_writer_change_at_runtime_then_resume_and_history(
    source: Path, pg_db: str, tmp_path: Path
) -> None:
    """Writers scale 2 -> 4 mid-copy through the update slot, the run is cancelled, and the
    resume runs with one writer: every row once, and the history shows it all."""
    raw = _raw(source, tmp_path, endpoint("postgres", pg_db))
    state = tmp_path / "state"
    abort, slot = threading.Event(), UpdateSlot()

    def drive() -> None:
        wait_for(state, Moment("done", 3), os.getpid())
        slot.put(Update(writers=4, source="manual", reason="test"))
        wait_for(state, Moment("done", 6), os.getpid())
        abort.set()

    driver = threading.Thread(target=drive)
    driver.start()
    try:
        with pytest.raises(Cancelled):
            Migration(build_config(raw, tmp_path), abort=abort, slot=slot).execute()
    finally:
        driver.join()
    raw["migration"]["write_ahead_writers"] = 1  # a tuning knob: no --force needed
    assert execute(build_config(raw, tmp_path), resume=True).status == "success"
    _assert_copied(raw, tmp_path)

    runs = json.loads(run_cli("history", "--state-dir", str(state), "--output-json").stdout)
    assert [r["status"] for r in runs["runs"]] == ["success"]
    run_id = runs["runs"][0]["id"]
    r = run_cli("history", "--state-dir", str(state), "--run", run_id[:6])
    assert r.returncode == 0, r.stderr
    assert f"run {run_id}: success" in r.stdout
    for t in TABLES:
        assert any(line.split()[:2] == [t, "done"] for line in r.stdout.splitlines()), r.stdout
    assert "applied in the pipeline:" in r.stdout
    assert "writers 2 -> 4 (manual" in r.stdout
    data = json.loads(
        run_cli("history", "--state-dir", str(state), "--run", run_id, "--output-json").stdout
    )
    assert [(a["knob"], a["before"], a["after"]) for a in data["applied"]] == [("writers", 2, 4)]
    assert {t["name"]: t["rows_done"] for t in data["tables"]} == ROWS
    assert data["run"]["resumed"] == 1


def test_second_concurrent_run_is_refused(source: Path, tmp_path: Path) -> None:
    raw = _raw(source, tmp_path)
    cfg_path = _write(raw, tmp_path)
    proc = dmt("run", "-c", str(cfg_path))
    try:
        wait_for(tmp_path / "state", Moment("phase", "copy"), proc.pid)
        os.kill(proc.pid, signal.SIGSTOP)  # hold it mid-copy, its lock held
        try:
            for command in ("run", "resume"):
                r = run_cli(command, "-c", str(cfg_path))
                assert r.returncode == 6, r.stderr
                assert f"(pid {proc.pid}) is already migrating into sqlite:" in r.stderr
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        assert proc.wait(120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    _assert_copied(raw, tmp_path)


def test_resume_with_changed_config_needs_force(source: Path, tmp_path: Path) -> None:
    raw = _raw(source, tmp_path)
    cfg_path = _write(raw, tmp_path)
    proc = dmt("run", "-c", str(cfg_path))
    assert stop_at(proc, tmp_path / "state", Moment("done", 3))[0] == "killed"
    raw["migration"]["exclude_tables"] = ["nokey"]
    _write(raw, tmp_path)
    r = run_cli("resume", "-c", str(cfg_path))
    assert r.returncode == 1
    assert "was started with a different config (exclude_tables: [] -> ['nokey'])" in r.stderr
    assert "resume with --force" in r.stderr
    assert read_state(tmp_path / "state").status == "interrupted"
    r = run_cli("resume", "-c", str(cfg_path), "--force")
    assert r.returncode == 0, r.stderr
    assert "resuming with a changed config (--force): exclude_tables: [] -> ['nokey']" in r.stderr
    _assert_copied(raw, tmp_path, ("ints", "pairs", "texts"))
