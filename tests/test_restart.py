"""The target server drops dmt's connections mid-run (``pg_terminate_backend`` on the target
database only, which is what a restart does to a client, without disturbing other tests).

A lost connection is a ConnectionLost (exit 2), never a generic transfer error. The copy retries
it in-process with backoff, as a resume: chunks in flight (a batch whose COMMIT outcome is
unknown) are removed from the target and copied again, so no row is written twice, and chunks
committed before the loss are not copied again. When the connection keeps failing, the run
stops with exit 2 and ``dmt resume`` completes it. The connections are dropped mid-copy with
the state store held still, so the test knows exactly which chunks were committed then.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

import dmt.copying as copying_module
from dmt.config import build_config
from dmt.errors import ConnectError
from dmt.run import execute
from dmt.state import StateStore
from tests.conftest import PG, endpoint
from tests.support.compare import assert_same_table
from tests.support.killing import (
    TERMINATE,
    Moment,
    assert_skipped_done_chunks,
    at_moment,
    dmt,
    read_state,
)
from tests.support.resume_data import ROWS, TABLES, fill


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("restart") / "source.db"
    fill("sqlite", path)
    return path


def _raw(source: Path, pg_db: str, tmp: Path) -> dict[str, Any]:
    return {
        "source": endpoint("sqlite", source),
        "target": endpoint("postgres", pg_db),
        "migration": {"state_dir": str(tmp / "state"), "chunk_size": 1000, "workers": 2,
                      "write_ahead_writers": 3, "validate": "checksum"},
        "ai": {"provider": "none"},
    }  # fmt: skip


def _terminate(db: str) -> int:
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
        row = admin.execute(TERMINATE, (db,)).fetchone()
        return int(row[0]) if row else 0


def _assert_copied(raw: dict[str, Any], tmp: Path) -> None:
    cfg = build_config(raw, tmp)
    assert {t: assert_same_table(cfg.source, cfg.target, t) for t in TABLES} == ROWS


def test_connections_dropped_once_are_retried(source: Path, pg_db: str, tmp_path: Path) -> None:
    raw = _raw(source, pg_db, tmp_path)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    log = tmp_path / "run.log"
    proc = dmt("run", "-c", str(cfg_path), "--verbosity", "info", log=log)
    dropped: list[int] = []
    try:
        at_drop = at_moment(
            tmp_path / "state", Moment("done", 4), proc.pid,
            lambda: dropped.append(_terminate(pg_db)),
        )  # fmt: skip
        assert dropped[0] > 0 and at_drop.phase == "copy", at_drop
        assert proc.wait(120) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert "lost the connection to the target" in text
    assert "copying again in" in text
    final = read_state(tmp_path / "state")
    assert final.status == "success"
    assert_skipped_done_chunks(at_drop, final, killed=False)  # committed: not copied again
    _assert_copied(raw, tmp_path)
    # the run's metrics count the lost connection and the retry, and go on counting rows
    store = StateStore(tmp_path / "state")
    try:
        [run] = store.runs()
        metrics = json.loads(run["result"])["metrics"]
    finally:
        store.close()
    assert metrics["dmt_retries_total"] == 1 and metrics["dmt_errors_total"] >= 1
    written = {m["table"]: m["value"] for m in metrics["dmt_rows_written_total"]}
    assert all(written.get(t, 0) >= n for t, n in ROWS.items()), (written, ROWS)


def test_connections_that_keep_dropping_stop_with_exit_2_then_resume(
    source: Path, pg_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(copying_module, "COPY_RETRY_BACKOFF", (0.1, 0.2))  # keep the test short
    raw = _raw(source, pg_db, tmp_path)
    cfg = build_config(raw, tmp_path)
    stop = threading.Event()
    killed: list[int] = []
    first_drop: list[Any] = []

    def keep_terminating() -> None:
        first_drop.append(
            at_moment(tmp_path / "state", Moment("done", 3), os.getpid(),
                      lambda: killed.append(_terminate(pg_db)))
        )  # fmt: skip
        while not stop.is_set():
            killed.append(_terminate(pg_db))
            time.sleep(0.01)

    killer = threading.Thread(target=keep_terminating)
    killer.start()
    try:
        with pytest.raises(ConnectError) as info:
            execute(cfg)
    finally:
        stop.set()
        killer.join()
    assert info.value.exit_code == 2
    assert killed[0] > 0 and first_drop[0].phase == "copy", first_drop
    st = read_state(tmp_path / "state")
    assert (st.status, st.phase) == ("failed", "copy")
    result = execute(cfg, resume=True)
    assert result.status == "success"
    assert result.rows_copied == sum(ROWS.values()) - st.rows_done  # only what was not done
    final = read_state(tmp_path / "state")
    assert_skipped_done_chunks(first_drop[0], st, killed=False)  # nor by the retries
    assert_skipped_done_chunks(st, final)
    _assert_copied(raw, tmp_path)
