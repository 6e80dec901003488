from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import pytest

from dmt.config import MigrationConfig
from dmt.pipeline.updates import UpdateSlot
from dmt.tuning.monitor import AIMonitor, build_monitor
from tests.support.fake_anthropic import FakeAnthropic, error, tool_answer

from .sim import SimPipeline, ThroughputModel
from .test_claude import KEY, ai_config

QUIET = ThroughputModel(noise=0.01)


def migration(interval: float = 30.0) -> MigrationConfig:
    return MigrationConfig(
        tables_in_flight=4, chunk_size=10_000, parallel_readers=2, read_ahead_buffers=8,
        write_ahead_writers=6, max_memory_mb=1024, target_mode="drop_recreate",
        include_tables=(), exclude_tables=(), create_indexes=True, create_foreign_keys=True,
        validate="count", identifier_case="preserve", zero_dates="null", nul_bytes="error",
        chunk_size_at="chunk", ai_adjust=True, ai_adjust_interval=interval,
        state_dir=Path("/nonexistent"),
    )  # fmt: skip


class Rig:
    """A monitor over a simulated pipeline; ``step`` = one interval, then apply the slot."""

    def __init__(self, fake: FakeAnthropic | None, writers: int = 6, **ai: object) -> None:
        self.sim = SimPipeline(QUIET, writers, 10_000)
        self.slot = UpdateSlot()
        url = fake.url if fake else "http://127.0.0.1:9"
        cfg = ai_config(url, **ai)
        self.monitor = build_monitor(
            self.sim.snapshot, self.slot, migration(), cfg, clock=self.sim.clock, host=self.sim.host
        )

    def step(self) -> None:
        self.sim.advance(30)
        self.monitor.tick()
        self.sim.apply(self.slot.take())


