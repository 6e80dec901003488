"""A state store dmt cannot use — corrupt, locked by another process, read-only — stops the
command with exit 6 and one line that names the file and says what to do; never a traceback."""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dmt import cli
from dmt.state import StateStore
from tests.conftest import endpoint
from tests.support.killing import run_cli
from tests.support.mounts import read_only


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("state_faults") / "source.db"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        c.executemany("INSERT INTO t VALUES (?, ?)", [(i, f"v{i}") for i in range(1, 3001)])
    c.close()
    return path


def _config(source: Path, tmp: Path, state: Path) -> Path:
    raw: dict[str, Any] = {
        "source": endpoint("sqlite", source),
        "target": endpoint("sqlite", tmp / "target.db"),
        "migration": {"state_dir": str(state)},
    }
    path = tmp / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _ran_once(source: Path, tmp: Path) -> tuple[Path, Path]:
    """A config and the state store a successful run left."""
    state = tmp / "state"
    cfg = _config(source, tmp, state)
    r = run_cli("run", "-c", str(cfg), "--verbosity", "warn")
    assert r.returncode == 0, r.stderr
    return cfg, state / "state.db"


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: state store `"), stderr
    return lines[0]


@pytest.mark.parametrize("damage", ["header", "pages"])
def test_corrupt_state_store_exits_6(source: Path, tmp_path: Path, damage: str) -> None:
    cfg, db = _ran_once(source, tmp_path)
    for side in (db.with_name("state.db-wal"), db.with_name("state.db-shm")):
        side.unlink(missing_ok=True)
    start = 0 if damage == "header" else 4096  # past the header: a malformed page, not a header
    with open(db, "r+b") as f:
        f.seek(start)
        f.write(os.urandom(db.stat().st_size - start))
    for args in (("run", "-c", str(cfg)), ("history", "--state-dir", str(db.parent))):
        r = run_cli(*args)
        assert r.returncode == 6, r.stderr
        line = _one_line(r.stderr)
        reason = (
            "file is not a database" if damage == "header" else "database disk image is malformed"
        )
        assert f"`{db}` is corrupt ({reason}): move it aside" in line, line


@pytest.fixture
def logging_restored() -> Iterator[None]:
    """The logging set-up as it was: an in-process command replaces it with its own."""
    root, dmt_log = logging.getLogger(), logging.getLogger("dmt")
    handlers, level, dmt_level = list(root.handlers), root.level, dmt_log.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        dmt_log.setLevel(dmt_level)


@pytest.mark.usefixtures("logging_restored")
def test_locked_state_store_exits_6(
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # in-process, to wait 0.3 s for the lock instead of the 30 s a real run waits
    cfg, db = _ran_once(source, tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], "
         "isolation_level=None); c.execute('BEGIN EXCLUSIVE'); print('held', flush=True); "
         "sys.stdin.read()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        monkeypatch.setattr(StateStore, "busy_timeout", 0.3)  # the holder keeps it far longer
        # in-process: a normal SystemExit, not the command line's exit without teardown
        monkeypatch.setattr(cli, "exit_now", sys.exit)
        monkeypatch.setattr(sys, "argv", ["dmt", "run", "-c", str(cfg), "--verbosity", "error"])
        with pytest.raises(SystemExit) as info:
            cli.main()
    finally:
        holder.communicate("")  # end of stdin: the holder exits, its lock released
    assert info.value.code == 6
    line = _one_line(capsys.readouterr().err)
    assert line == (
        f"error: state store `{db}` is locked by another process (still locked after 0.3s): "
        f"let it finish or stop it (`fuser {db}` names it), then run the command again"
    )
    assert holder.returncode == 0
    r = run_cli("run", "-c", str(cfg), "--verbosity", "warn")  # once released, it runs
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("what", ["file", "folder"])
def test_read_only_state_store_exits_6(source: Path, tmp_path: Path, what: str) -> None:
    cfg, db = _ran_once(source, tmp_path)
    with read_only(db if what == "file" else db.parent):
        r = run_cli("run", "-c", str(cfg))
    assert r.returncode == 6, r.stderr
    line = _one_line(r.stderr)
    assert f"`{db}` cannot be written (" in line, line
    assert line.endswith(
        f"make `{db.parent}` and the files in it writable for this user, or point "
        "`migration.state_dir` at a writable folder"
    ), line
    assert run_cli("resume", "-c", str(cfg)).returncode == 1  # the last run finished: untouched


def test_state_folder_that_cannot_be_created_exits_6(source: Path, tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    cfg = _config(source, tmp_path, parent / "state")
    with read_only(parent):
        r = run_cli("run", "-c", str(cfg))
    assert r.returncode == 6, r.stderr
    line = _one_line(r.stderr)
    assert f"`{parent / 'state' / 'state.db'}` cannot be written ([Errno 30]" in line, line
    assert f"make `{parent}` and the files in it writable" in line, line
    assert not (parent / "state").exists()
