"""Trials and their judgement.

Every applied change is a :class:`Trial`: measured from the next clean intervals against a
baseline of the settings before it, then kept or undone. The search says what a verdict means
for each kind of step (:meth:`~dmt.tuning.search.Search.judge`); by default a change worse
beyond the noise is undone. A trial undone is judged again against the settings on both sides
of it (A-B-A) and made again (``confirm``) when it beat their mean: on a load that slows as it
goes, every trial reads worse than it is against the samples from before it.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from dmt.tuning.decisions import Decision, Point, change
from dmt.tuning.measure import Measurements, agreeing, relative
from dmt.tuning.metrics import MetricsSnapshot
from dmt.tuning.phases import SearchState

# a trial undone is judged again against both sides of it (Trials._aba) only when they are
# within this factor of each other: a drift, not a change of conditions
DRIFT = 1.25
# changes measured but never undone by a verdict
UNJUDGED = ("revert", "safety", "confirm")


@dataclass(frozen=True)
class Effect:
    """The measured outcome of an applied decision (relative throughput change, percent)."""

    decision_id: int | None
    effect_percent: float | None
    reverted: bool


@dataclass
class Trial:
    """A change being measured: its settings before and after, the baseline from before it and
    the samples after it."""

    before: Point
    after: Point
    kind: str  # a Decision kind, or "external" for a change someone else made
    baseline: list[float]
    at: float
    decision_id: int | None
    samples: list[float] = field(default_factory=list)
    batch_rows: float = 0.0  # rows per written batch before the change
    batch_seconds: float = 0.0  # their write latency (p50)
    state: SearchState | None = None  # the search's state when the verdict was made
    undid: Trial | None = None  # of a revert: the trial it undid (see Trials._aba)

    def effect(self) -> float | None:
        """The relative effect so far, when there are samples on both sides."""
        return relative(self.samples, self.baseline) if self.samples and self.baseline else None


@dataclass(frozen=True)
class Judgement:
    """A trial's measured effect and the noise threshold it is judged by."""

    effect: float
    threshold: float

    @property
    def worse(self) -> bool:
        return self.effect < -self.threshold

    @property
    def gained(self) -> bool:
        return self.effect > self.threshold

    def __str__(self) -> str:
        return f"{self.effect * 100:+.1f}% (noise threshold {self.threshold * 100:.1f}%)"


@dataclass(frozen=True)
class Verdict:
    """Keep a trial, or undo it; ``worse`` undoes it as a rollback (worse beyond the noise)."""

    undo: bool
    worse: bool = False
    why: str = ""


KEEP = Verdict(False)


def undo(worse: bool, why: str) -> Verdict:
    return Verdict(True, worse, why)


#: what a trial's judgement means for the search (None: the default, undo when worse)
Judge = Callable[[Trial, Judgement], Verdict | None]


