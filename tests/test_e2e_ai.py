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
from tests.support.compare import assert_same_table
from tests.support.fake_anthropic import FakeAnthropic, tool_answer

KEY = "sk-ant-e2e-secret-0123456789"


@pytest.fixture(scope="module")
def pg_source(pg_db: str) -> str:
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as conn:
        conn.execute(
            "CREATE TABLE big (id bigint PRIMARY KEY, a int NOT NULL, b text, c timestamp);"
            "INSERT INTO big SELECT g, g % 1000, md5(g::text), timestamp '2020-01-01' + g * "
            "interval '1 second' FROM generate_series(1, 2000000) g;"
            "CREATE TABLE small (id int PRIMARY KEY, v text);"
            "INSERT INTO small SELECT g, repeat('x', g % 50) FROM generate_series(1, 30000) g;"
            "ANALYZE"
        )
    return pg_db


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
    pg_source: str, fake_anthropic: FakeAnthropic, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
        target_db = f"{pg_source}_dst"
        admin.execute(f'DROP DATABASE IF EXISTS "{target_db}"')
        admin.execute(f'CREATE DATABASE "{target_db}"')
    fake_anthropic.script(
        tool_answer("scale_up", workers=6, chunk_size=4000, reasoning="writers are the bottleneck"),
    )
    fake_anthropic.default = tool_answer(
        "reduce_chunk", workers=6, chunk_size=2000, reasoning="latency is rising"
    )
    raw: dict[str, Any] = {
        "source": endpoint("postgres", pg_source),
        "target": endpoint("postgres", target_db),
        "migration": {
            "workers": 1, "write_ahead_writers": 2, "chunk_size": 4000, "parallel_readers": 1,
            "ai_adjust": True, "ai_adjust_interval": "1s", "state_dir": str(tmp_path / "state"),
            "include_tables": ["big", "small"],
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
        assert writers[0]["source"] == "ai" and writers[0]["table"] == "big"
        # the pool really grew while `big` was being copied: six live writer threads
        assert max(n for _, n in counter.samples) == 6
        chunk = [a for a in result.adjustments if a["knob"] == "chunk_size"]
        assert chunk and chunk[0]["after"] == 2000 and chunk[0]["table"] == "small"
        text = caplog.text
        assert "Scaled writers from 2 to 6" in text
        assert "table `small`: 16 chunk(s) of 2000 rows" in text
        assert "table `big`: 501 chunk(s) of 4000 rows" in text
        assert KEY not in text
        decisions = result.monitor["records"] if result.monitor else []
        assert any(d["source"] == "ai" and d["action"] == "scale_up" for d in decisions)
        for table in ("big", "small"):
            assert_same_table(cfg.source, cfg.target, table)
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{target_db}" WITH (FORCE)')
