"""The controller: dmt's tuning rules, composed of their parts, and the bounds every decision
(AI or not) must pass.

A measuring hill-climber fed one :class:`~dmt.tuning.metrics.MetricsSnapshot` per interval.
Pure and deterministic: no threads, no sleeping; time is the snapshots' ``taken_at``. Per
interval: measure it (:mod:`~dmt.tuning.measure`), let safety preempt everything
(:mod:`~dmt.tuning.safety`), wait until the last change is measured and judge it
(:mod:`~dmt.tuning.trials`), then take the search's next step (:mod:`~dmt.tuning.search`,
:mod:`~dmt.tuning.chunks`).
"""

from __future__ import annotations

from dmt.tuning.decisions import Decision, DecisionRejected, Point, change, check, hold, on_grid
from dmt.tuning.measure import Measurements, agreeing
from dmt.tuning.metrics import MetricsSnapshot
from dmt.tuning.params import ControllerSettings
from dmt.tuning.safety import Safety, held_rows
from dmt.tuning.search import Search
from dmt.tuning.trials import UNJUDGED, Effect, Trial, Trials

__all__ = ["Controller", "ControllerSettings"]


class Controller:
    """Deterministic tuning rules; see the module docstring. Call :meth:`decide` once per
    interval, :meth:`commit` for whatever decision was applied, :meth:`pop_effects` to learn
    what applied decisions did."""

    def __init__(self, settings: ControllerSettings) -> None:
        self.s = settings
        self.measure = Measurements(settings.min_gain, settings.default_noise)
        self.trials = Trials(self.measure)
        self.safety = Safety(settings)
        self.search = Search(settings, self.measure, self.trials, self.safety)
        self.proposal: Decision | None = None  # what the rules proposed at the last decide()

    @property
    def phase(self) -> str:
        """The search's phase: ``chunk``, ``writers`` or ``hold``."""
        return self.search.state.phase

    @property
    def _pending(self) -> Trial | None:
        """The change being measured (the simulated-model tests wait for it)."""
        return self.trials.pending

    @property
    def _last_change_at(self) -> float:
        return self.trials.last_change_at

    def noise(self) -> float:
        """The measured interval-to-interval noise (see :meth:`Measurements.noise`)."""
        return self.measure.noise()

    def max_chunk(self, writers: int, m: MetricsSnapshot | None = None) -> int:
        """Largest chunk the memory budget allows with ``writers`` writers."""
        return self.safety.max_chunk(writers, m or self.measure.last)

    def pop_effects(self) -> list[Effect]:
        return self.trials.pop_effects()

    # ------------------------------------------------------------------ bounds
    def validate(self, d: Decision) -> Decision:
        """Return ``d`` if it may be applied now, else raise :class:`DecisionRejected`."""
        last, current = self.measure.last, self.measure.point
        check(d, current if last is not None else None, self.s.writers_high)
        if current is None or last is None:
            return d
        limit = self.max_chunk(d.writers)
        grows = d.writers > current.writers or d.chunk_size > current.chunk_size
        if held_rows(last, d.chunk_size) > limit and grows:
            raise DecisionRejected(
                f"chunk_size {d.chunk_size} × {d.writers} writers exceeds the memory budget "
                f"of {self.s.max_memory_mb:g} MB (max chunk {limit})"
            )
        return d

    # ------------------------------------------------------------------ deciding
    def ready(self) -> bool:
        """Whether a new, non-mandatory change may be made now (nothing is being measured and
        the steady-state cooldown has passed)."""
        at = self.measure.point
        if self.trials.pending is not None or at is None or not self.measure.baseline(at):
            return False
        assert self.measure.last is not None
        since = self.measure.last.taken_at - self.trials.last_change_at
        return self.phase != "hold" or since >= self.s.steady_gap

    def decide(self, m: MetricsSnapshot) -> Decision:
        """Ingest one interval's metrics and propose what to do now."""
        self.proposal = d = self._decide(m)
        return d

    def _decide(self, m: MetricsSnapshot) -> Decision:
        self.trials.confirm = None
        at = self._ingest(m)
        p, now = self.trials.pending, m.taken_at
        if m.rows_per_sec <= 0 or at.writers <= 0 or at.chunk_size <= 0:
            return hold(at, "no rows moved in the last interval; nothing to judge")
        if p is not None and at != p.after:
            if now - p.at < self.s.effect_timeout:
                return hold(at, "waiting for the last change to take effect")
            self.trials.finish(p, None, False)
            p = None
        safety = self.safety.check(m, at, self.measure.noise(), self.trials.pending is None)
        if safety is not None:
            return safety
        if p is not None and not p.samples:
            return hold(at, "settling after the last change")
        if p is None and self.search.tiny_start(m):
            self.measure.quick = at  # one interval of tiny batches is baseline enough
        if p is None and not self.measure.baseline(at):
            return hold(at, "measuring a baseline for the current settings")
        if p is not None:
            gap_ok = self.phase != "hold" or p.kind in (*UNJUDGED, "external")
            gap_ok = gap_ok or now - p.at >= self.s.steady_gap
            agreed = len(agreeing(p.samples)) >= self.s.samples_per_step
            quick = not agreed and self.search.plainly_better(p)
            measured = agreed or self.trials.clearly_worse(p) or quick
            if not (measured and gap_ok):
                return hold(at, "measuring the effect of the last change")
            verdict = self.trials.evaluate(p, self.search.state.copy(), self.search.judge)
            if verdict is not None:
                return verdict
            if quick:
                self.measure.quick = at  # its one sample is the next trial's baseline
        return self.search.next(m, at)

    def _ingest(self, m: MetricsSnapshot) -> Point:
        at, prev, rate = self.measure.observe(m)
        if prev is not None and at != prev and self.trials.pending is None:
            self.trials.external(prev, at, m.taken_at - m.interval_seconds)
        if self.measure.record(m, at, prev, rate, self.trials.last_change_at):
            p = self.trials.pending
            if p is not None and at == p.after:
                p.samples.append(rate)
        return at

    def candidates(self) -> list[Decision]:
        """Sensible, valid decisions for now (always including ``continue``) for the AI."""
        m, at = self.measure.last, self.measure.point
        if m is None or at is None or at.writers <= 0 or at.chunk_size <= 0:
            return []
        w, c = at
        step, chunks = self.search.writer_step, self.search.chunks
        options: list[tuple[Point, str]] = []
        p = self.proposal
        if p is not None and p.point != at:
            # the rules' own next step comes first: an AI that always takes the first
            # candidate behaves exactly like the rules alone
            options.append((p.point, f"the rules' choice: {p.reasoning}"))
        options += [
            (at, "keep the current settings"),
            (Point(step(w, 1, False, m), c), "ramp writers up"),
            (Point(step(w, 1, True, m), c), "one small writer step up"),
            (Point(step(w, -1, True, m), c), "one small writer step down"),
        ]
        if chunks.can_apply(m):
            if not chunks.growth_blocked(self.search.state, m):
                options.append((Point(w, on_grid(c * 2, "floor")), "double the chunk size"))
            options.append((Point(w, on_grid(c / 2, "ceil")), "halve the chunk size"))
        out: list[Decision] = []
        for new, why in options:
            if any(d.point == new for d in out):
                continue
            try:
                out.append(self.validate(change(at, new, "ai", why)))
            except DecisionRejected:
                continue
        return out

    def commit(self, d: Decision, decision_id: int | None = None) -> None:
        """Record that ``d`` was applied; its effect is measured from the next intervals."""
        at, last = self.measure.point, self.measure.last
        if at is None or last is None:
            return
        new = d.point
        if new == at:
            return
        kind = d.kind
        if d.source in ("ai", "cache"):
            # an AI choice that is the rules' own proposal is judged like the rules' step (a
            # ramp that stops paying ends the ramp); any other AI choice is judged as "ai"
            rules = self.proposal
            same = rules is not None and rules.point == new
            kind = rules.kind if same and rules is not None and rules.kind != "hold" else "ai"
        restore = self.trials.start(at, new, kind, last, decision_id)
        if restore is not None:
            self.search.state = restore
        self.search.committed(kind, d.writers < at.writers)
