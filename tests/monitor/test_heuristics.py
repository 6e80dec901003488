from __future__ import annotations

import dataclasses
import itertools

import pytest

from dmt.monitor.heuristics import (
    Controller,
    ControllerSettings,
    Decision,
    DecisionRejected,
    action_for,
)
from dmt.monitor.metrics_collector import MetricsCollector
from dmt.pipeline.updates import ConfigUpdate

from .sim import MB, SimPipeline, ThroughputModel

INTERVAL = 30.0
MODEL = ThroughputModel()


class Loop:
    """The controller closed over a simulated pipeline, one interval per ``step``."""

    def __init__(self, sim: SimPipeline, max_memory_mb: float = 1024) -> None:
        self.sim = sim
        self.collector = MetricsCollector(sim.snapshot, clock=sim.clock, host=sim.host)
        self.ctl = Controller(ControllerSettings(max_memory_mb=max_memory_mb))
        self.changes: list[tuple[float, Decision]] = []
        self.tick = 0

    def step(self, override: Decision | None = None) -> Decision:
        self.sim.advance(INTERVAL)
        self.tick += 1
        d = self.ctl.decide(self.collector.collect())
        if override is not None and not d.mandatory:
            d = override
        if d.action != "continue":
            self.ctl.validate(d)
            self.ctl.commit(d, self.tick)
            self.sim.apply(ConfigUpdate(writers=d.writers, chunk_size=d.chunk_size))
            self.changes.append((self.sim.now, d))
        return d

    def run(self, n: int) -> None:
        for _ in range(n):
            self.step()

    def throughput(self) -> float:
        return MODEL.throughput(self.sim.writers, self.sim.chunk_size)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("writers", "chunk"), [(1, 1_000), (16, 500_000)], ids=["low", "high"])
def test_converges_near_the_optimum_from_bad_starts_and_then_holds(
    writers: int, chunk: int, seed: int
) -> None:
    loop = Loop(SimPipeline(MODEL, writers, chunk, seed=seed))
    loop.run(40)  # 20 minutes at 30 s
    assert loop.ctl.phase == "hold"
    assert loop.throughput() >= 0.9 * MODEL.optimum()

    settled = len(loop.changes)
    loop.run(80)  # 40 more minutes of steady state
    steady = [t for t, d in loop.changes[settled:] if d.kind != "safety"]
    assert len(steady) <= 8  # probes and their reverts only: no flapping
    assert all(b - a >= 120 for a, b in itertools.pairwise(steady))
    assert loop.throughput() >= 0.9 * MODEL.optimum()


def test_reverts_a_change_that_hurt_and_records_it() -> None:
    quiet = dataclasses.replace(MODEL, noise=0.01)
    loop = Loop(SimPipeline(quiet, 6, 10_000))
    loop.step()  # a baseline interval
    bad = Decision("scale_down", 2, 10_000, "high", "fewer writers", source="ai", kind="ai")
    loop.step(override=bad)
    assert loop.sim.writers == 2
    reverts = []
    for _ in range(4):
        d = loop.step()
        if d.kind == "revert":
            reverts.append(d)
    assert [(d.source, d.action, d.writers) for d in reverts] == [("rollback", "scale_up", 6)]
    effects = {e.decision_id: e for e in loop.ctl.pop_effects()}
    hurt = effects[2]
    assert hurt.reverted and hurt.effect_percent is not None and hurt.effect_percent < -20


def test_memory_budget_is_respected_under_wide_rows() -> None:
    budget_mb = 64.0
    sim = SimPipeline(MODEL, 16, 500_000, avg_row_bytes=1_000)
    loop = Loop(sim, max_memory_mb=budget_mb)

    def usage(w: int, c: int) -> float:
        return c * sim.avg_row_bytes * (sim.queue_capacity + w) / MB

    loop.run(60)
    for _, d in loop.changes:
        grows = d.action == "scale_up"
        assert not grows or usage(d.writers, d.chunk_size) <= budget_mb
    assert usage(sim.writers, sim.chunk_size) <= budget_mb
    best = MODEL.optimum(lambda w, c: usage(w, c) <= budget_mb)
    assert loop.throughput() >= 0.9 * best


def test_memory_pressure_reduces_chunks_and_keeps_them_down() -> None:
    def memory(sim: SimPipeline) -> float:
        return 90.0 if sim.chunk_size > 8_000 else 60.0

    loop = Loop(SimPipeline(MODEL, 4, 50_000, memory_percent=memory))
    first = loop.step()
    assert (first.action, first.chunk_size, first.mandatory) == ("reduce_chunk", 25_000, True)
    loop.run(12)
    assert loop.sim.chunk_size <= 8_000
    pressured = 0
    for _ in range(60):
        loop.step()
        pressured += loop.sim.chunk_size > 8_000
    assert pressured <= 6  # may test the limit again after the cap expires, never lingers


