"""What the controller proposes and the monitor applies: a :class:`Decision` over the two tuned
knobs, checked against the bounds of :mod:`dmt.settings` before it may reach the update slot,
and the :class:`DecisionRecord` kept of one that was applied."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import NamedTuple

from dmt.settings import CHUNK_GRID, CHUNK_SIZE, MAX_CHUNK_GROWTH, MAX_WRITER_STEP, WRITERS

ACTIONS = ("continue", "scale_up", "scale_down", "reduce_chunk")
CONFIDENCES = ("high", "medium", "low")


class Point(NamedTuple):
    """One setting of the two tuned knobs, a point of the controller's search. Equal to the
    ``(writers, chunk_size)`` tuple, and written like one in reasons."""

    writers: int
    chunk_size: int

    def __str__(self) -> str:
        return f"({self.writers}, {self.chunk_size})"


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

    @property
    def point(self) -> Point:
        return Point(self.writers, self.chunk_size)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class DecisionRejected(ValueError):
    """A decision broke a bound or contradicted itself; it must not be applied."""


@dataclass
class DecisionRecord:
    """One applied change: where it came from, what it changed, what it was based on, and its
    measured effect once known."""

    id: int
    at: float
    source: str  # ai | cache | fallback | rollback
    action: str
    confidence: str
    reasoning: str
    writers_before: int
    chunk_size_before: int
    writers_after: int
    chunk_size_after: int
    metrics: dict[str, object] = field(default_factory=dict)
    t: float | None = None  # on the run's timeline, as the monitor's samples
    effect_percent: float | None = None
    reverted: bool = False

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def action_for(cur: Point, new: Point) -> str:
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


def consistent(action: str, cur: Point, new: Point) -> bool:
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
    """``value`` on the chunk-size grid inside the bounds (``round``, ``ceil`` or ``floor``)."""
    x = value / CHUNK_GRID
    k = math.ceil(x) if how == "ceil" else math.floor(x) if how == "floor" else round(x)
    return int(CHUNK_SIZE.clamp(k * CHUNK_GRID))


def hold(at: Point, reason: str, confidence: str = "medium") -> Decision:
    """Keep the settings ``at``."""
    return Decision("continue", at.writers, at.chunk_size, confidence, reason)


def change(
    cur: Point,
    new: Point,
    kind: str,
    reason: str,
    *,
    source: str = "fallback",
    confidence: str = "medium",
    mandatory: bool = False,
) -> Decision:
    """Move from ``cur`` to ``new``, named by the action that describes the move."""
    action = action_for(cur, new)
    return Decision(action, new[0], new[1], confidence, reason, source, kind, mandatory)


def check(d: Decision, current: Point | None, writers_high: int) -> None:
    """Raise :class:`DecisionRejected` when ``d`` leaves the knobs' bounds (writers up to
    ``writers_high``, this run's bound), or, from the ``current`` settings, moves a knob further
    than one decision may or names its move with the wrong action."""
    if d.action not in ACTIONS:
        raise DecisionRejected(f"unknown action `{d.action}`")
    if d.confidence not in CONFIDENCES:
        raise DecisionRejected(f"unknown confidence `{d.confidence}`")
    if not WRITERS.low <= d.writers <= writers_high:
        raise DecisionRejected(f"writers {d.writers} outside {WRITERS.low}–{writers_high}")
    if not CHUNK_SIZE.contains(d.chunk_size):
        raise DecisionRejected(
            f"chunk_size {d.chunk_size} outside {CHUNK_SIZE.low}–{CHUNK_SIZE.high}"
        )
    if current is None:
        return
    (w0, c0), new = current, d.point
    if abs(d.writers - w0) > MAX_WRITER_STEP:
        raise DecisionRejected(f"writers {w0} → {d.writers} moves more than ±{MAX_WRITER_STEP}")
    if c0 > 0 and not c0 / MAX_CHUNK_GROWTH <= d.chunk_size <= c0 * MAX_CHUNK_GROWTH:
        raise DecisionRejected(
            f"chunk_size {c0} → {d.chunk_size} changes more than ×{MAX_CHUNK_GROWTH} or "
            f"÷{MAX_CHUNK_GROWTH}"
        )
    if not consistent(d.action, current, new):
        raise DecisionRejected(
            f"action `{d.action}` contradicts writers {w0} → {d.writers}, "
            f"chunk_size {c0} → {d.chunk_size}"
        )
