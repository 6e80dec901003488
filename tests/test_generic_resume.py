"""Crash-safe resume through the generic dialect: the kill chain of
tests/test_resume_engines.py (SIGKILL at 13 moments from prepare to validation, each resume
continuing from what the kill left, chunks in flight removed with ``delete_range`` and copied
again) with both endpoints ``type: generic``: MySQL -> PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from dmt.config import build_config
from tests.conftest import endpoint
from tests.support.killing import read_state
from tests.support.resume_data import fill, fresh_db
from tests.test_generic_fidelity import generic
from tests.test_resume_engines import MOMENTS, check_target, kill_chain, print_kills


def test_generic_kill_chain_and_resume(tmp_path: Path) -> None:
    src, dst = "mysql", "postgres"
    with fresh_db(src, tmp_path) as sdb, fresh_db(dst, tmp_path) as tdb:
        fill(src, sdb)
        state = tmp_path / "state"
        raw: dict[str, Any] = {
            "source": generic(endpoint(src, sdb)),
            "target": generic(endpoint(dst, tdb)),
            "migration": {"state_dir": str(state), "chunk_size": 1000, "workers": 2,
                          "parallel_readers": 2, "write_ahead_writers": 2,
                          "validate": "checksum", "consistency": "none"},
            "ai": {"provider": "none"},
        }  # fmt: skip
        cfg_path = tmp_path / "c.yaml"
        cfg_path.write_text(yaml.safe_dump(raw))
        print_kills(kill_chain(cfg_path, state, MOMENTS), f"{src}->{dst} (generic)")
        assert read_state(state).status == "success"
        check_target(build_config(raw, tmp_path))
