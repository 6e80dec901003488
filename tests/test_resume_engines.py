"""Crash-safe resume between engines: MySQL -> PostgreSQL, PostgreSQL -> MySQL,
SQLite -> PostgreSQL, PostgreSQL -> DuckDB and DuckDB -> MySQL.

Each direction runs one chain: ``dmt run`` is killed with SIGKILL at the first moment, then
``dmt resume`` is killed at the next moment, and so on through 13 moments (prepare, copy with
chunks started / committed / in flight, finalization between post-load objects, checksum
validation); a last ``dmt resume`` finishes. Every kill lands at its moment, on progress made
by the process being killed (the state store is held still until the kill), and every resume
starts from what the kill left behind, including chunks in flight, and copies no chunk that
was done before the kill. Midway the writer and reader counts change in the config, which a resume accepts
without ``--force``. Then every table is compared row by row with the source: zero lost, zero
duplicated, and the post-load objects exist.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dmt.config import build_config
from dmt.dialects.base import get_dialect
from tests.conftest import endpoint
from tests.support.compare import assert_same_table
from tests.support.killing import (
    Moment,
    State,
    assert_skipped_done_chunks,
    dmt,
    read_state,
    run_cli,
    stop_at,
)
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
CHANGE_KNOBS_AFTER = 4


# ---------------------------------------------------------------------------------- chain
def kill_chain(
    cfg_path: Path,
    state: Path,
    moments: list[Moment],
    between: Callable[[int], None] | None = None,
) -> list[tuple[Moment, State]]:
    """SIGKILL ``dmt run`` at the first moment and ``dmt resume`` at each next one; then resume
    to the end. Each process must be killed at its moment (never finish before it), and must
    not copy again a chunk that was done before the previous kill. Returns each moment with
    the state its kill left."""
    kills: list[tuple[Moment, State]] = []
    for i, moment in enumerate(moments):
        log = cfg_path.parent / f"link-{i}.log"
        proc = dmt(
            "run" if i == 0 else "resume", "-c", str(cfg_path), "--verbosity", "info", log=log
        )
        outcome, after = stop_at(proc, state, moment)
        assert outcome == "killed", (moment.label, outcome, log.read_text())
        assert (after.status, after.pid) == ("running", proc.pid), (moment.label, after)
        if moment.kind == "phase":
            assert after.phase == moment.arg, (moment.label, after)
        if kills:
            assert_skipped_done_chunks(kills[-1][1], after)
        kills.append((moment, after))
        if between is not None:
            between(i)
    r = run_cli("resume", "-c", str(cfg_path), "--verbosity", "warn", "--output-json")
    assert r.returncode == 0, r.stderr
    assert_skipped_done_chunks(kills[-1][1], read_state(state))
    # the last kill was after the copy: the final resume copies nothing again
    assert json.loads(r.stdout)["rows_copied"] == 0
    return kills


def print_kills(kills: list[tuple[Moment, State]], direction: str) -> None:
    print(f"\n{direction}:")
    for moment, st in kills:
        print(f"   {moment.label}: killed in phase {st.phase}, {st.done} chunk(s) done, "
              f"{st.in_flight} in flight, {st.post_load} post-load object(s)")  # fmt: skip


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
    # DuckDB gets no foreign keys (docs/type-mapping.md)
    refs = [] if cfg.target.engine == "duckdb" else ["ints"]
    assert [fk.ref_table for fk in schema.table("pairs").foreign_keys] == refs


DIRECTIONS = [
    ("mysql", "postgres"),
    ("postgres", "mysql"),
    ("sqlite", "postgres"),
    ("postgres", "duckdb"),
    ("duckdb", "mysql"),
]


@pytest.mark.parametrize(("src", "dst"), DIRECTIONS, ids=[f"{s}->{d}" for s, d in DIRECTIONS])
def test_kill_chain_and_resume(
    src: str, dst: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if dst == "duckdb":
        # groups of three 1,000-row chunks (not a row group: the whole data), so the chain's
        # moments fall between group commits and kills land on held, uncommitted batches
        site = tmp_path / "site"
        site.mkdir()
        (site / "sitecustomize.py").write_text(
            "from dmt.dialects.duckdb import DuckDBDialect\nDuckDBDialect.commit_rows = 3000\n"
        )
        path = [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(path))
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

        print_kills(kill_chain(cfg_path, state, MOMENTS, change_knobs), f"{src}->{dst}")
        assert read_state(state).status == "success"
        check_target(build_config(raw, tmp_path))
