"""Ask Claude to choose the next setting, through the anthropic SDK (imported only here).

The model answers through a forced tool call whose input schema is the decision
(:mod:`dmt.tuning.prompt`). Decisions are validated by the controller, reused for
``cache_ttl``, and calls are spaced by ``min_call_interval``. A circuit breaker stops calling
after ``breaker_failures`` consecutive failures and tries once more after ``breaker_reset``. A
configuration problem (no key, 401, 403, 404, unknown model) disables the AI for the whole run.
The key never appears in a message.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from dmt.config import AIConfig
from dmt.settings import WRITERS
from dmt.tuning.decisions import Decision, DecisionRejected
from dmt.tuning.prompt import SYSTEM_PROMPT, TOOL_NAME, tool

log = logging.getLogger("dmt.monitor")

# USD per million (input, output) tokens; first matching fragment wins
PRICES: tuple[tuple[str, float, float], ...] = (
    ("claude-3-haiku", 0.25, 1.25),
    ("claude-3-5-haiku", 0.80, 4.0),
    ("haiku", 1.0, 5.0),
    ("sonnet", 3.0, 15.0),
    ("claude-3-opus", 15.0, 75.0),
    ("opus-4-0", 15.0, 75.0),
    ("opus-4-1", 15.0, 75.0),
    ("claude-opus-4-2025", 15.0, 75.0),
    ("opus", 5.0, 25.0),
)


class AIAdjustmentError(Exception):
    """One AI decision could not be obtained or was unusable; counts toward the breaker."""


class AIDisabled(AIAdjustmentError):
    """The AI is unusable for this run (no key, rejected key, unknown model)."""


def price_for(model: str) -> tuple[float, float] | None:
    """(input, output) USD per million tokens for ``model``, or None when unknown."""
    name = model.lower()
    for fragment, inp, out in PRICES:
        if fragment in name:
            return inp, out
    return None


def preload_sdk() -> ImportError | None:
    """Import the anthropic SDK if it can be; the ImportError when it cannot. The import costs
    one to a few seconds of CPU under the GIL: in the middle of a copy it would stall every
    pipeline thread, so a run makes it before the copy starts."""
    try:
        import anthropic  # noqa: F401
    except ImportError as exc:
        return exc
    return None


class AIAdjuster:
    """One Claude decision per call, with cache, throttle, circuit breaker and cost totals."""

    def __init__(
        self,
        config: AIConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_tokens: int = 600,
        writers_high: int = WRITERS.high,
    ) -> None:
        self.config = config
        self._tool = tool(writers_high)
        self._clock = clock
        self._max_tokens = max_tokens
        self._client: Any = None
        self.disabled_reason: str | None = None
        if config.provider != "claude":
            self.disabled_reason = "ai.provider is `none`"
        elif not config.api_key:
            self.disabled_reason = "no API key (set `ai.api_key`, e.g. ${env:DMT_AI_API_KEY})"
        self.calls = self.failures = self.consecutive_failures = 0
        self.input_tokens = self.output_tokens = 0
        self.cost_usd = 0.0
        prices = price_for(config.model)
        self._prices = prices or (0.0, 0.0)
        self.cost_note = None if prices else f"no price known for model `{config.model}`: $0"
        self._opened_at: float | None = None
        self._last_call_at: float | None = None
        self._cached: tuple[Decision, float] | None = None

    # ------------------------------------------------------------------ state
    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None

    @property
    def breaker(self) -> str:
        """``closed``, ``open`` or ``half_open`` (open, but the reset time has passed)."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.config.breaker_reset:
            return "half_open"
        return "open"

    def invalidate_cache(self) -> None:
        self._cached = None

    def status(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "model": self.config.model,
            "breaker": self.breaker,
            "calls": self.calls,
            "failures": self.failures,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "cost_note": self.cost_note,
        }

    def warm_up(self) -> None:
        """Import the SDK now (see :func:`preload_sdk`): a run calls it before the pipeline
        starts; it disables the AI when the SDK cannot be imported."""
        if not self.enabled:
            return
        failed = preload_sdk()
        if failed is not None:
            raise self._disable(f"the anthropic SDK cannot be imported ({failed})") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ------------------------------------------------------------------ deciding
    def decide(
        self, context: dict[str, object], validate: Callable[[Decision], Decision]
    ) -> Decision | None:
        """A validated decision (source ``ai`` or ``cache``), or None when no call may be made
        now (disabled, breaker open, throttled). Raises :class:`AIAdjustmentError`."""
        if not self.enabled or self.breaker == "open":
            return None
        now = self._clock()
        if self._cached is not None:
            decision, at = self._cached
            if now - at < self.config.cache_ttl:
                try:
                    validate(decision)
                except DecisionRejected:
                    self._cached = None
                else:
                    log.info("Using cached AI decision (age %.1fs)", now - at)
                    return dataclasses.replace(decision, source="cache")
        last = self._last_call_at
        if last is not None and now - last < self.config.min_call_interval:
            return None
        self._last_call_at = now
        self.calls += 1
        try:
            decision = validate(self._parse(self._call(context)))
        except DecisionRejected as exc:
            self._failed()
            raise AIAdjustmentError(f"AI decision rejected: {exc}") from None
        except AIDisabled:
            raise
        except AIAdjustmentError:
            self._failed()
            raise
        self.consecutive_failures, self._opened_at = 0, None
        self._cached = (decision, now)
        return decision

    def _failed(self) -> None:
        self.failures += 1
        self.consecutive_failures += 1
        if self.breaker == "half_open" or self.consecutive_failures >= self.config.breaker_failures:
            if self.breaker != "open":
                log.warning(
                    "AI circuit breaker open after %d consecutive failures; retrying in %gs",
                    self.consecutive_failures,
                    self.config.breaker_reset,
                )
            self._opened_at = self._clock()

    def _redact(self, text: str) -> str:
        key = self.config.api_key
        return text.replace(key, "***") if key else text

    def _disable(self, reason: str) -> AIDisabled:
        self.disabled_reason = self._redact(reason)
        self.close()
        return AIDisabled(self.disabled_reason)

    def _call(self, context: dict[str, object]) -> Any:
        import anthropic

        if self._client is None:
            self._client = anthropic.Anthropic(
                api_key=self.config.api_key,
                base_url=self.config.base_url,
                timeout=self.config.timeout,
                max_retries=0,
            )
        try:
            response = self._client.messages.create(
                model=self.config.model,
                max_tokens=self._max_tokens,
                system=SYSTEM_PROMPT,
                tools=[self._tool],
                tool_choice={"type": "tool", "name": TOOL_NAME},
                messages=[{"role": "user", "content": json.dumps(context, default=str)}],
            )
        except (anthropic.AuthenticationError, anthropic.PermissionDeniedError) as exc:
            raise self._disable(f"the API key was rejected (HTTP {exc.status_code})") from None
        except anthropic.NotFoundError as exc:
            raise self._disable(
                f"model `{self.config.model}` or endpoint not found (HTTP {exc.status_code})"
            ) from None
        except anthropic.BadRequestError as exc:
            if "model" in str(exc).lower():
                raise self._disable(f"model `{self.config.model}` is not usable") from None
            raise AIAdjustmentError(self._redact(f"bad request: {exc}")) from None
        except anthropic.APITimeoutError:
            raise AIAdjustmentError(f"timed out after {self.config.timeout:g}s") from None
        except anthropic.APIStatusError as exc:
            raise AIAdjustmentError(f"HTTP {exc.status_code} from the API") from None
        except anthropic.APIError as exc:
            raise AIAdjustmentError(self._redact(f"{type(exc).__name__}: {exc}")) from None
        except ValueError as exc:  # a 200 whose body is not JSON
            raise AIAdjustmentError(f"unreadable response ({type(exc).__name__})") from None
        self._count(response)
        return response

    def _count(self, response: Any) -> None:
        usage = getattr(response, "usage", None)
        inp = int(getattr(usage, "input_tokens", 0) or 0)
        out = int(getattr(usage, "output_tokens", 0) or 0)
        self.input_tokens += inp
        self.output_tokens += out
        self.cost_usd += (inp * self._prices[0] + out * self._prices[1]) / 1_000_000

    def _parse(self, response: Any) -> Decision:
        data = next(
            (b.input for b in response.content if b.type == "tool_use" and b.name == TOOL_NAME),
            None,
        )
        if data is None:
            raise AIAdjustmentError(
                f"no `{TOOL_NAME}` tool call in the answer (stop_reason `{response.stop_reason}`)"
            )
        if not isinstance(data, dict):
            raise AIAdjustmentError("tool input is not an object")
        adj = data.get("adjustments")
        if not isinstance(adj, dict):
            raise AIAdjustmentError("answer has no `adjustments` object")
        fields = {
            "action": data.get("action"),
            "adjustments.writers": adj.get("writers"),
            "adjustments.chunk_size": adj.get("chunk_size"),
            "confidence": data.get("confidence"),
        }
        missing = [k for k, v in fields.items() if v is None]
        if missing:
            raise AIAdjustmentError("answer is missing " + ", ".join(f"`{k}`" for k in missing))
        writers, chunk = fields["adjustments.writers"], fields["adjustments.chunk_size"]
        if not isinstance(writers, int) or not isinstance(chunk, int) or isinstance(writers, bool):
            raise AIAdjustmentError("`adjustments` values are not integers")
        return Decision(
            action=str(data["action"]),
            writers=writers,
            chunk_size=chunk,
            confidence=str(data["confidence"]),
            reasoning=str(data.get("reasoning", ""))[:500],
            source="ai",
            kind="ai",
        )
