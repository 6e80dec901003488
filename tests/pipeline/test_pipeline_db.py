"""The pipeline on real databases: runtime writer changes mid-table, updates applied at their
boundaries, awkward keys across chunk borders, and failures that stop cleanly."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

import dmt.copying as copying
from dmt.config import build_config
from dmt.errors import TransferError
from dmt.paths.columnar import COPIES, FIRST_ROWS
from dmt.paths.rows import FIRST_FETCH
from dmt.pipeline.updates import UpdateSlot
from dmt.run import Migration, execute
from dmt.settings import Update
from tests.conftest import PG, endpoint
from tests.support.compare import assert_same_table


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("src") / "src.db"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT, n REAL)")
        c.executemany(
            "INSERT INTO big VALUES (?,?,?)", ((i, f"v{i}" * 3, i / 3) for i in range(1, 300_001))
        )
        c.execute("CREATE TABLE second (id INTEGER PRIMARY KEY, v TEXT)")
        c.executemany("INSERT INTO second VALUES (?,?)", ((i, "s") for i in range(1, 20_001)))
        c.execute("CREATE TABLE pairs (a INTEGER, b TEXT, v INTEGER, PRIMARY KEY (a, b))")
        c.executemany(
            "INSERT INTO pairs VALUES (?,?,?)", ((i % 7, f"k{i:06d}", i) for i in range(5000))
        )
        c.execute("CREATE TABLE words (k TEXT PRIMARY KEY, v INTEGER)")
        words = [f"{p}{i}" for i in range(1500) for p in ("a", "B", "é", "Z", "ß")]
        c.executemany("INSERT INTO words VALUES (?,?)", ((w, i) for i, w in enumerate(words)))
        c.execute("CREATE TABLE uuids (u UUID PRIMARY KEY, v INTEGER)")
        c.executemany(
            "INSERT INTO uuids VALUES (?,?)",
            ((str(uuid.UUID(int=i * 7919 + 17)), i) for i in range(4000)),
        )
        c.execute("CREATE TABLE heap (x INTEGER, y TEXT)")  # no primary key
        c.executemany("INSERT INTO heap VALUES (?,?)", ((i % 10, "h") for i in range(3000)))
        c.execute("CREATE TABLE lobs (id INTEGER PRIMARY KEY, body BLOB)")
        c.executemany(
            "INSERT INTO lobs VALUES (?,?)",
            ((i, bytes([i % 256]) * 3_000_000) for i in range(1, 41)),
        )
    return path


def _cfg(src: Path, dst: Any, kind: str, tmp_path: Path, **migration: Any) -> Any:
    return build_config(
        {"source": endpoint("sqlite", src), "target": endpoint(kind, dst),
         "migration": {"state_dir": str(tmp_path / "state"), **migration}},
        tmp_path,
    )  # fmt: skip


def _writers() -> int:
    return sum(1 for t in threading.enumerate() if t.name.startswith("dmt-writer-"))


def _no_dmt_threads() -> list[str]:
    deadline = time.monotonic() + 5
    while True:
        left = [t.name for t in threading.enumerate() if t.name.startswith("dmt-")]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def test_writers_scale_up_and_down_mid_table(source: Path, pg_db: str, tmp_path: Path) -> None:
    cfg = _cfg(source, pg_db, "postgres", tmp_path, include_tables=["big"], chunk_size=1000,
               write_ahead_writers=2, parallel_readers=1, workers=1)  # fmt: skip
    slot = UpdateSlot()
    seen: list[int] = []
    stop = threading.Event()

    def drive() -> None:
        while not stop.is_set() and _writers() == 0:
            time.sleep(0.01)
        slot.put(Update(writers=6, source="manual", action="scale_up"))
        # as soon as six writers are live, ask for one: both changes land mid-table
        while not stop.is_set() and _writers() < 6:
            time.sleep(0.005)
        seen.append(_writers())
        slot.put(Update(writers=1, source="manual", action="scale_down"))
        while not stop.is_set():
            seen.append(_writers())
            time.sleep(0.02)

    driver = threading.Thread(target=drive)
    driver.start()
    try:
        result = Migration(cfg, slot=slot).execute()
    finally:
        stop.set()
        driver.join()
    knobs = [(a["knob"], a["before"], a["after"]) for a in result.adjustments]
    assert ("writers", 2, 6) in knobs and ("writers", 6, 1) in knobs
    assert 6 in seen and 1 in seen[seen.index(6) :]  # six live writers, then retired to one
    assert result.tables[0].rows == 300_000
    with psycopg.connect(dbname=pg_db, **PG) as c:
        row = c.execute("SELECT count(*), count(DISTINCT id), sum(id) FROM big").fetchone()
    assert row == (300_000, 300_000, 300_000 * 300_001 // 2)
    assert _no_dmt_threads() == []


def test_updates_apply_at_their_boundaries(
    source: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="dmt")
    cfg = _cfg(source, tmp_path / "t.db", "sqlite", tmp_path, include_tables=["big", "second"],
               chunk_size=50_000, workers=1, parallel_readers=1)  # fmt: skip
    slot = UpdateSlot()
    # queued before the first table starts: applied at the first table boundary
    slot.put(Update(chunk_size=10_000, read_ahead_buffers=3, parallel_readers=2))
    result = Migration(cfg, slot=slot).execute()
    applied = {a["knob"]: a for a in result.adjustments}
    assert applied["chunk_size"]["after"] == 10_000 and applied["chunk_size"]["table"] == "big"
    assert applied["read_ahead_buffers"]["after"] == 3
    assert applied["parallel_readers"]["after"] == 2
    assert "table `big`: 30 chunk(s) of 10,000 rows to copy" in caplog.text
    assert "table `second`: 2 chunk(s) of 10,000 rows to copy" in caplog.text


def test_out_of_bounds_update_is_ignored(
    source: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = _cfg(source, tmp_path / "t.db", "sqlite", tmp_path, include_tables=["second"])
    slot = UpdateSlot()
    slot.put(Update(chunk_size=5))
    result = Migration(cfg, slot=slot).execute()
    assert result.adjustments == []
    assert "ignored runtime update chunk_size=5" in caplog.text


@pytest.mark.parametrize("table", ["pairs", "words", "uuids", "heap"])
def test_awkward_keys_across_chunk_borders(
    source: Path, pg_db: str, tmp_path: Path, table: str
) -> None:
    cfg = _cfg(source, pg_db, "postgres", tmp_path, include_tables=[table], chunk_size=1000,
               parallel_readers=3, write_ahead_writers=3)  # fmt: skip
    result = execute(cfg)
    assert (
        result.tables[0].rows == {"pairs": 5000, "words": 7500, "uuids": 4000, "heap": 3000}[table]
    )
    assert assert_same_table(cfg.source, cfg.target, table) == result.tables[0].rows


@pytest.mark.parametrize(
    ("kind", "path"), [("sqlite", "rows"), ("sqlite", "arrow"), ("postgres", "arrow")]
)
def test_rows_far_wider_than_the_batch_budget(
    source: Path, tmp_path: Path, kind: str, path: str, request: pytest.FixtureRequest
) -> None:
    # 40 rows of 3 MB with a 64 MB budget (about 3 MB a batch): batches of about one row, on
    # the row path and on the columnar one
    dst = tmp_path / "t.db" if kind == "sqlite" else request.getfixturevalue("pg_db")
    data_path = "no_columnar" if path == "rows" else "auto"
    # the SQLite source's columnar reader (connectorx) cannot read inside a run's snapshot
    cfg = _cfg(source, dst, kind, tmp_path, include_tables=["lobs"], max_memory_mb=64,
               data_path=data_path, consistency="none")  # fmt: skip
    migration = Migration(cfg)
    result = migration.execute()
    assert result.tables[0].rows == 40
    assert result.tables[0].path.startswith(path)
    # a batch plans at most its share of the budget; only the table's first fetch, before any
    # row was seen, may exceed it
    first = FIRST_FETCH * 3_000_200 if path == "rows" else FIRST_ROWS * COPIES * 3_000_200
    assert migration.counters.snapshot().max_batch_bytes <= max(64 * 2**20 // 20, first)
    assert assert_same_table(cfg.source, cfg.target, "lobs") == 40


@pytest.mark.parametrize(
    ("kind", "path"), [("postgres", "arrow"), ("postgres", "rows"), ("sqlite", "arrow")]
)
def test_a_huge_chunk_size_is_held_to_the_memory_budget(
    source: Path, tmp_path: Path, kind: str, path: str, request: pytest.FixtureRequest
) -> None:
    # chunk_size 500,000 over a 300,000-row table, in the smallest budget (64 MB): the batches
    # the writers receive, and the queue in all, stay inside their shares of the budget
    dst = tmp_path / "t.db" if kind == "sqlite" else request.getfixturevalue("pg_db")
    cfg = _cfg(source, dst, kind, tmp_path, include_tables=["big"], chunk_size=500_000,
               max_memory_mb=64, data_path="auto" if path == "arrow" else "rows")  # fmt: skip
    migration = Migration(cfg)
    result = migration.execute()
    assert result.tables[0].rows == 300_000
    assert result.tables[0].path.startswith(path)
    snap = migration.counters.snapshot()
    m = cfg.migration
    slots = m.read_ahead_buffers + m.write_ahead_writers + snap.reader_slots
    assert snap.batch_budget == 64 * 2**20 // slots
    # the row path may pass its budget by one fetch, planned at most a quarter of it
    over = 1.25 if path == "rows" else 1.0
    assert 0 < snap.max_batch_bytes <= over * snap.batch_budget
    assert snap.max_queue_bytes <= m.read_ahead_buffers * snap.batch_budget
    assert snap.batches_written >= snap.bytes_total / (over * snap.batch_budget) > 2
    assert assert_same_table(cfg.source, cfg.target, "big") == 300_000


def test_a_writer_error_stops_the_run_cleanly(source: Path, pg_db: str, tmp_path: Path) -> None:
    # the target table exists with a CHECK the data breaks: append mode keeps it
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as c:
        c.execute("DROP TABLE IF EXISTS second")
        c.execute("CREATE TABLE second (id bigint PRIMARY KEY, v text CHECK (v <> 's'))")
    cfg = _cfg(source, pg_db, "postgres", tmp_path, include_tables=["second"], chunk_size=1000,
               target_mode="append")  # fmt: skip
    with pytest.raises(TransferError) as info:
        execute(cfg)
    assert info.value.exit_code == 3
    assert "second" in str(info.value) and "chunk" in str(info.value)
    assert info.value.__cause__ is not None
    assert _no_dmt_threads() == []


def test_a_reader_error_stops_the_run_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a value the decoder cannot make canonical is still read; a table dropped mid-plan is not
    src = tmp_path / "bad.db"
    with sqlite3.connect(src) as c:
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        c.executemany("INSERT INTO t VALUES (?,?)", ((i, "x") for i in range(1, 5001)))
    # without a snapshot: the run's read transaction would hold the drop off until the end
    cfg = _cfg(src, tmp_path / "t.db", "sqlite", tmp_path, chunk_size=1000, consistency="none")
    migration = Migration(cfg)
    original = copying.copy

    def sabotage(*args: Any) -> None:
        with sqlite3.connect(src) as c:  # the source loses the table after planning
            c.execute("DROP TABLE t")
        original(*args)

    monkeypatch.setattr(copying, "copy", sabotage)
    with pytest.raises(TransferError) as info:
        migration.execute()
    assert info.value.exit_code == 3 and "`t`" in str(info.value)
    assert _no_dmt_threads() == []