class Trials:
    """The trial being measured, the last change's time, and the effects of finished ones."""

    def __init__(self, measure: Measurements) -> None:
        self.measure = measure
        self.pending: Trial | None = None
        self.last_change_at = -math.inf
        self.undone: Trial | None = None  # the trial the last revert undid
        # a trial found to have paid after all (_aba): its settings, and the search's state
        # to restore when they are applied again
        self.confirm: tuple[Point, SearchState] | None = None
        self._effects: list[Effect] = []

    def pop_effects(self) -> list[Effect]:
        effects, self._effects = self._effects, []
        return effects

    def finish(self, p: Trial, effect: float | None, reverted: bool) -> None:
        pct = None if effect is None else round(effect * 100, 2)
        self._effects.append(Effect(p.decision_id, pct, reverted))
        self.pending = None

    def external(self, before: Point, after: Point, at: float) -> None:
        """The settings were changed by someone else during the interval ending now: measure
        the change like our own."""
        self.pending = Trial(before, after, "external", self.measure.baseline(before), at, None)
        self.last_change_at = at

    def start(
        self, before: Point, after: Point, kind: str, m: MetricsSnapshot, decision_id: int | None
    ) -> SearchState | None:
        """A change was applied after interval ``m``: the trial measured from now on. Returns
        the search state to restore when the change confirms a trial undone earlier."""
        if self.pending is not None:
            self.finish(self.pending, self.pending.effect(), False)
        self.pending = Trial(
            before, after, kind, self.measure.baseline(before), m.taken_at, decision_id,
            batch_rows=m.rows_per_batch, batch_seconds=m.write_latency_p50,
        )  # fmt: skip
        if kind == "revert":
            self.pending.undid = self.undone
        self.undone = None
        restore = None
        if self.confirm is not None and self.confirm[0] == after:
            restore = self.confirm[1].copy()
        self.confirm = None
        self.last_change_at = m.taken_at
        return restore

    def clearly_worse(self, p: Trial) -> bool:
        """A writer trial whose first clean interval is already worse by twice the noise
        threshold is judged at once: every further interval of a bad setting is throughput
        lost."""
        if not p.samples or not p.baseline or p.kind in (*UNJUDGED, "external"):
            return False
        if p.after.writers == p.before.writers:
            return False  # a chunk change reaches the batches over several intervals
        effect = relative(p.samples, p.baseline)
        return effect < -2 * self.measure.threshold(len(p.samples), len(p.baseline))

    def evaluate(self, p: Trial, state: SearchState, judge: Judge) -> Decision | None:
        """Judge the measured trial ``p``: a revert when it is undone (or when a revert finds
        the trial it undid paid after all, a confirm), else None. ``state`` is the search's
        state before the verdict, kept with the trial for a later confirm."""
        if not p.baseline or p.kind in UNJUDGED:  # an external change is judged like a trial
            self.finish(p, p.effect(), False)
            return self._aba(p) if p.kind == "revert" else None
        p.state = state
        samples = agreeing(p.samples) or p.samples  # clearly worse: judged on one sample
        j = Judgement(
            relative(samples, p.baseline), self.measure.threshold(len(samples), len(p.baseline))
        )
        verdict = judge(p, j)
        if verdict is None:
            verdict = undo(True, f"{p.kind} change {p.after} hurt: {j}") if j.worse else KEEP
        if verdict.undo:
            return self._revert(p, j.effect, verdict.worse, verdict.why)
        self.finish(p, j.effect, False)
        return None

    def _revert(self, p: Trial, effect: float, worse: bool, why: str) -> Decision:
        self.finish(p, effect, True)
        self.undone = p
        source = "rollback" if worse else "fallback"
        why = f"{why}; back to {p.before.writers} writers / {p.before.chunk_size} rows"
        return change(
            p.after, p.before, "revert", why, source=source, confidence="high", mandatory=True
        )

    def _aba(self, revert: Trial) -> Decision | None:
        """A search trial undone, judged again against the settings on both sides of it (A-B-A):
        a load that slows as it goes (indexes outgrowing memory) makes every trial read worse
        than it is against the baseline from before it. When the trial beat the mean of both
        sides beyond the noise, it is made again, and the search goes on as if it had paid
        when first measured."""
        t = revert.undid
        after = agreeing(revert.samples)
        if t is None or t.state is None or t.kind not in ("ramp", "chunk") or len(after) < 2:
            return None
        if self.measure.point != t.before:
            return None
        a1, a2 = statistics.fmean(t.baseline), statistics.fmean(after)
        if not 1 / DRIFT <= a2 / a1 <= DRIFT:
            return None  # not a drift but a change of conditions: a mean across it means nothing
        trial = agreeing(t.samples) or t.samples
        effect = statistics.fmean(trial) / ((a1 + a2) / 2) - 1
        thr = self.measure.threshold(len(trial), len(t.baseline) + len(after))
        if effect <= thr:
            return None
        self.confirm = (t.after, t.state.as_paid(t.kind))  # restored by start() if made
        why = (
            f"{t.after.writers} writers / {t.after.chunk_size} rows measured "
            f"{effect * 100:+.1f}% against the settings before and after them "
            f"(noise threshold {thr * 100:.1f}%); again"
        )
        return change(t.before, t.after, "confirm", why)
