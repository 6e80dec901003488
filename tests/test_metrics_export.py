"""`--metrics-port`: the run's live counters in Prometheus text format, scraped over HTTP while a
real run copies, and the same values in the JSON result; a port in use fails before anything is
copied."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from dmt.pipeline.stats import PipelineCounters
from dmt.tuning.export import RunMetrics
from tests.conftest import PG, endpoint
from tests.support.fake_anthropic import FakeAnthropic, Request, context_of, tool_answer

ROWS = 600_000  # on the row path with one writer: seconds of copying, several 1 s intervals


def _parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Sample name -> [(labels, value)] of one scrape."""
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def _one(scrape: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    [(labels, value)] = scrape[name]
    assert labels == {}
    return value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_counters_add_up_over_attempts_and_gauges_are_the_latest() -> None:
    first, second = PipelineCounters(), PipelineCounters()
    first.record_write(1_000, 50_000, 0.5, "a")
    first.add("errors")
    first.add("retries")
    first.set(active_writers=4, chunk_size=8_000)
    second.record_write(2_000, 90_000, 0.25, "a")
    second.record_write(500, 1_000, 0.25, "b")
    second.set(active_writers=2, chunk_size=4_000)
    attempts = [
        (first.snapshot(), {("ai", "scale_up"): 1}),
        (second.snapshot(), {("ai", "scale_up"): 2, ("fallback", "reduce_chunk"): 1}),
    ]
    metrics = RunMetrics(lambda: attempts)
    values = metrics.values()
    assert values["dmt_rows_written_total"] == [
        {"table": "a", "value": 3_000},
        {"table": "b", "value": 500},
    ]
    assert values["dmt_bytes_written_total"][0] == {"table": "a", "value": 140_000}
    assert values["dmt_batches_written_total"] == 3 and values["dmt_write_seconds_total"] == 1.0
    assert values["dmt_errors_total"] == 1 and values["dmt_retries_total"] == 1
    assert values["dmt_writers"] == 2 and values["dmt_chunk_size"] == 4_000
    assert values["dmt_decisions_total"] == [
        {"source": "ai", "action": "scale_up", "value": 3},
        {"source": "fallback", "action": "reduce_chunk", "value": 1},
    ]
    # the exposition carries the same values under the same names
    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    scrape = _parse(generate_latest(registry).decode())
    assert scrape["dmt_rows_written_total"] == [({"table": "a"}, 3_000), ({"table": "b"}, 500)]
    assert _one(scrape, "dmt_writers") == 2 and _one(scrape, "dmt_retries_total") == 1
    assert ({"source": "ai", "action": "scale_up"}, 3) in scrape["dmt_decisions_total"]


def test_before_the_copy_every_metric_is_there_at_zero() -> None:
    values = RunMetrics(list).values()
    assert values["dmt_rows_written_total"] == [] and values["dmt_writers"] == 0
    assert values["dmt_batches_written_total"] == 0


@pytest.fixture(scope="module")
def pg_source(pg_dbs: Any) -> str:
    db = pg_dbs()
    with psycopg.connect(dbname=db, autocommit=True, **PG) as conn:
        conn.execute(
            "CREATE TABLE accounts (id bigint PRIMARY KEY, a int NOT NULL, b text, c timestamp);"
            "INSERT INTO accounts SELECT g, g % 1000, md5(g::text), timestamp '2020-01-01' + "
            f"g * interval '1 second' FROM generate_series(1, {ROWS}) g; ANALYZE"
        )
    return str(db)


def test_scrape_mid_run_shows_rows_growing_writers_and_a_decision(
    pg_source: str, pg_dbs: Any, fake_anthropic: FakeAnthropic, tmp_path: Path
) -> None:
    def answer(request: Request) -> Any:
        current = context_of(request)["current"]
        return tool_answer(
            "scale_up", writers=current["writers"] + 1, chunk_size=current["chunk_size"],
            reasoning="writers are the bottleneck",
        )  # fmt: skip

    fake_anthropic.default = answer
    raw = {
        "source": endpoint("postgres", pg_source),
        "target": endpoint("postgres", pg_dbs()),
        "migration": {
            "write_ahead_writers": 1, "parallel_readers": 1, "chunk_size": 4000,
            "data_path": "rows", "ai_adjust": True, "ai_adjust_interval": "1s",
            "state_dir": str(tmp_path / "state"),
        },
        "ai": {"api_key": "sk-ant-fake-metrics", "base_url": fake_anthropic.url,
               "cache_ttl": 0, "min_call_interval": 0},
    }  # fmt: skip
    config = tmp_path / "dmt.yaml"
    config.write_text(yaml.safe_dump(raw))
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dmt", "run", "-c", str(config), "--output-json",
         "--metrics-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    scrapes = []
    try:
        while proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                    assert r.headers["Content-Type"].startswith("text/plain")
                    scrapes.append(_parse(r.read().decode()))
            except (urllib.error.URLError, ConnectionError):
                pass  # not listening yet, or already stopped
            time.sleep(0.2)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err

    def rows(scrape: dict[str, Any]) -> float:
        return sum(v for labels, v in scrape.get("dmt_rows_written_total", ()))

    copying = [s for s in scrapes if 0 < rows(s) < ROWS]
    assert len(copying) >= 2, f"{len(scrapes)} scrapes, none caught the copy twice"
    assert rows(copying[-1]) > rows(copying[0])  # rows grow between two scrapes mid-run
    mid = copying[-1]
    assert mid["dmt_rows_written_total"][0][0] == {"table": "accounts"}
    assert sum(v for _, v in mid["dmt_bytes_written_total"]) > rows(mid) * 20  # md5 text alone
    assert all(_one(s, "dmt_writers") >= 1 for s in copying)
    assert any(_one(s, "dmt_readers") >= 1 for s in copying)  # none once the reading is done
    assert _one(mid, "dmt_chunk_size") >= 1000 and _one(mid, "dmt_queue_capacity") == 8
    assert 0 <= _one(mid, "dmt_queue_depth") <= 8
    assert _one(mid, "dmt_rows_expected") == pytest.approx(ROWS, rel=0.05)
    assert _one(mid, "dmt_batches_written_total") >= 1
    assert _one(mid, "dmt_errors_total") == 0 and _one(mid, "dmt_retries_total") == 0
    seen = [labels for s in scrapes for labels, v in s.get("dmt_decisions_total", ()) if v >= 1]
    assert {"source": "ai", "action": "scale_up"} in seen, "no scrape counted a decision"
    # the JSON result carries the final values
    final = json.loads(out)["metrics"]
    assert final["dmt_rows_written_total"] == [{"table": "accounts", "value": ROWS}]
    assert final["dmt_batches_written_total"] >= ROWS // 4000
    assert final["dmt_tables_done"] == final["dmt_tables_total"] == 1
    decided = {(d["source"], d["action"]): d["value"] for d in final["dmt_decisions_total"]}
    assert decided.get(("ai", "scale_up"), 0) >= 1
    assert rows(scrapes[-1]) <= ROWS  # never more than the table holds


def test_port_in_use_fails_before_anything_is_copied(tmp_path: Path) -> None:
    src, dst = tmp_path / "src.db", tmp_path / "dst.db"
    with sqlite3.connect(src) as conn:
        conn.execute("CREATE TABLE t (id integer PRIMARY KEY, v text)")
        conn.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x") for i in range(100)])
    raw: dict[str, Any] = {
        "source": endpoint("sqlite", src),
        "target": endpoint("sqlite", dst),
        "migration": {"state_dir": str(tmp_path / "state")},
    }
    config = tmp_path / "dmt.yaml"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # the option on run and resume (the port is checked before there is anything to
        # resume), then the config key
        for command, how in (("run", True), ("resume", True), ("run", False)):
            if not how:
                raw["migration"]["metrics_port"] = port
            config.write_text(yaml.safe_dump(raw))
            option = ["--metrics-port", str(port)] if how else []
            r = subprocess.run(
                [sys.executable, "-m", "dmt", command, "-c", str(config), *option],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert r.returncode == 1
            assert r.stderr == (
                f"error: cannot serve metrics on 127.0.0.1:{port}: address already in use; "
                "choose another port (--metrics-port or migration.metrics_port)\n"
            )
    assert not dst.exists()  # nothing was created, let alone copied
    assert not (tmp_path / "state" / "state.db").exists()  # no run was started
