"""Crash-safe resume between engines: MySQL -> PostgreSQL, PostgreSQL -> MySQL and
SQLite -> PostgreSQL.

Each direction runs one chain: ``dmt run`` is killed with SIGKILL at the first moment, then
``dmt resume`` is killed at the next moment, and so on through 13 moments (prepare, copy with
chunks started / committed / in flight, finalization between post-load objects, checksum
validation); a last ``dmt resume`` finishes. Every kill lands on progress made by the process
being killed, and every resume starts from what the kill left behind, including chunks in
flight. Midway the writer and reader counts change in the config, which a resume accepts
without ``--force``. Then every table is compared row by row with the source: zero lost, zero
duplicated, and the post-load objects exist.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dmt.config import build_config
from dmt.dialects.base import get_dialect
from tests.conftest import endpoint
from tests.support.compare import assert_same_table
from tests.support.killing import Moment, dmt, read_state, run_cli, stop_at
from tests.support.resume_data import INDEXES, ROWS, TABLES, fill, fresh_db

MOMENTS = [
    Moment("phase", "prepare"),
    Moment("started", 1),
    Moment("done", 2),
    Moment("in_flight", 3),
    Moment("done", 4),  # the config's writer and reader counts change after this one
    Moment("started", 3),
    Moment("in_flight", 4),
    Moment("done", 5),
    Moment("phase", "finalize"),
    Moment("post_load", 1),
    Moment("post_load", 1),
    Moment("phase", "validate"),
    Moment("phase", "validate", 150),
]
COPY_KINDS = ("started", "done", "in_flight")
CHANGE_KNOBS_AFTER = 4


# ---------------------------------------------------------------------------------- chain
def kill_chain(
    cfg_path: Path,
    state: Path,
    moments: list[Moment],
    between: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """SIGKILL ``dmt run`` at the first moment and ``dmt resume`` at each next one; then resume
    to the end. Returns one record per moment: killed / finished / not reached, and the state
    the kill left."""
    records: list[dict[str, Any]] = []
    finished = False
    for i, moment in enumerate(moments):
        if finished:
            records.append({"moment": moment.label, "outcome": "not reached"})
            continue
        log = cfg_path.parent / f"link-{i}.log"
        proc = dmt(
            "run" if i == 0 else "resume", "-c", str(cfg_path), "--verbosity", "info", log=log
        )
        outcome, after = stop_at(proc, state, moment)
        records.append({
            "moment": moment.label, "outcome": outcome, "phase": after.phase,
            "chunks_done": after.done, "chunks_in_flight": after.in_flight,
            "post_load_objects": after.post_load,
        })  # fmt: skip
        if outcome == "finished":
            assert proc.returncode == 0, log.read_text()
            finished = True
        if between is not None:
            between(i)
    if not finished:
        r = run_cli("resume", "-c", str(cfg_path), "--verbosity", "info")
        assert r.returncode == 0, r.stderr
        records.append({"moment": "final resume", "outcome": "completed"})
    return records


def check_records(records: list[dict[str, Any]], direction: str) -> None:
    print(f"\n{direction}:")
    for r in records:
        print("  ", r)
    killed = [r for r in records if r["outcome"] == "killed"]
    assert len(killed) >= 10, records
    for r, m in zip(records, MOMENTS, strict=False):
        if m.kind in COPY_KINDS:
            assert r["outcome"] == "killed", r  # the copy phase is long enough to be hit


def check_target(cfg: Any) -> None:
    rows = {t: assert_same_table(cfg.source, cfg.target, t) for t in TABLES}
    assert rows == ROWS
    d = get_dialect(cfg.target, "target")
    conn = d.connect()
    try:
        schema = d.reflect(conn, lambda n: n in TABLES)
    finally:
        conn.close()
    for name, wanted in INDEXES.items():
        have = {ix.name for ix in schema.table(name).indexes}
        assert wanted <= have, (name, have)
    assert [fk.ref_table for fk in schema.table("pairs").foreign_keys] == ["ints"]


DIRECTIONS = [("mysql", "postgres"), ("postgres", "mysql"), ("sqlite", "postgres")]


@pytest.mark.parametrize(("src", "dst"), DIRECTIONS, ids=[f"{s}->{d}" for s, d in DIRECTIONS])
def test_kill_chain_and_resume(src: str, dst: str, tmp_path: Path) -> None:
    with fresh_db(src, tmp_path) as sdb, fresh_db(dst, tmp_path) as tdb:
        fill(src, sdb)
        state = tmp_path / "state"
        raw: dict[str, Any] = {
            "source": endpoint(src, sdb),
            "target": endpoint(dst, tdb),
            "migration": {"state_dir": str(state), "chunk_size": 1000, "workers": 2,
                          "parallel_readers": 2, "write_ahead_writers": 2,
                          "validate": "checksum"},
            "ai": {"provider": "none"},
        }  # fmt: skip
        cfg_path = tmp_path / "c.yaml"
        cfg_path.write_text(yaml.safe_dump(raw))

        def change_knobs(i: int) -> None:
            if i == CHANGE_KNOBS_AFTER:  # tuning knobs are not in the fingerprint: no --force
                raw["migration"].update(write_ahead_writers=4, parallel_readers=3)
                cfg_path.write_text(yaml.safe_dump(raw))

        records = kill_chain(cfg_path, state, MOMENTS, change_knobs)
        check_records(records, f"{src}->{dst}")
        assert read_state(state).status == "success"
        check_target(build_config(raw, tmp_path))