def test_saturated_cpu_alone_is_no_reason_to_back_off() -> None:
    sim = SimPipeline(MODEL, 8, 10_000, cpu_percent=lambda s: 99.0)
    loop = Loop(sim)
    for _ in range(2):  # steady settings, steady latency: no back-off
        d = loop.step()
        assert d.kind != "safety", d.reasoning


def test_backs_off_when_saturated_cpu_hurts() -> None:
    saturated = {"on": False}
    sim = SimPipeline(MODEL, 8, 10_000, cpu_percent=lambda s: 97.0 if saturated["on"] else 60.0)
    loop = Loop(sim)
    loop.run(40)
    assert loop.ctl.phase == "hold"
    # the database starts to struggle: batches take twice as long at the same settings
    saturated["on"] = True
    sim.model = dataclasses.replace(MODEL, base_rate=MODEL.base_rate / 2)
    before = sim.writers
    d = loop.step()
    expected = before - max(1, before // 4)
    assert (d.action, d.writers, d.kind, d.mandatory) == ("scale_down", expected, "safety", True)
    assert "CPU saturated" in d.reasoning
    # one step back, then it measures before it would step again: no chain of back-offs
    d2 = loop.step()
    assert d2.action != "scale_down"


def test_backs_off_on_errors_and_does_not_ramp_straight_back() -> None:
    sim = SimPipeline(MODEL, 8, 10_000)
    loop = Loop(sim)
    loop.run(2)
    sim.errors += 3
    before = sim.writers
    d = loop.step()
    assert (d.action, d.writers, d.kind) == ("scale_down", before - before // 4, "safety")
    loop.run(10)  # five minutes: the back-off caps writers for ceiling_seconds
    assert sim.writers <= d.writers


def primed(writers: int = 4, chunk: int = 50_000, **kw: float) -> Controller:
    loop = Loop(SimPipeline(MODEL, writers, chunk, **kw))  # type: ignore[arg-type]
    loop.ctl.decide(loop.collector.collect())
    return loop.ctl


@pytest.mark.parametrize(
    "decision",
    [
        Decision("scale_up", 17, 50_000),
        Decision("scale_down", 0, 50_000),
        Decision("reduce_chunk", 4, 999),
        Decision("scale_up", 4, 500_001),
        Decision("scale_up", 9, 50_000),  # more than +4 writers
        Decision("scale_up", 4, 150_000),  # more than doubling
        Decision("reduce_chunk", 4, 20_000),  # more than halving
        Decision("scale_up", 2, 50_000),  # contradicts: fewer writers
        Decision("continue", 5, 50_000),  # contradicts: a change
        Decision("reduce_chunk", 4, 60_000),
        Decision("scale_down", 4, 50_000),
        Decision("scale_up", 5, 40_000),  # mixed directions
        Decision("grow", 5, 50_000),
        Decision("scale_up", 5, 50_000, confidence="certain"),
    ],
    ids=lambda d: f"{d.action}-{d.writers}-{d.chunk_size}-{d.confidence}",
)
def test_validate_rejects(decision: Decision) -> None:
    with pytest.raises(DecisionRejected):
        primed().validate(decision)


@pytest.mark.parametrize(
    "decision",
    [
        Decision("continue", 4, 50_000),
        Decision("scale_up", 8, 50_000),
        Decision("scale_up", 4, 100_000),
        Decision("scale_down", 1, 50_000),
        Decision("reduce_chunk", 4, 25_000),
        Decision("reduce_chunk", 3, 25_000),
    ],
)
def test_validate_accepts(decision: Decision) -> None:
    assert primed().validate(decision) is decision


def test_validate_enforces_the_memory_budget() -> None:
    ctl = primed(4, 50_000, avg_row_bytes=1_000)  # budget 1024 MB: max chunk at 8 writers ~67K
    assert ctl.max_chunk(8) == 1024 * MB // (1_000 * 16)
    with pytest.raises(DecisionRejected, match="memory budget"):
        ctl.validate(Decision("scale_up", 4, 100_000))
    ctl.validate(Decision("scale_up", 4, 60_000))


def test_candidates_are_valid_and_include_continue() -> None:
    ctl = primed()
    cands = ctl.candidates()
    assert cands[0].action == "continue"
    assert {d.action for d in cands} == {"continue", "scale_up", "scale_down", "reduce_chunk"}
    for d in cands:
        ctl.validate(d)


def test_action_for() -> None:
    assert action_for((4, 10), (4, 10)) == "continue"
    assert action_for((4, 10), (5, 10)) == "scale_up"
    assert action_for((4, 10), (3, 10)) == "scale_down"
    assert action_for((4, 10), (4, 5)) == "reduce_chunk"
    assert action_for((4, 10), (5, 5)) == ""
