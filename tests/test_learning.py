"""Learned starting points on real databases: a run with the monitor records the setting each
table ended at (here one changed through the update slot, as a controller would); the next run of the same migration starts there (logged, stored with the
run, shown by ``dmt plan`` and ``dmt history --learned``); ``migration.learn: false`` and
``dmt history --forget`` go back to the config's settings."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from dmt.config import build_config
from dmt.learning import endpoints_key, pair_of, table_shape
from dmt.model.schema import Table
from dmt.pipeline.updates import UpdateSlot
from dmt.run import Migration, execute
from dmt.settings import Update
from dmt.state import StateStore
from dmt.state import learned as learned_rows
from tests.conftest import endpoint
from tests.support.killing import Moment, run_cli, wait_for
from tests.support.resume_data import big_sqlite

ROWS = 600_000


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One integer-keyed table, large enough for a few 1 s monitor intervals."""
    return big_sqlite(tmp_path_factory.mktemp("learn") / "source.db", ROWS)


def _raw(source: Path, db: str, tmp: Path, **migration: Any) -> dict[str, Any]:
    return {
        "source": endpoint("sqlite", source),
        "target": endpoint("postgres", db),
        "migration": {"state_dir": str(tmp / "state"), "chunk_size": 1000, "workers": 1,
                      "write_ahead_writers": 1, "validate": "count", "ai_adjust": True,
                      "ai_adjust_interval": 1, "chunk_size_at": "chunk", "data_path": "rows",
                      **migration},
        "ai": {"provider": "none"},
    }  # fmt: skip


def _starts(state: Path, run_id: str) -> list[dict[str, Any]]:
    store = StateStore(state)
    try:
        return [a for a in store.adjustments(run_id) if a.get("kind") == "start"]
    finally:
        store.close()


def test_second_run_starts_where_the_first_converged(
    source: Path, pg_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dmt")
    raw = _raw(source, pg_db, tmp_path)
    state = tmp_path / "state"
    slot = UpdateSlot()  # the change a controller would make, made early (and certain)

    def change() -> None:
        wait_for(state, Moment("done", 3), os.getpid())
        slot.put(Update(writers=2, chunk_size=8000, source="manual", reason="test"))

    driver = threading.Thread(target=change)
    driver.start()
    try:
        first = Migration(build_config(raw, tmp_path), slot=slot).execute()
    finally:
        driver.join()
    assert first.status == "success"
    assert "votes: starting at" not in caplog.text  # nothing learned yet: the config's start
    store = StateStore(state)
    try:
        (row,) = learned_rows.outcomes(store)
    finally:
        store.close()
    assert (row["tbl"], row["start_writers"], row["start_chunk"]) == ("big", 1, 1000)
    assert row["start_kind"] == "config" and row["votes"] == 1 and row["steady_rate"]
    converged = (row["writers"], row["chunk_size"])
    assert converged == (2, 8000)
    assert len(row["endpoints"]) == 16 and "postgres" not in row["endpoints"]  # a hash only

    plan = run_cli("plan", "-c", _write(raw, tmp_path), "--output-json")
    assert plan.returncode == 0, plan.stderr
    (planned,) = json.loads(plan.stdout)["learned_starts"]
    assert (planned["table"], planned["writers"], planned["chunk_size"]) == ("big", *converged)

    caplog.clear()
    second = execute(build_config(raw, tmp_path))
    assert second.status == "success"
    line = (
        f"big votes: starting at {converged[0]} writers / {converged[1]} rows, "
        f"learned from runs {first.run_id[:6]}"
    )
    assert line in caplog.text
    (start,) = _starts(state, second.run_id)
    assert (start["writers"], start["chunk_size"], start["runs"]) == (*converged, [first.run_id])
    applied = {a["knob"]: a for a in second.adjustments if a["source"] == "learned"}
    assert applied["chunk_size"]["before"] == 1000
    assert applied["chunk_size"]["after"] == converged[1]
    # applied before the table's first chunk was planned: no sample ever ran at 1,000 rows
    samples = second.monitor["samples"] if second.monitor else []
    assert samples and samples[0]["chunk_size"] == converged[1]

    shown = run_cli("history", "--state-dir", str(state), "--run", second.run_id)
    assert f"big votes: starting at {converged[0]} writers / {converged[1]} rows" in shown.stdout
    out = run_cli("history", "--state-dir", str(state), "--learned", "--output-json")
    assert out.returncode == 0, out.stderr
    assert [r["run_id"] for r in json.loads(out.stdout)["learned"]] == [
        second.run_id, first.run_id,
    ]  # fmt: skip

    caplog.clear()
    raw_off = _raw(source, pg_db, tmp_path, learn=False)
    off = execute(build_config(raw_off, tmp_path))
    assert "votes: starting at" not in caplog.text and not _starts(state, off.run_id)

    gone = run_cli("history", "--state-dir", str(state), "--forget")
    assert gone.returncode == 0 and "forgot 2 learned" in gone.stdout, gone.stdout + gone.stderr
    caplog.clear()
    fresh = execute(build_config(raw, tmp_path))
    assert "votes: starting at" not in caplog.text and not _starts(state, fresh.run_id)


def _write(raw: dict[str, Any], tmp: Path) -> str:
    import yaml

    path = tmp / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_a_learned_start_that_measures_worse_than_the_defaults_is_forgotten(
    source: Path, pg_db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """History says the defaults ran this table at an unbeatable rate and a calibration chose
    1 writer / 1,000 rows: the run starts there, measures it, and forgets it."""
    caplog.set_level(logging.INFO, "dmt")
    raw = _raw(source, pg_db, tmp_path, ai_adjust=False, chunk_size=50_000)
    cfg = build_config(raw, tmp_path)
    store = StateStore(cfg.migration.state_dir)
    shape = table_shape(Table("big", []), ()).to_dict()
    common = {"pair": pair_of(cfg), "versions": "", "endpoints": endpoints_key(cfg),
              "tbl": "big", "path": "rows", "shape": shape, "steady_rate": 1e12,
              "seconds_to_steady": 0.0}  # fmt: skip
    try:
        learned_rows.record(store, {**common, "run_id": "defaults", "start_writers": 1,
                                    "start_chunk": 50_000, "start_kind": "config",
                                    "start_rate": 1e12, "writers": 1, "chunk_size": 50_000,
                                    "votes": 0})  # fmt: skip
        bad = learned_rows.record(store, {**common, "run_id": "badstart", "start_writers": 1,
                                          "start_chunk": 1000, "start_kind": "calibrated",
                                          "start_rate": 1.0, "writers": 1, "chunk_size": 1000,
                                          "votes": 1})  # fmt: skip
    finally:
        store.close()
    first = execute(cfg)
    assert "big votes: starting at 1 writers / 1000 rows, learned from runs badsta" in caplog.text
    assert "below the run's own settings' 1000000000000 rows/s: forgotten" in caplog.text
    store = StateStore(cfg.migration.state_dir)
    try:
        rows = {r["id"]: r for r in learned_rows.outcomes(store)}
    finally:
        store.close()
    assert rows[bad]["forgotten"] == 1
    (mine,) = [r for r in rows.values() if r["run_id"] == first.run_id]
    assert mine["votes"] == 0 and mine["start_chunk"] == 1000
    caplog.clear()
    execute(cfg)
    assert "votes: starting at" not in caplog.text
