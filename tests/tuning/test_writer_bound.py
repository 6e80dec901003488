"""A target's declared ``max_writers`` bounds every writer count the controller and the AI see."""

from __future__ import annotations

import dataclasses

import pytest

from dmt.pipeline.updates import UpdateSlot
from dmt.settings import WRITERS
from dmt.tuning.controller import Controller, ControllerSettings
from dmt.tuning.decisions import Decision, DecisionRejected
from dmt.tuning.monitor import build_monitor
from dmt.tuning.prompt import tool
from tests.support.fake_anthropic import FakeAnthropic, context_of, tool_answer

from .sim import SimPipeline, ThroughputModel
from .test_claude import ai_config
from .test_controller import INTERVAL, MODEL, Loop
from .test_monitor import migration


def bounded_loop(sim: SimPipeline, max_writers: int) -> Loop:
    """The controller over ``sim``, on a target that declares ``max_writers``."""
    loop = Loop(sim)
    loop.ctl = Controller(ControllerSettings.for_interval(INTERVAL, 1024, "chunk", 2, max_writers))
    return loop


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("chunk", [1_000, 50_000, 500_000])
def test_a_controller_bounded_to_one_writer_never_proposes_more(seed: int, chunk: int) -> None:
    # writers scale well on this model: unbounded, the rules ramp them up
    model = dataclasses.replace(MODEL, sigma=0.02, kappa=0.0)
    loop = bounded_loop(SimPipeline(model, 1, chunk, seed=seed), 1)
    for _ in range(120):
        loop.step()
        assert all(c.writers == 1 for c in loop.ctl.candidates())
    assert loop.changes, "the chunk size is still tuned"
    assert all(d.writers == 1 for _, d in loop.changes)
    with pytest.raises(DecisionRejected, match="writers 2 outside 1–1"):
        loop.ctl.validate(Decision("scale_up", 2, loop.sim.chunk_size))


def test_the_ramp_stops_at_the_bound() -> None:
    model = dataclasses.replace(MODEL, sigma=0.02, kappa=0.0)
    loop = bounded_loop(SimPipeline(model, 1, 50_000), 3)
    loop.run(120)
    assert max(d.writers for _, d in loop.changes) <= 3
    assert loop.sim.writers == 3


def test_for_interval_narrows_the_writer_bound() -> None:
    assert ControllerSettings.for_interval(30, 64).writers_high == WRITERS.high
    one = ControllerSettings.for_interval(30, 64, "chunk", 4, max_writers=1)
    assert (one.writers_high, one.usual_writers) == (1, 1)


def test_the_ai_is_shown_the_bound(fake_anthropic: FakeAnthropic) -> None:
    assert tool()["input_schema"]["properties"]["adjustments"]["properties"]["writers"] == {
        "type": "integer", "minimum": WRITERS.low, "maximum": WRITERS.high,
    }  # fmt: skip
    fake_anthropic.default = tool_answer("continue", 1, 10_000)
    sim = SimPipeline(ThroughputModel(noise=0.01), 1, 10_000)
    slot = UpdateSlot()
    monitor = build_monitor(
        sim.snapshot, slot, migration(), ai_config(fake_anthropic.url, min_call_interval=0),
        clock=sim.clock, host=sim.host, max_writers=1,
    )  # fmt: skip
    for _ in range(6):
        sim.advance(30)
        monitor.tick()
        sim.apply(slot.take())
    monitor.stop()
    assert fake_anthropic.calls >= 1
    request = fake_anthropic.requests[0]
    schema = request.body["tools"][0]["input_schema"]["properties"]["adjustments"]
    assert schema["properties"]["writers"]["maximum"] == 1
    assert schema["required"] == ["writers", "chunk_size"]
    ctx = context_of(request)
    assert ctx["bounds"]["writers"] == [1, 1] and ctx["current"]["writers"] == 1
    assert all(c["writers"] == 1 for c in ctx["candidates"])
    assert all(r.writers_after == 1 for r in monitor.records)
