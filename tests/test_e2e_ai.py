"""End to end: `dmt run` on real databases with the fake Messages API deciding, and the
decisions visibly changing the running pipeline."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dmt.config import build_config
from dmt.run import execute
from tests.conftest import PG, endpoint
from tests.support.fake_anthropic import FakeAnthropic, Reply, Request, context_of, tool_answer

KEY = "sk-ant-e2e-secret-0123456789"


ROWS = 600_000  # per big table: seconds each on the row path, enough intervals for the AI


@pytest.fixture(scope="module")
def pg_source(pg_db: str) -> str:
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as conn:
        conn.execute(
            "".join(
                f"CREATE TABLE big{i} (id bigint PRIMARY KEY, a int NOT NULL, b text, c timestamp);"
                f"INSERT INTO big{i} SELECT g, g % 1000, md5(g::text), timestamp '2020-01-01' + "
                f"g * interval '1 second' FROM generate_series(1, {ROWS}) g;"
                for i in (1, 2, 3, 4)
            )
            + "CREATE TABLE small (id int PRIMARY KEY, v text);"
            "INSERT INTO small SELECT g, repeat('x', g % 50) FROM generate_series(1, 30000) g;"
            "ANALYZE"
        )
    return pg_db


def _digest(db: str, table: str) -> tuple[int, int, str]:
    """(rows, distinct keys, md5 of every row's text in key order), computed by the server."""
    with psycopg.connect(dbname=db, **PG) as conn:
        row = conn.execute(
            f"SELECT count(*), count(DISTINCT id), md5(string_agg(t::text, '|' ORDER BY id)) "
            f"FROM {table} t"
        ).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


class WriterCounter(threading.Thread):
    """Samples the live writer threads (by name) and the table being copied."""

    def __init__(self) -> None:
        super().__init__(name="test-writer-counter")
        self.stop = threading.Event()
        self.samples: list[tuple[float, int]] = []

    def run(self) -> None:
        while not self.stop.wait(0.05):
            n = sum(1 for t in threading.enumerate() if t.name.startswith("dmt-writer-"))
            self.samples.append((time.monotonic(), n))


def test_ai_decisions_change_the_running_pipeline(
    pg_source: str,
    fake_anthropic: FakeAnthropic,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the decision loop needs tables that take seconds each, whatever the machine: the exact
    # row path (the columnar path and the binary pass-through copy 800k rows in about 1 s)
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
        target_db = f"{pg_source}_dst"
        admin.execute(f'DROP DATABASE IF EXISTS "{target_db}"')
        admin.execute(f'CREATE DATABASE "{target_db}"')

    def answer(request: Request) -> Reply:
        """First: four more writers. Then: half the chunk size. Always from the settings the
        request reports, so the controller's own moves in between cannot make it invalid."""
        current = context_of(request)["current"]
        if not any(r.body for r in fake_anthropic.requests[:-1]):
            return tool_answer(
                "scale_up", writers=current["writers"] + 4, chunk_size=current["chunk_size"],
                reasoning="writers are the bottleneck",
            )  # fmt: skip
        return tool_answer(
            "reduce_chunk", writers=current["writers"], chunk_size=current["chunk_size"] // 2,
            reasoning="latency is rising",
        )  # fmt: skip

    fake_anthropic.default = answer
    raw: dict[str, Any] = {
        "source": endpoint("postgres", pg_source),
        "target": endpoint("postgres", target_db),
        "migration": {
            "workers": 1, "write_ahead_writers": 2, "chunk_size": 4000, "parallel_readers": 1,
            "ai_adjust": True, "ai_adjust_interval": "1s", "state_dir": str(tmp_path / "state"),
            "include_tables": ["big*", "small"], "data_path": "rows",
        },
        "ai": {"api_key": KEY, "base_url": fake_anthropic.url, "cache_ttl": 0,
               "min_call_interval": 0},
    }  # fmt: skip
    cfg = build_config(raw, tmp_path)
    counter = WriterCounter()
    caplog.set_level(logging.DEBUG, logger="dmt")
    counter.start()
    try:
        result = execute(cfg)
    finally:
        counter.stop.set()
        counter.join()
    try:
        # the AI was really asked, through the SDK, with the key only in the header
        assert fake_anthropic.calls >= 2
        assert all(KEY not in r.raw for r in fake_anthropic.requests)
        writers = [a for a in result.adjustments if a["knob"] == "writers"]
        assert writers and writers[0]["before"] == 2 and writers[0]["after"] == 6
        assert writers[0]["source"] == "ai" and writers[0]["table"].startswith("big")
        # the pool really grew in the middle of a table: six live writer threads
        assert max(n for _, n in counter.samples) == 6
        chunk = [a for a in result.adjustments if a["knob"] == "chunk_size"]
        assert chunk, "the reduce_chunk decision never reached the pipeline"
        assert chunk[0]["before"] == 4000 and chunk[0]["after"] == 2000
        assert chunk[0]["source"] == "ai" and chunk[0]["action"] == "reduce_chunk"
        # chunk_size changes apply at table starts: every table was split with the size in
        # force when it started, and the first change came after the writer change
        order = ["big1", "big2", "big3", "big4", "small"]
        assert order.index(chunk[0]["table"]) > order.index(writers[0]["table"])
        text = caplog.text
        rows = {"big1": ROWS, "big2": ROWS, "big3": ROWS, "big4": ROWS, "small": 30_000}
        size = 4000
        for name in order:
            for a in chunk:
                if a["table"] == name:
                    size = a["after"]
            n = -(-rows[name] // size)  # dense integer keys: split arithmetically
            assert f"table `{name}`: {n:,} chunk(s) of {size:,} rows to copy" in text, name
        assert "Scaled writers from 2 to 6" in text
        assert KEY not in text
        decisions = result.monitor["records"] if result.monitor else []
        assert any(d["source"] == "ai" and d["action"] == "scale_up" for d in decisions)
        # every row arrived exactly once: same count, no duplicate key, same ordered content
        for table in order:
            assert _digest(pg_source, table) == _digest(target_db, table), table
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{target_db}" WITH (FORCE)')


def test_ai_adjust_into_sqlite_never_asks_for_a_writer_it_cannot_have(
    pg_source: str, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    # SQLite takes one writer: the AI is shown that bound, an answer past it is rejected, and
    # neither the rules nor the AI ever move the writer count of the running pipeline
    def answer(request: Request) -> Reply:
        current = context_of(request)["current"]
        return tool_answer(
            "scale_up", writers=current["writers"] + 4, chunk_size=current["chunk_size"],
            reasoning="writers are the bottleneck",
        )  # fmt: skip

    fake_anthropic.default = answer
    raw: dict[str, Any] = {
        "source": endpoint("postgres", pg_source),
        "target": endpoint("sqlite", tmp_path / "t.db"),
        "migration": {
            "chunk_size": 4000, "ai_adjust": True, "ai_adjust_interval": "1s",
            "state_dir": str(tmp_path / "state"), "include_tables": ["big1"],
            "data_path": "rows",
        },
        "ai": {"api_key": KEY, "base_url": fake_anthropic.url, "cache_ttl": 0,
               "min_call_interval": 0},
    }  # fmt: skip
    counter = WriterCounter()
    counter.start()
    try:
        result = execute(build_config(raw, tmp_path))
    finally:
        counter.stop.set()
        counter.join()
    assert result.status == "success" and result.tables[0].rows == ROWS
    assert fake_anthropic.calls >= 2, "the copy should last several intervals"
    for request in fake_anthropic.requests:
        if request.body:
            assert context_of(request)["bounds"]["writers"] == [1, 1]
            tools = request.body["tools"]
            assert (
                tools[0]["input_schema"]["properties"]["adjustments"]["properties"]["writers"][
                    "maximum"
                ]
                == 1
            )
    assert not [a for a in result.adjustments if a["knob"] == "writers"]
    assert result.monitor is not None
    assert all(d["writers_after"] == 1 for d in result.monitor["records"])
    samples = result.monitor["samples"]
    assert len(samples) >= 2 and all(s["writers"] == 1 for s in samples)
    assert max(n for _, n in counter.samples) == 1
