"""Group commit into a one-writer target (DuckDB): batches loaded while more wait share one
transaction, and a batch counts as written only once its rows are committed."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from dmt.config import build_config
from dmt.dialects.base import get_dialect
from dmt.dialects.duckdb import DuckDBDialect
from dmt.errors import TransferError
from dmt.pipeline.groupcommit import GroupCommit
from dmt.run import execute
from tests.conftest import endpoint


def _batch(lo: int, hi: int) -> pa.Table:
    ids = list(range(lo, hi))
    return pa.table({"id": pa.array(ids, pa.int64()), "v": [f"v{i}" for i in ids]})


def _count(path: Path) -> int:
    """The rows another connection sees committed."""
    with duckdb.connect(str(path)) as c:
        row = c.execute("SELECT count(*) FROM t").fetchone()
    assert row is not None
    return int(row[0])


def test_held_batches_count_as_written_only_once_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.duckdb"
    with duckdb.connect(str(path)) as c:
        c.execute("CREATE TABLE t (id BIGINT PRIMARY KEY, v VARCHAR)")
    monkeypatch.setattr(DuckDBDialect, "commit_rows", 25)
    cfg = build_config(
        {"source": endpoint("sqlite", tmp_path / "unused.db"), "target": endpoint("duckdb", path)}
    )
    target = get_dialect(cfg.target, "target")
    conn = target.connect()
    table = target.reflect(conn, lambda n: True).table("t")
    waiting, written = [1], []
    group = GroupCommit(target, lambda: waiting[0], lambda b, n: written.append((b, n)))
    group.begin(conn)
    load: Any = target.insert_arrow  # type: ignore[attr-defined]

    load(conn, table, _batch(0, 10))
    group.wrote(conn, "b1", 10)  # a batch waits, 10 < 25 rows: held
    assert written == []
    load(conn, table, _batch(10, 30))
    group.wrote(conn, "b2", 20)  # 30 rows reach commit_rows: committed
    assert written == [("b1", 10), ("b2", 20)]
    assert _count(path) == 30

    load(conn, table, _batch(30, 35))
    group.wrote(conn, "b3", 5)  # held again
    with pytest.raises(TransferError):
        load(conn, table, _batch(34, 40))  # a duplicate key: the transaction rolls back
    group.end(conn, failed=True, on_error=lambda e: None)
    assert written == [("b1", 10), ("b2", 20)]  # b3 was never committed: not written

    waiting[0] = 0
    load(conn, table, _batch(30, 32))
    group.wrote(conn, "b4", 2)  # nothing waits: committed at once
    assert written[-1] == ("b4", 2)
    conn.close()
    assert _count(path) == 32


def test_a_copy_into_duckdb_in_many_small_chunks_arrives_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "s.db"
    with sqlite3.connect(src) as c:
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        c.executemany("INSERT INTO t VALUES (?, ?)", ((i, f"v{i}") for i in range(1, 30_001)))
    commits = []
    held = DuckDBDialect.commit_held
    monkeypatch.setattr(
        DuckDBDialect, "commit_held", lambda self, conn: (commits.append(1), held(self, conn))
    )
    dst = tmp_path / "t.duckdb"
    cfg = build_config(
        {
            "source": endpoint("sqlite", src),
            "target": endpoint("duckdb", dst),
            "migration": {"state_dir": str(tmp_path / "state"), "chunk_size": 1000,
                          "validate": "checksum"},
            "ai": {"provider": "none"},
        }
    )  # fmt: skip
    result = execute(cfg)
    assert result.status == "success"
    assert commits  # the writer's commits went through the group
    with duckdb.connect(str(dst), read_only=True) as c:
        assert c.execute("SELECT count(*), count(DISTINCT id), sum(id) FROM t").fetchone() == (
            30_000, 30_000, 30_000 * 30_001 // 2,
        )  # fmt: skip
