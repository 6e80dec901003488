"""Tables of many key ranges between MySQL and SQLite (MySQL -> MySQL, MySQL -> SQLite,
SQLite -> MySQL): several thousand rows in chunks of 1,000, read by three readers and written
by three writers, on the default path and on the exact row path, compared row by row.

One table has an integer key with gaps, one a text key whose order differs between a
case-insensitive collation and a binary one, one a composite key, and one holds only types the
columnar path carries, so the default path takes it there."""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dmt.config import build_config
from dmt.run import execute
from dmt.state.store import StateStore
from tests.conftest import MY
from tests.support.compare import assert_same_table

ROWS = 8_000  # eight chunks of 1,000
WORDS = 2_500

DDL = {
    "mysql": [
        "CREATE TABLE wide (id int PRIMARY KEY, name varchar(60), amount decimal(12,3), "
        "ratio double, at datetime(6), payload varbinary(64), flag tinyint(1), note text)",
        "CREATE TABLE words (code varchar(40) PRIMARY KEY, n int NOT NULL)",
        "CREATE TABLE pairs (a int, b varchar(10), v bigint, PRIMARY KEY (a, b))",
        "CREATE TABLE fast (id bigint PRIMARY KEY, name varchar(60), ratio double, "
        "at datetime(6), payload varbinary(64), qty int)",
    ],
    "sqlite": [
        "CREATE TABLE wide (id INTEGER PRIMARY KEY, name VARCHAR(60), amount DECIMAL(12,3), "
        "ratio DOUBLE, at DATETIME, payload BLOB, flag BOOLEAN, note TEXT)",
        "CREATE TABLE words (code VARCHAR(40) PRIMARY KEY, n INT NOT NULL)",
        "CREATE TABLE pairs (a INT, b VARCHAR(10), v BIGINT, PRIMARY KEY (a, b))",
        "CREATE TABLE fast (id INTEGER PRIMARY KEY, name VARCHAR(60), ratio DOUBLE, "
        "at DATETIME, payload BLOB, qty INT)",
    ],
}


def wide_rows(engine: str) -> list[tuple[Any, ...]]:
    base = dt.datetime(2020, 1, 1, 0, 0, 0, 123456)
    out = []
    for i in range(1, ROWS + 1):
        at = base + dt.timedelta(minutes=37 * i, microseconds=i)
        out.append((
            i * 3,  # gaps: key ranges are not dense
            f"name {i} ü😀" if i % 7 else "",
            Decimal(i * 1001) / 1000 * (-1 if i % 5 == 0 else 1),
            i / 7,
            at.isoformat(" ") if engine == "sqlite" else at,
            bytes([i % 256, (i * 7) % 256, 0]) if i % 11 else None,
            i % 2,
            None if i % 3 == 0 else "x" * (i % 300),
        ))  # fmt: skip
    return out


def fast_rows(engine: str) -> list[tuple[Any, ...]]:
    """Only types the columnar path carries: the default path takes it."""
    return [(r[0] // 3, r[1], r[3], r[4], r[5], i) for i, r in enumerate(wide_rows(engine))]


def word_rows() -> list[tuple[Any, ...]]:
    # mixed case without case-insensitive collisions: a case-insensitive source orders these
    # differently from a binary one
    return [(f"{'Kw' if i % 2 else 'kv'}{i:05d}-{'ä' if i % 3 else 'z'}", i) for i in range(WORDS)]


def pair_rows() -> list[tuple[Any, ...]]:
    return [(i // 4, f"b{i % 4}", i * 1_000_003) for i in range(WORDS)]


def fill(ep: dict[str, Any]) -> None:
    engine = ep["type"]
    data = [
        ("wide", wide_rows(engine)),
        ("words", word_rows()),
        ("pairs", pair_rows()),
        ("fast", fast_rows(engine)),
    ]
    if engine == "sqlite":
        c = sqlite3.connect(ep["path"])
        for sql in DDL["sqlite"]:
            c.execute(sql)
        for table, rows in data:
            marks = ", ".join("?" * len(rows[0]))
            c.executemany(
                f"INSERT INTO {table} VALUES ({marks})",
                [tuple(str(v) if isinstance(v, Decimal) else v for v in r) for r in rows],
            )
        c.commit()
        c.close()
        return
    import pymysql

    mc = pymysql.connect(database=ep["database"], charset="utf8mb4", **MY)  # type: ignore[arg-type]
    try:
        with mc.cursor() as cur:
            for sql in DDL["mysql"]:
                cur.execute(sql)
            for table, rows in data:
                marks = ", ".join(["%s"] * len(rows[0]))
                cur.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        mc.commit()
    finally:
        mc.close()


@pytest.fixture(scope="module")
def sources(new_db: Callable[[str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One filled source per engine, shared by the directions and paths."""
    out = {}
    for engine in ("mysql", "sqlite"):
        out[engine] = new_db(engine)
        fill(out[engine])
    return out


DIRECTIONS = [("mysql", "mysql"), ("mysql", "sqlite"), ("sqlite", "mysql")]


@pytest.mark.parametrize("data_path", ["auto", "rows"])
@pytest.mark.parametrize(("src", "dst"), DIRECTIONS, ids=[f"{s}->{t}" for s, t in DIRECTIONS])
def test_many_chunks_many_threads(
    src: str, dst: str, data_path: str, sources: dict[str, dict[str, Any]],
    new_db: Callable[[str], dict[str, Any]], tmp_path: Path,
) -> None:  # fmt: skip
    cfg = build_config(
        {
            "source": sources[src],
            "target": new_db(dst),
            "migration": {
                "state_dir": str(tmp_path / "state"),
                "chunk_size": 1000,
                "parallel_readers": 3,
                "write_ahead_writers": 3,
                "data_path": data_path,
                "validate": "checksum",
            },
            "ai": {"provider": "none"},
        }
    )
    result = execute(cfg)
    assert result.status == "success"
    paths = {t.name: t.path for t in result.tables}
    if data_path == "rows":
        assert set(paths.values()) == {"rows"}
    else:
        assert paths["fast"].startswith("arrow"), paths
    store = StateStore(tmp_path / "state")
    try:
        chunks = {t["name"]: t["chunks"] for t in store.tables(result.run_id)}
    finally:
        store.close()
    # key ranges are planned over the key's span: the gapped integer key gives more of them
    assert chunks["wide"] >= 8 and chunks["fast"] >= 8, chunks
    assert chunks["words"] >= 3 and chunks["pairs"] >= 3, chunks
    assert assert_same_table(cfg.source, cfg.target, "wide") == ROWS
    assert assert_same_table(cfg.source, cfg.target, "words") == WORDS
    assert assert_same_table(cfg.source, cfg.target, "pairs") == WORDS
    assert assert_same_table(cfg.source, cfg.target, "fast") == ROWS
