from __future__ import annotations

import json
import logging

import pytest

from dmt.config import AIConfig
from dmt.tuning.claude import AIAdjuster, AIAdjustmentError, AIDisabled, price_for
from dmt.tuning.controller import Controller
from tests.support.fake_anthropic import (
    FakeAnthropic,
    Reply,
    error,
    refusal,
    slow,
    text_answer,
    tool_answer,
)

from .sim import FakeClock
from .test_controller import primed

KEY = "sk-ant-test-SECRET-0123456789"


def ai_config(url: str, **kw: object) -> AIConfig:
    values: dict[str, object] = {
        "provider": "claude", "api_key": KEY, "model": "claude-haiku-4-5", "base_url": url,
        "timeout": 2.0, "cache_ttl": 60.0, "min_call_interval": 30.0, "breaker_failures": 3,
        "breaker_reset": 300.0,
    }  # fmt: skip
    values.update(kw)
    return AIConfig(**values)  # type: ignore[arg-type]


@pytest.fixture
def ctl() -> Controller:
    return primed(4, 50_000)  # current settings: 4 writers, 50,000 rows


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(fake: FakeAnthropic, clock: FakeClock, **kw: object) -> AIAdjuster:
    return AIAdjuster(ai_config(fake.url, **kw), clock=clock)


def test_good_answer_is_parsed_validated_and_costed(
    fake_anthropic: FakeAnthropic, clock: FakeClock, ctl: Controller
) -> None:
    fake_anthropic.script(tool_answer("scale_up", 8, 50_000, "high", "writers are busy"))
    ai = make(fake_anthropic, clock)
    try:
        d = ai.decide({"metrics": {"rows_per_sec": 1000}}, ctl.validate)
    finally:
        ai.close()
    assert d is not None
    assert (d.action, d.writers, d.chunk_size, d.source) == ("scale_up", 8, 50_000, "ai")
    assert (ai.input_tokens, ai.output_tokens) == (1200, 80)
    assert ai.cost_usd == pytest.approx((1200 * 1.0 + 80 * 5.0) / 1e6)
    req = fake_anthropic.requests[0]
    assert req.path == "/v1/messages"
    sent = {req.headers.get("x-api-key"), req.headers.get("authorization")}
    assert sent & {KEY, f"Bearer {KEY}"}  # this SDK version sends a bearer header
    assert KEY not in req.raw  # the key travels in the header only
    assert req.body["tool_choice"] == {"type": "tool", "name": "submit_adjustment"}
    assert req.body["tools"][0]["input_schema"]["required"] == [
        "action", "adjustments", "confidence", "reasoning"
    ]  # fmt: skip
    assert json.loads(req.body["messages"][0]["content"]) == {"metrics": {"rows_per_sec": 1000}}


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        (text_answer('{"action": "scale_up", "adjustments": {'), "no `submit_adjustment`"),
        (refusal(), "stop_reason `refusal`"),
        (tool_answer("scale_up", 8, None), "missing `adjustments.chunk_size`"),
        (tool_answer("scale_up", 8, 50_000, confidence=None), "missing `confidence`"),
        (tool_answer("scale_up", 64, 50_000), "writers 64 outside"),
        (tool_answer("reduce_chunk", 4, 2_000_000), "chunk_size 2000000 outside"),
        (tool_answer("scale_up", 2, 50_000), "contradicts"),
        (tool_answer("continue", 6, 50_000), "contradicts"),
        (tool_answer(name="something_else"), "no `submit_adjustment`"),
        (Reply(200, "{not json"), r"^unreadable response \(JSONDecodeError\)$"),
    ],
    ids=[
        "malformed", "refusal", "partial", "no-confidence", "writers-out-of-bounds",
        "chunk-out-of-bounds", "contradiction", "continue-with-change", "wrong-tool", "bad-body",
    ],
)  # fmt: skip
def test_unusable_answers_are_failures(
    fake_anthropic: FakeAnthropic, clock: FakeClock, ctl: Controller, reply: Reply, message: str
) -> None:
    fake_anthropic.script(reply)
    ai = make(fake_anthropic, clock)
    with pytest.raises(AIAdjustmentError, match=message):
        ai.decide({}, ctl.validate)
    ai.close()
    assert (ai.failures, ai.consecutive_failures, ai.breaker) == (1, 1, "closed")


