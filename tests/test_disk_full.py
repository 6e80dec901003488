"""A disk that fills mid-copy, on a small tmpfs the test mounts: a SQLite target or the state
store stops the run with exit 7 naming the file and its free space, a PostgreSQL tablespace
with exit 3 naming the table and key range; nothing committed is damaged, and once there is
space again ``dmt resume`` completes with every row exact."""

from __future__ import annotations

import os
import pwd
import re
import signal
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from dmt.config import build_config
from dmt.errors import human_bytes
from tests.conftest import IN_CI, PG, endpoint
from tests.support.compare import assert_same_table
from tests.support.killing import Moment, dmt, read_state, run_cli, stop_at
from tests.support.mounts import Mount, fill, grow, tmpfs
from tests.support.resume_data import ROWS, TABLES, fresh_db
from tests.support.resume_data import fill as fill_source

FREE = r"\d+(\.\d)? [kM]?B free of "


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("disk_full") / "source.db"
    fill_source("sqlite", path)  # 3.4 MB once copied into SQLite
    return path


def _config(source: Path, target: dict[str, Any], state: Path, tmp: Path, **m: Any) -> Path:
    raw = {
        "source": endpoint("sqlite", source),
        "target": target,
        "migration": {"state_dir": str(state), "chunk_size": 1000, "validate": "count", **m},
    }
    path = tmp / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


def _assert_resumed_exact(cfg_path: Path, tmp: Path) -> None:
    r = run_cli("resume", "-c", str(cfg_path), "--verbosity", "warn")
    assert r.returncode == 0, r.stderr
    cfg = build_config(yaml.safe_load(cfg_path.read_text()), tmp)
    assert {t: assert_same_table(cfg.source, cfg.target, t) for t in TABLES} == ROWS


def _size(path: Path) -> str:
    """The size of the file system at ``path`` as dmt's messages spell it, for a regex."""
    st = os.statvfs(path)
    return re.escape(human_bytes(st.f_blocks * st.f_frsize))


def _integrity(db: Path) -> str:
    with sqlite3.connect(db) as c:
        ok = str(c.execute("PRAGMA integrity_check").fetchone()[0])
    c.close()
    return ok


#: (tmpfs size, data path, the phase that fills it, what the message says before the path):
#: the copied rows take 3.4 MB, their indexes some more
SQLITE_CASES = [
    ("1m", "auto", "copy", r"table `\w+` chunks? [^:]+: write failed: "),
    ("1m", "rows", "copy", r"table `\w+` chunks? [^:]+: write failed: "),
    ("4m", "auto", "finalize", r"creating index `\w+` on `\w+`: "),
]


@pytest.mark.parametrize(
    ("size", "data_path", "phase", "where"),
    SQLITE_CASES,
    ids=[f"{c[2]}-{c[1]}" for c in SQLITE_CASES],
)
def test_sqlite_target_disk_full_exits_7_then_resumes(
    source: Path, tmp_path: Path, size: str, data_path: str, phase: str, where: str
) -> None:
    with tmpfs(size) as small:
        target = small.path / "target.db"
        state = tmp_path / "state"
        cfg = _config(source, endpoint("sqlite", target), state, tmp_path, data_path=data_path)
        r = run_cli("run", "-c", str(cfg), "--verbosity", "error")
        assert r.returncode == 7, r.stderr
        line = _error_line(r.stderr)
        total = _size(small.path)
        assert re.fullmatch(
            rf"error: {where}the disk holding the target `{target}` is full \({FREE}{total}\): "
            r"free space there, then run `dmt resume`",
            line,
        ), line
        assert _integrity(target) == "ok"  # the failed transaction rolled back cleanly
        st = read_state(state)
        assert (st.status, st.phase) == ("failed", phase)
        grow(small.path, "16m")
        _assert_resumed_exact(cfg, tmp_path)


def test_state_store_disk_full_exits_7_then_resumes(source: Path, tmp_path: Path) -> None:
    with tmpfs("4m") as small:
        state = small.path / "state"
        target = endpoint("sqlite", tmp_path / "target.db")
        cfg = _config(source, target, state, tmp_path, data_path="rows")
        log = tmp_path / "run.log"
        proc = dmt("run", "-c", str(cfg), "--verbosity", "error", log=log)
        try:
            # held still while another file takes the last free byte, then let go
            outcome, _ = stop_at(proc, state, Moment("done", 2), signal.SIGSTOP)
            assert outcome == "signalled", log.read_text()
            filler = fill(small.path)
            os.kill(proc.pid, signal.SIGCONT)
            assert proc.wait(120) == 7, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        db = state / "state.db"
        line = _error_line(log.read_text())
        assert re.fullmatch(
            rf"error: the disk holding the state store `{db}` is full \({FREE}{_size(small.path)}\): free "
            r"space there, then run the command again \(`dmt resume` continues\)",
            line,
        ), line
        assert _integrity(db) == "ok"
        filler.unlink()
        st = read_state(state)
        assert st.phase == "copy" and st.done >= 2, st
        _assert_resumed_exact(cfg, tmp_path)


# ------------------------------------------------------------------ PostgreSQL tablespace
def _postgres_uid() -> int:
    try:
        return pwd.getpwnam("postgres").pw_uid
    except KeyError:
        reason = "no OS user `postgres` here: the PostgreSQL server does not run on this machine"
        if IN_CI:
            pytest.fail(reason + " (CI=true: the fault tests must run, not skip)")
        pytest.skip(reason)


@contextmanager
def small_tablespace(size: str) -> Iterator[tuple[Mount, str]]:
    """A tablespace on a tmpfs of ``size``. Dropped before the tmpfs is unmounted, and the tmpfs
    stays mounted if the drop fails: the server must never lose files it still knows."""
    with tmpfs(size, owner=_postgres_uid()) as small:
        name = f"dmt_ts_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
            admin.execute(f"CREATE TABLESPACE \"{name}\" LOCATION '{small.path}'")
        small.unmount = False
        try:
            yield small, name
        finally:
            with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
                admin.execute(f'DROP TABLESPACE "{name}"')
            small.unmount = True


def test_postgres_tablespace_full_exits_3_then_resumes(source: Path, tmp_path: Path) -> None:
    # the database is dropped first, then the tablespace, then the tmpfs is unmounted
    with small_tablespace("1m") as (small, space), fresh_db("postgres", tmp_path) as db:
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
            admin.execute(f'ALTER DATABASE "{db}" SET default_tablespace = "{space}"')
        state = tmp_path / "state"
        cfg = _config(source, endpoint("postgres", db), state, tmp_path)
        r = run_cli("run", "-c", str(cfg), "--verbosity", "error")
        assert r.returncode == 3, r.stderr
        line = _error_line(r.stderr)
        assert re.match(r"error: table `\w+` chunks? \S+ [(\[][^:]+: ", line), line
        assert line.endswith(
            ": No space left on device; the server's disk is full: free space there, "
            "then run `dmt resume`"
        ), line
        st = read_state(state)
        assert (st.status, st.phase) == ("failed", "copy")
        grow(small.path, "32m")
        _assert_resumed_exact(cfg, tmp_path)
