"""The decision value object; the bounds every decision must stay inside come from
:mod:`dmt.settings`."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from dmt.settings import CHUNK_SIZE, WRITERS

ACTIONS = ("continue", "scale_up", "scale_down", "reduce_chunk")
CONFIDENCES = ("high", "medium", "low")
WRITERS_MIN, WRITERS_MAX = WRITERS.low, WRITERS.high
CHUNK_MIN, CHUNK_MAX = CHUNK_SIZE.low, CHUNK_SIZE.high
Cfg = tuple[int, int]  # (writers, chunk_size)


@dataclass(frozen=True)
class Decision:
    """A proposed setting for both knobs. ``mandatory`` decisions (safety, rollback) are applied
    whatever the AI would say; ``kind`` tells the controller how to judge the change later."""

    action: str
    writers: int
    chunk_size: int
    confidence: str = "medium"
    reasoning: str = ""
    source: str = "fallback"  # ai | cache | fallback | rollback
    kind: str = "hold"  # hold | chunk | ramp | probe | safety | revert | confirm | ai
    mandatory: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class DecisionRejected(ValueError):
    """A decision broke a bound or contradicted itself; it must not be applied."""


def action_for(cur: Cfg, new: Cfg) -> str:
    """The action word that describes moving from ``cur`` to ``new`` ('' if none fits)."""
    (w0, c0), (w1, c1) = cur, new
    if new == cur:
        return "continue"
    if w1 >= w0 and c1 >= c0:
        return "scale_up"
    if w1 < w0 and c1 <= c0:
        return "scale_down"
    if c1 < c0 and w1 <= w0:
        return "reduce_chunk"
    return ""


def consistent(action: str, cur: Cfg, new: Cfg) -> bool:
    """Whether ``action`` names the move from ``cur`` to ``new``."""
    (w0, c0), (w1, c1) = cur, new
    if action == "continue":
        return new == cur
    if action == "scale_up":
        return w1 >= w0 and c1 >= c0 and new != cur
    if action == "scale_down":
        return w1 < w0 and c1 <= c0
    return c1 < c0 and w1 <= w0  # reduce_chunk


def on_grid(value: float, how: str = "round") -> int:
    """``value`` on the 1,000-row grid inside the bounds (``round``, ``ceil`` or ``floor``)."""
    x = value / 1000
    k = math.ceil(x) if how == "ceil" else math.floor(x) if how == "floor" else round(x)
    return int(min(CHUNK_MAX, max(CHUNK_MIN, k * 1000)))