@pytest.mark.parametrize(
    "reply",
    [error(429), error(500), error(529), slow(tool_answer(), 1.0)],
    ids=["429", "500", "529", "timeout"],
)
def test_transient_failures_open_the_breaker_and_it_recovers(
    fake_anthropic: FakeAnthropic, clock: FakeClock, ctl: Controller, reply: Reply
) -> None:
    fake_anthropic.script(reply, reply, reply, reply)
    ai = make(fake_anthropic, clock, timeout=0.2)
    for _ in range(3):
        with pytest.raises(AIAdjustmentError):
            ai.decide({}, ctl.validate)
        clock.advance(30)
    assert ai.breaker == "open" and fake_anthropic.calls == 3
    clock.advance(200)
    assert ai.decide({}, ctl.validate) is None and fake_anthropic.calls == 3
    clock.advance(100)  # breaker_reset has passed: one trial call, which fails
    assert ai.breaker == "half_open"
    with pytest.raises(AIAdjustmentError):
        ai.decide({}, ctl.validate)
    assert ai.breaker == "open" and fake_anthropic.calls == 4
    clock.advance(300)  # the next trial succeeds and closes the breaker
    assert ai.decide({}, ctl.validate) is not None
    assert ai.breaker == "closed" and ai.consecutive_failures == 0 and fake_anthropic.calls == 5
    ai.close()


def test_cache_and_throttle_are_counted_by_the_server(
    fake_anthropic: FakeAnthropic,
    clock: FakeClock,
    ctl: Controller,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_anthropic.default = tool_answer("continue", 4, 50_000)
    ai = make(fake_anthropic, clock, cache_ttl=60.0, min_call_interval=30.0)
    caplog.set_level(logging.INFO, "dmt.monitor")
    assert ai.decide({}, ctl.validate) is not None
    clock.advance(45.2)
    cached = ai.decide({}, ctl.validate)
    assert cached is not None and cached.source == "cache"
    assert "Using cached AI decision (age 45.2s)" in caplog.text
    assert fake_anthropic.calls == 1
    clock.advance(15)  # cache expired, 60.2 s since the call: a new call
    assert ai.decide({}, ctl.validate) is not None and fake_anthropic.calls == 2

    ai.invalidate_cache()
    clock.advance(10)  # no cache, only 10 s since the last call: throttled
    assert ai.decide({}, ctl.validate) is None and fake_anthropic.calls == 2
    clock.advance(20)
    assert ai.decide({}, ctl.validate) is not None and fake_anthropic.calls == 3
    ai.close()


@pytest.mark.parametrize("status", [401, 403, 404])
def test_configuration_errors_disable_the_ai_for_the_run(
    fake_anthropic: FakeAnthropic, clock: FakeClock, ctl: Controller, status: int
) -> None:
    fake_anthropic.script(error(status, f"bad key {KEY}"))
    ai = make(fake_anthropic, clock)
    with pytest.raises(AIDisabled) as info:
        ai.decide({}, ctl.validate)
    assert KEY not in str(info.value) and str(status) in str(info.value)
    assert not ai.enabled and ai.disabled_reason
    clock.advance(10_000)
    assert ai.decide({}, ctl.validate) is None and fake_anthropic.calls == 1


def test_unknown_model_disables_and_prices_as_zero(
    fake_anthropic: FakeAnthropic, clock: FakeClock, ctl: Controller
) -> None:
    fake_anthropic.script(error(400, "model: claude-nonesuch"))
    ai = make(fake_anthropic, clock, model="claude-nonesuch")
    assert ai.cost_note and "claude-nonesuch" in ai.cost_note
    with pytest.raises(AIDisabled, match="claude-nonesuch"):
        ai.decide({}, ctl.validate)


def test_other_bad_requests_are_redacted_failures(
    fake_anthropic: FakeAnthropic, clock: FakeClock, ctl: Controller
) -> None:
    fake_anthropic.script(error(400, f"echo {KEY}"))
    ai = make(fake_anthropic, clock)
    with pytest.raises(AIAdjustmentError) as info:
        ai.decide({}, ctl.validate)
    ai.close()
    assert KEY not in str(info.value) and ai.enabled


def test_no_key_means_no_calls(
    fake_anthropic: FakeAnthropic, clock: FakeClock, ctl: Controller
) -> None:
    ai = make(fake_anthropic, clock, api_key=None)
    assert not ai.enabled and "no API key" in (ai.disabled_reason or "")
    assert ai.decide({}, ctl.validate) is None and fake_anthropic.calls == 0


def test_key_never_reaches_any_log_line(
    fake_anthropic: FakeAnthropic,
    clock: FakeClock,
    ctl: Controller,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, the SDK's included
    fake_anthropic.script(tool_answer("scale_up", 6, 50_000), error(500, KEY), error(429, KEY))
    fake_anthropic.default = error(401, KEY)
    ai = make(fake_anthropic, clock, min_call_interval=0, cache_ttl=0)
    for _ in range(4):
        try:
            ai.decide({}, ctl.validate)
        except AIAdjustmentError as exc:
            logging.getLogger("dmt.monitor").warning("AI adjustment failed: %s", exc)
    assert fake_anthropic.calls == 4 and caplog.records
    assert KEY not in caplog.text


def test_price_table() -> None:
    assert price_for("claude-haiku-4-5") == (1.0, 5.0)
    assert price_for("claude-sonnet-4-5-20250929") == (3.0, 15.0)
    assert price_for("claude-opus-4-1") == (15.0, 75.0)
    assert price_for("claude-opus-4-5") == (5.0, 25.0)
    assert price_for("gpt-5") is None