def test_good_ai_answer_is_applied_through_the_slot(
    fake_anthropic: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dmt.monitor")
    fake_anthropic.script(tool_answer("scale_up", 8, 10_000, "high", "queue is full"))
    rig = Rig(fake_anthropic)
    rig.step()  # baseline intervals: nothing is asked yet
    rig.step()
    assert fake_anthropic.calls == 0
    rig.sim.advance(30)
    rig.monitor.tick()
    update = rig.slot.take()
    assert update is not None
    assert (update.writers, update.chunk_size, update.source, update.action) == (
        8, None, "ai", "scale_up"
    )  # fmt: skip
    assert update.decision_id == 1
    assert "AI adjustment applied: scale_up - queue is full" in caplog.text
    assert "Metrics snapshot: " in caplog.text and "rows/sec, memory=" in caplog.text
    status = rig.monitor.status()
    assert status["last_source"] == "ai"
    ai = status["ai"]
    assert isinstance(ai, dict) and ai["calls"] == 1 and ai["input_tokens"] == 1200
    rig.monitor.stop()


def test_a_harmful_ai_change_is_rolled_back_and_recorded(fake_anthropic: FakeAnthropic) -> None:
    fake_anthropic.script(tool_answer("scale_down", 2, 10_000, "low", "try fewer"))
    fake_anthropic.default = tool_answer("continue", 6, 10_000)
    rig = Rig(fake_anthropic, min_call_interval=0, cache_ttl=0)
    for _ in range(6):
        rig.step()
    out = rig.monitor.to_dict()
    records = out["records"]
    assert isinstance(records, list)
    first, second = records[0], records[1]
    assert (first["source"], first["writers_after"], first["reverted"]) == ("ai", 2, True)
    assert first["effect_percent"] < -20
    assert first["metrics"]["rows_per_sec"] > 0
    assert (second["source"], second["action"], second["writers_after"]) == (
        "rollback", "scale_up", 6
    )  # fmt: skip
    assert rig.sim.writers == 6
    json.dumps(out)
    rig.monitor.stop()


def test_failing_ai_falls_back_to_the_rules(
    fake_anthropic: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dmt.monitor")
    fake_anthropic.default = error(500)
    rig = Rig(fake_anthropic, min_call_interval=0)
    for _ in range(20):
        rig.step()
    assert "AI adjustment failed: HTTP 500 from the API, using fallback rules" in caplog.text
    assert "AI circuit breaker open after 3 consecutive failures" in caplog.text
    assert fake_anthropic.calls == 3  # the breaker stops the calls
    assert rig.monitor.records and {r.source for r in rig.monitor.records} <= {
        "fallback",
        "rollback",
    }
    rig.monitor.stop()


def test_no_key_runs_rules_only_and_says_so_once(
    fake_anthropic: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    rig = Rig(fake_anthropic, api_key=None)
    for _ in range(10):
        rig.step()
    lines = [r.getMessage() for r in caplog.records if "no API key" in r.getMessage()]
    assert len(lines) == 1
    assert fake_anthropic.calls == 0 and rig.monitor.records
    rig.monitor.stop()


def test_key_is_rejected_once_then_rules_only(
    fake_anthropic: FakeAnthropic, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake_anthropic.default = error(401, f"invalid key {KEY}")
    rig = Rig(fake_anthropic, min_call_interval=0)
    for _ in range(10):
        rig.step()
    assert fake_anthropic.calls == 1
    disabled = [
        r for r in caplog.records if "AI disabled for the rest of the run" in r.getMessage()
    ]
    assert len(disabled) == 1
    assert KEY not in caplog.text
    rig.monitor.stop()


def test_thread_loops_on_the_interval_and_stops_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "dmt.monitor")
    sim = SimPipeline(QUIET, 4, 10_000)
    rig_monitor = build_monitor(
        sim.snapshot,
        UpdateSlot(),
        dataclasses.replace(migration(), ai_adjust_interval=0.01),
        ai_config("http://127.0.0.1:9", provider="none"),
        host=sim.host,
    )
    assert isinstance(rig_monitor, AIMonitor) and rig_monitor.adjuster is None
    rig_monitor.start()
    deadline = time.monotonic() + 5
    while rig_monitor.ticks < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    rig_monitor.stop()
    assert not rig_monitor.is_alive() and rig_monitor.ticks >= 3
    assert "Rule-based parameter adjustment enabled (interval: 0.01s)" in caplog.text


def test_ai_start_line(fake_anthropic: FakeAnthropic, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "dmt.monitor")
    rig = Rig(fake_anthropic)
    rig.monitor.interval = 30
    rig.monitor.start()
    rig.monitor.stop()
    assert "AI-driven parameter adjustment enabled (interval: 30s)" in caplog.text


# the bands are disjoint: a controller aiming at the other interval's goal fails each one
@pytest.mark.parametrize(("interval", "low", "high"), [(2.0, 0.2, 0.6), (30.0, 0.7, 1.5)])
def test_chunks_are_sized_for_batches_an_interval_can_count(
    interval: float, low: float, high: float
) -> None:
    # an interval should see several commits per writer, so at a 2 s interval the rules aim at
    # 0.5 s batches rather than 1 s
    # a fast target: 1,000-row batches take 13 ms, far below either goal (and large batches
    # cost little per row, so no step toward the goal measures worse)
    model = dataclasses.replace(QUIET, base_rate=300_000, batch_overhead=0.01, big_batch=50e6)
    sim = SimPipeline(model, 1, 1_000)
    slot = UpdateSlot()
    monitor = build_monitor(
        sim.snapshot,
        slot,
        dataclasses.replace(migration(interval), write_ahead_writers=1, chunk_size=1_000),
        ai_config("http://127.0.0.1:9", provider="none"),
        clock=sim.clock,
        host=sim.host,
    )
    while sim.now < 60 * interval and monitor.controller.phase == "chunk":
        sim.advance(interval)
        monitor.tick()
        sim.apply(slot.take())
    monitor.stop()
    assert monitor.controller.phase != "chunk", sim.history
    seconds = sim.model.batch_seconds(sim.writers, sim.chunk_size)
    assert low <= seconds <= high, (sim.history, seconds)
