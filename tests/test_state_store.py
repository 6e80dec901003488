"""The state store's chunk records: how often each chunk was copied, in new and older stores."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dmt.state import StateStore

OLD_CHUNKS = """
CREATE TABLE chunks (
  run_id TEXT NOT NULL, tbl TEXT NOT NULL, idx INTEGER NOT NULL, lower TEXT, upper TEXT,
  started INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0, rows INTEGER,
  PRIMARY KEY (run_id, tbl, idx)
)
"""


def _copies(path: Path) -> list[tuple[int, int]]:
    with sqlite3.connect(path) as c:
        rows = c.execute("SELECT idx, copies FROM chunks ORDER BY idx").fetchall()
    c.close()
    return [(int(i), int(n)) for i, n in rows]


def test_each_start_of_a_chunk_counts_one_copy_in_a_store_made_before_the_count(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.db"
    with sqlite3.connect(path) as c:  # a store from before chunks counted their copies
        c.execute(OLD_CHUNKS)
        c.execute("INSERT INTO chunks (run_id, tbl, idx, started) VALUES ('r', 't', 0, 1)")
    c.close()
    store = StateStore(tmp_path)
    try:
        store.plan_table("r", "t", [(None, (10,)), ((10,), None)])
        store.chunks_started("r", "t", [0, 1])
        store.chunks_done("r", "t", [(0, 10)])
        store.chunks_started("r", "t", [1])  # copied again, e.g. after a crash
    finally:
        store.close()
    assert _copies(path) == [(0, 1), (1, 2)]
    StateStore(tmp_path).close()  # opening it again changes nothing
    assert _copies(path) == [(0, 1), (1, 2)]
