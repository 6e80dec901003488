"""Identifiers that need quoting — reserved words, spaces, quotes, mixed case, unicode, ``%``,
a name at PostgreSQL's 63-byte limit — copied in all sixteen directions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dmt.config import build_config
from dmt.dialects.base import get_dialect
from dmt.run import execute
from tests.test_fidelity import ALL_DIRECTIONS, ALL_ENGINES, Databases, dbs, read

__all__ = ["dbs"]  # the fidelity matrix's fixture, shared

TABLE = "Order Details \"Q\" 'x' ünï %s"
LONG = "c" * 63
COLUMNS = ["select", "Mixed Case", 'a"b', "a`b", "ünï", "50%", LONG]
TYPES = {"postgres": "integer", "mysql": "int", "sqlite": "INTEGER", "duckdb": "INTEGER"}


def create(engine: str, ep: dict[str, Any]) -> None:
    cfg = build_config({"source": ep, "target": {"type": "sqlite", "path": "/nonexistent"}})
    d = get_dialect(cfg.source, "target")
    conn = d.connect()
    try:
        cols = ", ".join(f"{d.quote(c)} {TYPES[engine]}" for c in COLUMNS)
        cur = conn.cursor()
        d.execute(cur, f"CREATE TABLE {d.quote(TABLE)} ({cols}, PRIMARY KEY ({d.quote('select')}))")
        marks = ", ".join([d.placeholder] * len(COLUMNS))
        for i in range(1, 4):
            d.execute(
                cur,
                f"INSERT INTO {d.quote(TABLE)} ({d.column_list(COLUMNS)}) VALUES ({marks})",
                [i * 10 + j for j in range(len(COLUMNS))],
            )
        d.execute(
            cur,
            f"CREATE INDEX {d.quote('ix %s Mixed')} ON {d.quote(TABLE)} ({d.quote('Mixed Case')})",
        )
        cur.close()
        conn.commit()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def sources(dbs: Databases) -> dict[str, dict[str, Any]]:
    out = {}
    for engine in ALL_ENGINES:
        ep = dbs.new(engine)
        create(engine, ep)
        out[engine] = ep
    return out


@pytest.mark.parametrize(
    ("src", "dst"), ALL_DIRECTIONS, ids=[f"{s}->{t}" for s, t in ALL_DIRECTIONS]
)
def test_quoted_names_copy(
    src: str, dst: str, sources: dict[str, dict[str, Any]], dbs: Databases, tmp_path: Path
) -> None:
    cfg = build_config(
        {
            "source": sources[src],
            "target": dbs.new(dst),
            "migration": {"state_dir": str(tmp_path), "chunk_size": 1000},
            "ai": {"provider": "none"},
        }
    )
    assert execute(cfg).status == "success"
    names, _, want = read(cfg.source, TABLE)
    got_names, _, got = read(cfg.target, TABLE)
    assert names == got_names == COLUMNS
    assert got == want
    d = get_dialect(cfg.target, "source")
    conn = d.connect()
    try:
        (t,) = d.reflect(conn, TABLE.__eq__).tables
        assert t.primary_key == ("select",)
        assert [ix.columns for ix in t.indexes] == [("Mixed Case",)]
    finally:
        conn.close()
