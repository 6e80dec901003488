"""First end-to-end migrations: SQLite -> SQLite and SQLite -> PostgreSQL, every row compared."""

from __future__ import annotations

from pathlib import Path

import pytest

from dmt.config import build_config
from dmt.run import execute
from tests.conftest import endpoint
from tests.support.compare import assert_same_table

TABLES = ["users", "tags", "posts", "comments", "votes"]


@pytest.mark.parametrize("target_kind", ["sqlite", "postgres"])
def test_sample_copies_every_row(
    target_kind: str, sample_db: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    dst = tmp_path / "copy.db" if target_kind == "sqlite" else request.getfixturevalue("pg_db")
    cfg = build_config(
        {
            "source": endpoint("sqlite", sample_db),
            "target": endpoint(target_kind, dst),
            "migration": {"state_dir": str(tmp_path / "state"), "chunk_size": 1000},
        },
        tmp_path,
    )
    result = execute(cfg)
    assert result.status == "success"
    assert {t.name: t.rows for t in result.tables} == {
        "users": 300, "tags": 9, "posts": 1000, "comments": 1500, "votes": 3000,
    }  # fmt: skip
    for t in TABLES:
        assert_same_table(cfg.source, cfg.target, t)
    # a second run (drop_recreate) gives the same result, not doubled rows
    again = execute(cfg)
    assert again.rows_transferred == result.rows_transferred
    for t in TABLES:
        assert_same_table(cfg.source, cfg.target, t)
