"""The controller: fallback rules, and the bounds every decision (AI or not) must pass.

A measuring hill-climber fed one :class:`MetricsSnapshot` per interval. Pure and deterministic:
no threads, no sleeping; time is the snapshots' ``taken_at``.

::

    (up to the  ─▶  chunk  ──▶  writers (ramp)  ──▶  hold ──(probe every probe_every)──▶ hold
     usual writer    size toward a     double while a step     one change per steady_gap at
     count, from     ~1 s batch, then  beats the noise; a      most; a probe that does not
     below it)       up to 4x larger   step that measured      pay is reverted
                     while that pays   faster inside it is
                     (after the ramp   kept, the ramp stops;
                     when not before)  down only from above
                                       the default writers

Safety (memory pressure, memory budget, errors, CPU saturation) preempts the search. Every change
is measured: intervals with batches started before it are discarded (mixed), the next
``samples_per_step`` are compared with the samples before it (one, when it is already worse
beyond the noise), each net of the rows the read-ahead queue gave up (:func:`sustained_rate`),
and a change that made throughput worse beyond the measured noise is reverted. A baseline is two
intervals that agree; an isolated stall or spike at unchanged settings counts for neither the
baseline nor the noise, which is measured between successive intervals. One knob moves at a
time so effects can be attributed. Batches near the target duration get a trial of chunks up to
four times larger, kept while it pays (a fixed cost per batch can make longer batches faster);
past eight times the target they are left alone. Steps away from a bad start are judged on one
interval when plainly faster. A trial undone is judged again against the settings on both
sides of it (A-B-A) and made again when it beat their mean: on a load that slows as it goes,
every trial reads worse than it is against the samples from before it. No trial starts within
``end_quiet`` of the expected end.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field

from dmt.settings import MAX_CHUNK_GROWTH, MAX_WRITER_STEP
from dmt.tuning.decisions import (
    ACTIONS,
    CHUNK_MAX,
    CHUNK_MIN,
    CONFIDENCES,
    WRITERS_MAX,
    WRITERS_MIN,
    Cfg,
    Decision,
    DecisionRejected,
    action_for,
    consistent,
    on_grid,
)
from dmt.tuning.metrics import MB, MetricsSnapshot

__all__ = ["Controller", "ControllerSettings", "Decision", "DecisionRejected", "Effect"]

LONG_BATCHES = 8  # batches up to this many times the target duration are not shrunk
# a trial undone is judged again against both sides of it (Controller._aba) only when they are
# within this factor of each other: a drift, not a change of conditions
DRIFT = 1.25
LARGER_STEP = 4  # growth of one trial of chunks past the target duration (Controller._larger)
OUTLIER = 0.6  # an interval below this share of its settings' median, or above its inverse,
# is an outlier...
OUTLIERS_IN_ROW = 2  # ...unless more follow: then throughput has moved, not stalled
# changes measured but never undone by a verdict
_UNJUDGED = ("revert", "safety", "confirm")
# what a trial's verdict changes, restored when a trial undone is found to have paid after all
_SEARCH_STATE = (
    "phase",
    "direction",
    "_dir_gained",
    "_tried_reverse",
    "_chunk_halving",
    "_chunk_moved",
    "_chunk_larger",
    "_larger_tried",
    "_writers_tuned",
    "_larger_only",
    "_started",
    "_no_growth_table",
)


@dataclass(frozen=True)
class ControllerSettings:
    """Tuning of the control algorithm; the defaults suit a 30 s interval."""

    max_memory_mb: float
    target_batch_seconds: float = 1.0
    samples_per_step: int = 2
    min_gain: float = 0.03  # smallest relative change that counts, whatever the noise
    default_noise: float = 0.05  # assumed until enough repeated samples exist
    steady_gap: float = 120.0  # at most one non-safety change per this many seconds in hold
    probe_every: float = 600.0
    # no trial (ramp, probe, chunk step) starts when the copy is expected to end sooner than
    # this: it takes three or four intervals to measure and undo, and needs time to pay back
    end_quiet: float = 300.0
    effect_timeout: float = 600.0  # give up waiting for a change the pipeline has not applied
    memory_high_percent: float = 85.0
    ceiling_seconds: float = 600.0  # how long a safety back-off caps the knob it lowered
    # where the pipeline applies a chunk_size change (migration.chunk_size_at, passed by
    # build_monitor): at "table" a change made during the last table never takes effect, so
    # none is proposed then; "chunk" (the default here) assumes every change applies
    chunk_size_at: str = "chunk"
    # dmt's default writer count on this machine (config.default_writers): fewer writers
    # than the start are tried only from above it (see Controller._ramp_done)
    usual_writers: int = 4

    @classmethod
    def for_interval(
        cls,
        interval: float,
        max_memory_mb: float,
        chunk_size_at: str = "chunk",
        usual_writers: int = 4,
    ) -> ControllerSettings:
        """The settings for a monitor interval of ``interval`` seconds: the clocks are counted
        in intervals (4 = two minutes at the default 30 s), so a short interval in a test or a
        benchmark keeps the same behaviour, only faster."""
        n = interval
        return cls(
            max_memory_mb=max_memory_mb,
            # an interval should see several commits per writer (its rate is measured over
            # them, see metrics_collector._commit_rate); 1 s from a 4 s interval up
            target_batch_seconds=min(1.0, n / 4),
            steady_gap=4 * n,
            probe_every=20 * n,
            end_quiet=10 * n,
            effect_timeout=20 * n,
            ceiling_seconds=20 * n,
            chunk_size_at=chunk_size_at,
            usual_writers=usual_writers,
        )


def _typical(rate: float, median: float) -> bool:
    return OUTLIER * median <= rate <= median / OUTLIER


def _agreeing(xs: list[float]) -> list[float]:
    """The samples that agree with each other: two inside the outlier band of each other, or
    of three or more those near their median; none until then (of two that disagree, either
    can be the stall)."""
    if len(xs) == 2:
        return xs if _typical(xs[0], xs[1]) else []
    if len(xs) >= 3:
        mid = statistics.median(xs)
        return [x for x in xs if _typical(x, mid)]
    return []


def _relative(samples: list[float], baseline: list[float]) -> float:
    """How much ``samples`` differ from ``baseline`` on average (0.1 = 10 % more)."""
    return statistics.fmean(samples) / statistics.fmean(baseline) - 1


def _measured(p: _Pending) -> float | None:
    """The relative effect of a pending change so far, when it has samples on both sides."""
    return _relative(p.samples, p.baseline) if p.samples and p.baseline else None


def sustained_rate(m: MetricsSnapshot, prev: MetricsSnapshot | None) -> float:
    """The interval's throughput less the rows the read-ahead queue gave up during it: what
    the settings sustain. Added writers first empty a full queue (8 batches by default, 1-2 s
    of rows) on top of what the readers supply; counted as throughput, that backlog made a
    2 -> 4 writer step of the tuning benchmark measure +19 % where 4 writers were 13 % slower.
    A queue that fills is not added back: the rows committed are what the writers sustain.
    A change of one batch is the queue's ordinary jitter and is ignored."""
    drained = 0 if prev is None else prev.queue_depth - m.queue_depth - 1
    if drained <= 0 or m.interval_seconds <= 0:
        return m.rows_per_sec
    return max(0.0, m.rows_per_sec - drained * m.rows_per_batch / m.interval_seconds)


@dataclass(frozen=True)
class Effect:
    """The measured outcome of an applied decision (relative throughput change, percent)."""

    decision_id: int | None
    effect_percent: float | None
    reverted: bool


@dataclass
class _Pending:
    before: Cfg
    after: Cfg
    kind: str
    baseline: list[float]
    at: float
    decision_id: int | None
    samples: list[float] = field(default_factory=list)
    batch_rows: float = 0.0  # rows per written batch before the change
    batch_seconds: float = 0.0  # their write latency (p50)
    state: dict[str, object] | None = None  # the search's state when the verdict was made
    trial: _Pending | None = None  # of a revert: the trial it undid (see Controller._aba)


class Controller:
    """Deterministic tuning rules; see the module docstring. Call :meth:`decide` once per
    interval, :meth:`commit` for whatever decision was applied, :meth:`pop_effects` to learn
    what applied decisions did."""

    def __init__(self, settings: ControllerSettings) -> None:
        self.s = settings
        self.phase = "chunk"
        self.direction = 0
        self._dir_gained = False
        self._tried_reverse = False
        self._samples: dict[Cfg, deque[float]] = {}
        self._last: MetricsSnapshot | None = None
        self._cfg: Cfg | None = None
        self._pending: _Pending | None = None
        self._effects: list[Effect] = []
        self._last_change_at = -math.inf
        self._probe_up = True
        self._writer_cap: tuple[int, float] | None = None
        self._chunk_cap: tuple[int, float] | None = None
        self.proposal: Decision | None = None  # what the rules proposed at the last decide()
        self._chunk_halving = False  # the chunk phase measures smaller chunks
        self._chunk_moved = False  # a chunk step was made in the chunk phase
        self._chunk_larger = False  # the chunk phase measures chunks past the target
        self._no_growth_table: str | None = None  # where larger chunks were seen not to apply
        self._larger_tried = False  # a trial of chunks past the batch-time target was made
        self._started = False  # the search has made its first proposal
        self._quick: Cfg | None = None  # settings a step was judged plainly better to
        self._writers_tuned = False  # the writer ramp has ended
        self._larger_only = False  # the chunk phase, after the ramp, tries only larger chunks
        self._undone: _Pending | None = None  # the trial the last revert undid
        # a trial found to have paid after all (_aba): its settings, and the search's state
        # to restore when they are applied again
        self._confirm: tuple[Cfg, dict[str, object]] | None = None
        self._outliers: list[float] = []  # consecutive outliers at the current settings
        self._cpu_dips = 0  # consecutive intervals of falling throughput on a saturated CPU
        self._diffs: deque[float] = deque(maxlen=20)  # see noise()
        self._run_last: float | None = None  # the last sample, if the run of samples goes on

    # ------------------------------------------------------------------ measurement
    def noise(self) -> float:
        """Coefficient of variation of throughput from one interval to the next at unchanged
        settings (successive differences: var(d) = 2 var(x)). Not the spread of all samples
        of a setting: those from before and after a trial are minutes apart, and a load that
        slows as it goes (3 % per interval) read as 9 % noise, under which a 10 % gain hid."""
        if len(self._diffs) < 3:
            return self.s.default_noise
        return math.sqrt(statistics.fmean(d * d for d in self._diffs) / 2)

    def _threshold(self, n_a: int, n_b: int) -> float:
        return max(self.s.min_gain, 2 * self.noise() * math.sqrt(1 / n_a + 1 / n_b))

    def _ingest(self, m: MetricsSnapshot) -> Cfg:
        cfg = (m.target_writers or m.active_writers, m.chunk_size)
        prev, self._cfg = self._cfg, cfg
        rate, self._last = sustained_rate(m, self._last), m
        if prev is not None and cfg != prev and self._pending is None:
            # changed by someone else, during the interval: measure it like our own
            at = m.taken_at - m.interval_seconds
            self._pending = _Pending(prev, cfg, "external", self._baseline(prev), at, None)
            self._last_change_at = at
        if cfg != prev:
            self._outliers = []
        if cfg == prev and rate > 0 and self._clean(m) and not self._outlier(cfg, rate):
            self._samples.setdefault(cfg, deque(maxlen=6)).append(rate)
            if self._pending is not None and cfg == self._pending.after:
                self._pending.samples.append(rate)
            last, self._run_last = self._run_last, rate
            if last is not None and _typical(rate, last):  # a trial's first samples can stall
                self._diffs.append(2 * (rate - last) / (rate + last))
        else:
            self._run_last = None
        return cfg

    def _clean(self, m: MetricsSnapshot) -> bool:
        """Whether every batch committed in the interval started after the last change. The
        interval in which a change appears is mixed; with batches longer than the interval the
        next ones are too (indexed batches took 3 s at 4 writers: a writer added 2 s earlier
        had committed nothing, and its trial measured -54 % for that alone)."""
        started = m.taken_at - m.interval_seconds
        return started - m.write_latency_p50 >= self._last_change_at

    def _outlier(self, cfg: Cfg, rate: float) -> bool:
        """Whether ``rate`` is an isolated stall or spike at unchanged settings, kept out of the
        baseline and the noise: wide loads had intervals at half throughput (checkpoints), and
        one lifted the noise estimate to 29 %, under which a 12 % slower step stood. A run of
        them is a shift of the level (a concurrent load on the target): the settings' samples
        restart from it."""
        xs = self._samples.get(cfg)
        if xs is None or len(xs) < 2 or _typical(rate, statistics.median(xs)):
            self._outliers = []
            return False
        self._outliers.append(rate)
        if len(self._outliers) <= OUTLIERS_IN_ROW:
            return True
        xs.clear()
        xs.extend(self._outliers[:-1])  # the caller appends this one
        self._outliers = []
        return False

    def _baseline(self, cfg: Cfg) -> list[float]:
        """Of the last three samples at ``cfg``, those that agree (:func:`_agreeing`); none
        from one sample, which can be a stall: a trial measured against it reads as a gain.
        One is enough when it is the sample that judged a step plainly better (a stall
        cannot have done that, and a high one only makes the next step read worse)."""
        xs = list(self._samples.get(cfg, ()))[-3:]
        if len(xs) == 1 and cfg == self._quick:
            return xs
        return _agreeing(xs)

    def pop_effects(self) -> list[Effect]:
        effects, self._effects = self._effects, []
        return effects

    def _finish(self, p: _Pending, effect: float | None, reverted: bool) -> None:
        pct = None if effect is None else round(effect * 100, 2)
        self._effects.append(Effect(p.decision_id, pct, reverted))
        self._pending = None

    # ------------------------------------------------------------------ bounds
    def max_chunk(self, writers: int, m: MetricsSnapshot | None = None) -> int:
        """Largest chunk the memory budget allows with ``writers`` writers."""
        m = m or self._last
        if m is None or m.avg_row_bytes <= 0:
            return CHUNK_MAX
        slots = max(m.queue_capacity, 1) + writers
        return int(self.s.max_memory_mb * MB // (m.avg_row_bytes * slots))

    def _held_rows(self, m: MetricsSnapshot, chunk: int) -> float:
        """Rows one batch holds at ``chunk``: fewer when the batches are capped below it (the
        pipeline's byte budget per batch holds wide rows to a few thousand whatever chunk_size
        says; halving a 50K chunk_size to fit them only cut the key ranges, 8-15 % slower)."""
        rows = m.rows_per_batch
        return min(chunk, rows) if rows > 0 and self.batches_capped(m) else chunk

    def _caps(self, now: float) -> tuple[int, int]:
        w_cap, c_cap = WRITERS_MAX, CHUNK_MAX
        if self._writer_cap and now < self._writer_cap[1]:
            w_cap = self._writer_cap[0]
        if self._chunk_cap and now < self._chunk_cap[1]:
            c_cap = self._chunk_cap[0]
        return w_cap, c_cap

    def validate(self, d: Decision) -> Decision:
        """Return ``d`` if it may be applied now, else raise :class:`DecisionRejected`."""
        if d.action not in ACTIONS:
            raise DecisionRejected(f"unknown action `{d.action}`")
        if d.confidence not in CONFIDENCES:
            raise DecisionRejected(f"unknown confidence `{d.confidence}`")
        if not WRITERS_MIN <= d.writers <= WRITERS_MAX:
            raise DecisionRejected(f"writers {d.writers} outside {WRITERS_MIN}–{WRITERS_MAX}")
        if not CHUNK_MIN <= d.chunk_size <= CHUNK_MAX:
            raise DecisionRejected(f"chunk_size {d.chunk_size} outside {CHUNK_MIN}–{CHUNK_MAX}")
        if self._cfg is None or self._last is None:
            return d
        (w0, c0), new = self._cfg, (d.writers, d.chunk_size)
        if abs(d.writers - w0) > MAX_WRITER_STEP:
            raise DecisionRejected(f"writers {w0} → {d.writers} moves more than ±{MAX_WRITER_STEP}")
        if c0 > 0 and not c0 / MAX_CHUNK_GROWTH <= d.chunk_size <= c0 * MAX_CHUNK_GROWTH:
            raise DecisionRejected(
                f"chunk_size {c0} → {d.chunk_size} changes more than ×{MAX_CHUNK_GROWTH} or "
                f"÷{MAX_CHUNK_GROWTH}"
            )
        if not consistent(d.action, self._cfg, new):
            raise DecisionRejected(
                f"action `{d.action}` contradicts writers {w0} → {d.writers}, "
                f"chunk_size {c0} → {d.chunk_size}"
            )
        limit = self.max_chunk(d.writers)
        grows = d.writers > w0 or d.chunk_size > c0
        if self._held_rows(self._last, d.chunk_size) > limit and grows:
            raise DecisionRejected(
                f"chunk_size {d.chunk_size} × {d.writers} writers exceeds the memory budget "
                f"of {self.s.max_memory_mb:g} MB (max chunk {limit})"
            )
        return d

    # ------------------------------------------------------------------ deciding
    def ready(self) -> bool:
        """Whether a new, non-mandatory change may be made now (nothing is being measured and
        the steady-state cooldown has passed)."""
        if self._pending is not None or self._cfg is None or not self._baseline(self._cfg):
            return False
        assert self._last is not None
        return self.phase != "hold" or self._last.taken_at - self._last_change_at >= (
            self.s.steady_gap
        )

    def decide(self, m: MetricsSnapshot) -> Decision:
        """Ingest one interval's metrics and propose what to do now."""
        self.proposal = d = self._decide(m)
        return d

    def _decide(self, m: MetricsSnapshot) -> Decision:
        self._confirm = None
        cfg = self._ingest(m)
        p, now = self._pending, m.taken_at
        if m.rows_per_sec <= 0 or cfg[0] <= 0 or cfg[1] <= 0:
            return self._hold(cfg, "no rows moved in the last interval; nothing to judge")
        if p is not None and cfg != p.after:
            if now - p.at < self.s.effect_timeout:
                return self._hold(cfg, "waiting for the last change to take effect")
            self._finish(p, None, False)
            p = None
        safety = self._safety(m, cfg)
        if safety is not None:
            return safety
        if p is not None and not p.samples:
            return self._hold(cfg, "settling after the last change")
        if p is None and self._tiny_start(m, cfg):
            self._quick = cfg  # one interval of tiny batches is baseline enough
        if p is None and not self._baseline(cfg):
            return self._hold(cfg, "measuring a baseline for the current settings")
        if p is not None:
            gap_ok = self.phase != "hold" or p.kind in (*_UNJUDGED, "external")
            gap_ok = gap_ok or now - p.at >= self.s.steady_gap
            agreed = len(_agreeing(p.samples)) >= self.s.samples_per_step
            quick = not agreed and self._plainly_better(p)
            measured = agreed or self._clearly_worse(p) or quick
            if not (measured and gap_ok):
                return self._hold(cfg, "measuring the effect of the last change")
            verdict = self._evaluate(p, cfg)
            if verdict is not None:
                return verdict
            if quick:
                self._quick = cfg  # its one sample is the next trial's baseline
        return self._search(m, cfg)

    def _clearly_worse(self, p: _Pending) -> bool:
        """A writer trial whose first clean interval is already worse by twice the noise
        threshold is judged at once: every further interval of a bad setting is throughput
        lost (a 1- and a 4-writer trial cost the indexed load 45-65 % per interval)."""
        if not p.samples or not p.baseline or p.kind in (*_UNJUDGED, "external"):
            return False
        if p.after[0] == p.before[0]:
            return False  # a chunk change reaches the batches over several intervals
        effect = _relative(p.samples, p.baseline)
        return effect < -2 * self._threshold(len(p.samples), len(p.baseline))

    def _tiny_start(self, m: MetricsSnapshot, cfg: Cfg) -> bool:
        """Whether the run starts with batches under a quarter of the target duration: the
        first chunk step is then made after one interval, before any other."""
        if self.phase != "chunk" or self._started or self._chunk_moved:
            return False
        return self._tiny(m.write_latency_p50)

    def _tiny(self, batch_seconds: float) -> bool:
        """Whether batches of ``batch_seconds`` are under a quarter of the target duration."""
        return 0 < batch_seconds < self.s.target_batch_seconds / 4

    def _plainly_better(self, p: _Pending) -> bool:
        """Steps away from a bad start, judged on their first clean interval: the step up to
        the usual writer count and any chunk step, when that interval is better by twice the
        noise threshold (the mirror of :meth:`_clearly_worse`), and a step toward the
        batch-time target from batches under a quarter of it when it measured faster at all
        (such steps gained 50-500 % on every load). Each further interval at a bad start is
        throughput lost: the tuning benchmark's indexed bad start spent 18 s at 1K-8K rows on
        one writer. Not the ramp proper: its next step would be measured against this one
        sample, and a high one undid a good step in simulation."""
        early = p.kind == "ramp" and self.phase == "chunk"
        if not (early or p.kind == "chunk") or not p.samples or not p.baseline:
            return False
        effect = _relative(p.samples, p.baseline)
        if effect > 2 * self._threshold(len(p.samples), len(p.baseline)):
            return True
        if p.kind != "chunk" or self._chunk_larger or p.after[1] <= p.before[1]:
            return False
        return self._tiny(p.batch_seconds) and effect > 0

    def _hold(self, cfg: Cfg, reason: str, confidence: str = "medium") -> Decision:
        return Decision("continue", cfg[0], cfg[1], confidence, reason)

    def _change(
        self,
        cur: Cfg,
        new: Cfg,
        kind: str,
        reason: str,
        *,
        source: str = "fallback",
        confidence: str = "medium",
        mandatory: bool = False,
    ) -> Decision:
        action = action_for(cur, new)
        return Decision(action, new[0], new[1], confidence, reason, source, kind, mandatory)

    def _safety(self, m: MetricsSnapshot, cfg: Cfg) -> Decision | None:
        w, c = cfg
        now, cap = m.taken_at, self.s.ceiling_seconds
        if m.system_memory_percent >= self.s.memory_high_percent:
            why = f"system memory {m.system_memory_percent:.0f}% ≥ {self.s.memory_high_percent:g}%"
            if c > CHUNK_MIN:
                new_c = on_grid(c / 2, "ceil")
                self._chunk_cap = (new_c, now + cap)
                return self._change(cfg, (w, new_c), "safety", why, mandatory=True)
            if w > WRITERS_MIN:
                return self._back_off(cfg, now, why)
        limit = self.max_chunk(w, m)
        if self._held_rows(m, c) > limit and c > CHUNK_MIN:
            new_c = max(on_grid(c / 2, "ceil"), min(c, on_grid(limit, "floor")))
            why = f"chunk_size {c} exceeds the {self.s.max_memory_mb:g} MB budget (max {limit})"
            return self._change(cfg, (w, new_c), "safety", why, mandatory=True)
        if (m.errors_in_interval or m.retries_in_interval) and w > WRITERS_MIN:
            why = f"{m.errors_in_interval} errors, {m.retries_in_interval} retries last interval"
            return self._back_off(cfg, now, why)
        # A saturated CPU alone is normal when the database shares the machine, and per-batch
        # latency rises with every added writer; back off only when throughput itself falls.
        # ...and only once the last change has been measured: the trend still compares with
        # samples from before it, and backing off again on that would be a chain, not a step.
        # ...and only by more than the measured noise: on a shared machine a -20% interval
        # is common at unchanged settings, and the back-off caps writers for a long time.
        # ...and only when it lasts two intervals: one dip at unchanged settings is common
        # too (a narrow load at the best setting backed off to 1 writer on a -14 % interval)
        settled = self._pending is None
        drop = -max(10.0, 2 * self.noise() * 100)
        dipped = settled and m.cpu_saturated and m.throughput_trend_percent < drop
        self._cpu_dips = self._cpu_dips + 1 if dipped else 0
        # ...and only from more writers than dmt's default (one per core): at or below it the
        # saturated CPU is the database's own work, and fewer writers only slowed it (the
        # indexed load dipped 31 % for two intervals at 2 writers on 2 cores; backed off to 1
        # writer, it ran at half the rate for the rest of the copy)
        if self._cpu_dips >= 2 and w > max(WRITERS_MIN, self.s.usual_writers):
            why = (
                f"CPU saturated ({m.system_cpu_percent:.0f}%) and throughput "
                f"{m.throughput_trend_percent:+.0f}% for two intervals"
            )
            return self._back_off(cfg, now, why)
        return None

    def _back_off(self, cfg: Cfg, now: float, why: str) -> Decision:
        new_w = max(WRITERS_MIN, cfg[0] - max(1, cfg[0] // 4))
        self._writer_cap = (new_w, now + self.s.ceiling_seconds)
        return self._change(cfg, (new_w, cfg[1]), "safety", why + "; backing off", mandatory=True)

    def _evaluate(self, p: _Pending, cfg: Cfg) -> Decision | None:
        if not p.baseline or p.kind in _UNJUDGED:  # an external change is judged like a trial
            self._finish(p, _measured(p), False)
            return self._aba(p) if p.kind == "revert" else None
        p.state = {k: getattr(self, k) for k in _SEARCH_STATE}
        samples = _agreeing(p.samples) or p.samples  # clearly worse: judged on one sample
        effect = _relative(samples, p.baseline)
        thr = self._threshold(len(samples), len(p.baseline))
        worse, gained = effect < -thr, effect > thr
        desc = f"{effect * 100:+.1f}% (noise threshold {thr * 100:.1f}%)"
        writers_up = p.after[0] > p.before[0]
        if p.kind == "ramp" and self.phase == "chunk":
            # the step up to the usual writer count that comes before chunk sizing: kept
            # unless it measured slower; the ramp goes on after the chunks only if it gained
            if worse or effect < -self.s.min_gain:
                return self._revert(p, effect, worse, f"writers {p.after[0]} gave {desc}")
            self.direction, self._dir_gained = 1, gained
            self._writers_tuned = not gained
            self._finish(p, effect, False)
            return None
        if p.kind == "ramp":
            if gained:
                self._dir_gained = True
                self._finish(p, effect, False)
                return None
            # fewer writers are kept only when they measured no slower: at short intervals the
            # noise threshold can hide a real loss (a -18 % step was kept at a 24 % threshold,
            # and a -13 % one measured -2 % in one of seven simulated runs at 10 % noise);
            # more writers are kept, and the ramp stops, unless they measured slower beyond the
            # noise or by more than min_gain: an added writer is measured against a baseline
            # from before it, and a load that slows as it goes biases that low (1 -> 2 writers:
            # +19 % at a 27 % threshold was undone and the run stayed 13 % slower than with 2;
            # a wide load ran 25 % faster in its first 10 s than later, and 1 -> 2 writers
            # measured -2 % against that start where 2 writers are 37 % faster)
            if worse or effect < (-self.s.min_gain if writers_up else 0.0):
                self._ramp_done(p.before[0])
                return self._revert(p, effect, worse, f"writers {p.after[0]} gave {desc}")
            # kept: the other way leads back to where the step came from, measured no better
            self.phase = "hold"
            self._finish(p, effect, False)
            return None
        if p.kind == "probe" and not gained:
            return self._revert(p, effect, worse, f"probe {p.after} did not pay: {desc}")
        if p.kind == "chunk" and self.phase == "chunk" and self._chunk_larger:
            # past the target, larger chunks stay only when they measured better beyond the
            # noise (and are followed by another trial): they cost memory and longer stalls,
            # which two intervals can miss (the indexed load's 200K-row chunks measured +6 %
            # and then stalled every few intervals, 15 % slower than 50K over the copy)
            if gained:
                self._finish(p, effect, False)
                return None
            self._end_chunk_phase()
            return self._revert(p, effect, worse, f"larger chunks {p.after[1]} gave {desc}")
        if p.kind == "chunk" and self.phase == "chunk" and not gained:
            grew = p.after[1] > p.before[1]
            assert self._last is not None
            capped = grew and self.batches_capped(self._last) and not self._chunk_halving
            if capped and self._last.rows_per_batch >= 1.25 * p.batch_rows > 0:
                # the batches grew, as far as the byte budget or the key ranges let them: a
                # step like any other, kept unless it measured worse (wide rows: 1K-row batches
                # grown to 3K were undone for being +6 % inside the noise, back to 1K)
                self._no_growth_table = self._last.current_table
                self._end_chunk_phase()
                if worse:
                    return self._revert(p, effect, True, f"chunk {p.after[1]} hurt: {desc}")
                self._finish(p, effect, False)
                return None
            if capped:
                # the batches did not follow the larger chunk_size (the byte budget or sparse
                # key ranges cap them): undo it and measure smaller chunks instead
                self._chunk_halving = True
                self._no_growth_table = self._last.current_table
                why = f"chunk {p.after[1]} gave {desc}; batches did not grow"
                return self._revert(p, effect, worse, why)
            # sizing stops at the first step that does not pay: a step toward the batch-time
            # target that is within the noise is kept; a smaller-chunk trial is undone
            self._end_chunk_phase()
            if self._chunk_halving and effect < self.s.min_gain:  # kept when it measured better
                return self._revert(p, effect, worse, f"smaller chunks {p.after} gave {desc}")
        if worse:
            return self._revert(p, effect, True, f"{p.kind} change {p.after} hurt: {desc}")
        self._finish(p, effect, False)
        return None

    def _revert(self, p: _Pending, effect: float, worse: bool, why: str) -> Decision:
        self._finish(p, effect, True)
        self._undone = p
        source = "rollback" if worse else "fallback"
        why = f"{why}; back to {p.before[0]} writers / {p.before[1]} rows"
        return self._change(
            p.after, p.before, "revert", why, source=source, confidence="high", mandatory=True
        )

    def _aba(self, revert: _Pending) -> Decision | None:
        """A search trial undone, judged again against the settings on both sides of it (A-B-A):
        a load that slows as it goes (indexes outgrowing memory: 140-175K rows/s early, 110-125K
        late at one setting) makes every trial read worse than it is against the baseline from
        before it. When the trial beat the mean of both sides beyond the noise, it is made
        again, and the search goes on as if it had paid when first measured."""
        t = revert.trial
        after = _agreeing(revert.samples)
        if t is None or t.state is None or t.kind not in ("ramp", "chunk") or len(after) < 2:
            return None
        if self._cfg != t.before:
            return None
        a1, a2 = statistics.fmean(t.baseline), statistics.fmean(after)
        if not 1 / DRIFT <= a2 / a1 <= DRIFT:
            return None  # not a drift but a change of conditions: a mean across it means nothing
        trial = _agreeing(t.samples) or t.samples
        effect = statistics.fmean(trial) / ((a1 + a2) / 2) - 1
        thr = self._threshold(len(trial), len(t.baseline) + len(after))
        if effect <= thr:
            return None
        state = dict(t.state)
        if t.kind == "ramp":
            state["_dir_gained"] = True
        self._confirm = (t.after, state)  # restored by commit() if this change is made
        why = (
            f"{t.after[0]} writers / {t.after[1]} rows measured {effect * 100:+.1f}% against "
            f"the settings before and after them (noise threshold {thr * 100:.1f}%); again"
        )
        return self._change(t.before, t.after, "confirm", why)

    def _end_chunk_phase(self) -> None:
        """The chunk phase is over: the writers are tuned next, or held when they were."""
        self.phase = "hold" if self._writers_tuned else "writers"
        self._chunk_larger = False

    def _ramp_done(self, w: int) -> None:
        """The ramp direction stopped paying at ``w`` writers: hold, or try fewer writers
        once. That trial only pays from an over-provisioned start: on every load of the
        tuning benchmark fewer writers than the default were the worst setting (1 writer
        7-42 % slower than 2), so from the default or below it was pure cost."""
        if not self._dir_gained and not self._tried_reverse and w > self.s.usual_writers:
            self.direction, self._tried_reverse = -self.direction, True
        else:
            self.phase = "hold"

    def _writer_step(self, w: int, direction: int, small: bool, m: MetricsSnapshot) -> int:
        w_cap, _ = self._caps(m.taken_at)
        if direction > 0:
            step = max(1, w // 4) if small else w
            new = min(w + min(step, MAX_WRITER_STEP), w_cap, WRITERS_MAX)
            while new > w and self._held_rows(m, m.chunk_size) > self.max_chunk(new, m):
                new -= 1
            return max(new, w)
        step = max(1, w // 4) if small else max(1, w // 2)
        return max(WRITERS_MIN, w - min(step, MAX_WRITER_STEP))

    def chunk_can_apply(self, m: MetricsSnapshot) -> bool:
        """Whether a chunk_size change would take effect during this run: always at
        ``chunk``; at ``table`` only while another table is still to start."""
        if self.s.chunk_size_at == "chunk":
            return True
        return m.tables_total - m.tables_done > 1

    def growth_blocked(self, m: MetricsSnapshot) -> bool:
        """Whether a larger chunk_size cannot reach this table's batches: they are capped now,
        or a larger size was already measured not to change them in this table."""
        if self.batches_capped(m):
            return True
        return m.current_table is not None and m.current_table == self._no_growth_table

    @staticmethod
    def batches_capped(m: MetricsSnapshot) -> bool:
        """Whether batches stay well below chunk_size, so a larger chunk_size changes nothing:
        the memory budget caps each batch in bytes, or the rows are sparse in their key
        ranges. (With ``chunk_size_at: chunk`` a larger size merges planned key ranges, so
        batches can grow; with ``table`` the change waits for the next table anyway.)"""
        if m.batches_in_interval < 2:
            return False
        return m.rows_per_batch < 0.6 * m.chunk_size

    def _chunk_target(self, m: MetricsSnapshot, cfg: Cfg) -> int | None:
        w, c = cfg
        if m.write_latency_p50 <= 0 or not self.chunk_can_apply(m):
            return None
        want = on_grid(c * self.s.target_batch_seconds / m.write_latency_p50)
        _, c_cap = self._caps(m.taken_at)
        lo = on_grid(c / 2, "ceil")
        # straight to the estimate, at most eightfold: a bad start's 1K chunks reach a 0.5 s
        # batch in two steps (doubling near the target took five, a quarter of a 40 s run)
        mem = CHUNK_MAX if self.batches_capped(m) else self.max_chunk(w, m)  # see _held_rows
        hi = max(lo, on_grid(min(c * MAX_CHUNK_GROWTH, c_cap, mem), "floor"))
        return min(max(want, lo), hi)

    def _on_target(self, m: MetricsSnapshot) -> bool:
        """Batches near enough the target duration to be left alone. Short batches are grown
        (tiny ones pay a fixed cost each); long ones only far past it: a slow target (foreign
        keys, indexes) takes 0.6 s per 50K-row batch where 50K beats 10K by 10 %, and memory
        is the byte budget's job."""
        goal = self.s.target_batch_seconds
        return goal / 2 <= m.write_latency_p50 <= goal * LONG_BATCHES

    def _shrinks(self, m: MetricsSnapshot, chunk: int) -> bool:
        """Whether a smaller ``chunk`` would make the batches smaller: not while they are
        capped below it (it would only shorten the key ranges read, which costs), nor when it
        cuts them by less than a fifth (200K-row chunks written as 100,004-row batches were
        "halved" to 100K: the same batches, and the trial read a stall as -47 %)."""
        return not self.batches_capped(m) or chunk < 0.8 * m.rows_per_batch

    def _chunk_step(self, m: MetricsSnapshot, cfg: Cfg) -> tuple[int, str] | None:
        """The next chunk-size trial: toward the batch-time target while that pays; when
        batches cannot grow (key ranges planned at the table start cap them), halving instead,
        measured like any step. None ends the chunk phase."""
        c = cfg[1]
        if not self.chunk_can_apply(m):
            return None
        if self._larger_only:
            return self._larger(m, cfg)
        if self._chunk_halving:
            new = on_grid(c / 2, "ceil")
            if new < c and self._shrinks(m, new):
                return new, f"measuring {new}-row chunks (smaller paid so far)"
            return None
        target = self._chunk_target(m, cfg)
        if target is None or abs(target - c) < 0.25 * c or self._on_target(m):
            return self._larger(m, cfg)
        if target > c and self.growth_blocked(m):
            if self._chunk_moved or c <= CHUNK_MIN or not self._shrinks(m, on_grid(c / 2, "ceil")):
                return None
            # the batch-time rule wants larger chunks, which cannot apply to this table's key
            # ranges: measure the other direction instead of assuming
            self._chunk_halving = True
            new = on_grid(c / 2, "ceil")
            why = (
                f"batches take {m.write_latency_p50:.2f}s but larger chunks cannot apply to "
                f"this table's key ranges; measuring {new} rows instead"
            )
            return new, why
        why = f"batches take {m.write_latency_p50:.2f}s; sizing chunks toward "
        return target, why + f"{self.s.target_batch_seconds:g}s"

    def _larger(self, m: MetricsSnapshot, cfg: Cfg) -> tuple[int, str] | None:
        """From batches near the target duration, one step of up to fourfold, kept while it
        pays: a fixed cost per batch (a commit, foreign-key and index work) made 200K-row
        batches of 2.8 s 19 % faster than 50K-row ones of 0.85 s on the tuning benchmark's
        indexed load, where one doubling (+9 %, read lower on a load that slows as it goes)
        stayed inside the noise threshold. Not past six times the target duration (a margin
        below the eight that _on_target allows), nor by a step of less than a doubling, nor
        past the memory budget."""
        w, c = cfg
        p50 = m.write_latency_p50
        if self.growth_blocked(m) or p50 <= 0:
            return None
        room = 0.75 * LONG_BATCHES * self.s.target_batch_seconds / p50  # some margin below
        if room < 2:
            return None
        _, c_cap = self._caps(m.taken_at)
        new = on_grid(min(c * min(LARGER_STEP, room), c_cap, self.max_chunk(w, m)), "floor")
        if new < 1.25 * c:
            return None
        # the chunk phase goes on with larger chunks only, not back toward the target
        self._chunk_larger = self._larger_tried = self._larger_only = True
        return new, f"batches take {p50:.2f}s; measuring {new}-row chunks (less cost per batch)"

    def _search(self, m: MetricsSnapshot, cfg: Cfg) -> Decision:
        w, c = cfg
        if m.eta_seconds is not None and m.eta_seconds < self.s.end_quiet:
            why = f"the copy should end in {m.eta_seconds:.0f}s: too soon for a trial to pay back"
            return self._hold(cfg, why)
        if self.phase == "chunk" and not self._started:
            if self._tiny_start(m, cfg):
                # tiny batches are the larger loss (1K-row chunks moved a tenth of the best
                # rate; one writer fewer, a few percent to 60 %): grow them first
                step = self._chunk_step(m, cfg)
                if step is not None:
                    return self._change(cfg, (w, step[0]), "chunk", step[1])
            self._started = True
            new_w = min(self._writer_step(w, 1, False, m), self.s.usual_writers)
            if new_w > w:
                # fewer writers than dmt's default were the slowest setting on every load of
                # the tuning benchmark (1 writer 7-60 % slower than 2), and the chunk phase
                # takes several intervals: step up to the default before it, measured
                why = f"{w} writers are fewer than the usual {self.s.usual_writers}; trying {new_w}"
                return self._change(cfg, (new_w, c), "ramp", why)
        if self.phase == "chunk":
            step = self._chunk_step(m, cfg)
            if step is not None:
                return self._change(cfg, (w, step[0]), "chunk", step[1])
            self._end_chunk_phase()
        if self.phase == "writers":
            if self.direction == 0:
                self.direction = 1 if self._writer_step(w, 1, False, m) > w else -1
            for _ in range(2):
                new_w = self._writer_step(w, self.direction, False, m)
                if new_w != w:
                    why = f"trying {new_w} writers (noise {self.noise() * 100:.1f}%)"
                    return self._change(cfg, (new_w, c), "ramp", why)
                if self._dir_gained or self._tried_reverse:
                    break
                self._ramp_done(w)
            self.phase = "hold"
        if self.phase == "hold" and not self._writers_tuned:
            # the ramp has ended; chunks past the batch-time target, not tried before it (a
            # bad start sizes its tiny chunks toward the target and stops there), get their
            # trial now, at the writer count they will run with
            self._writers_tuned = True
            if not self._larger_tried:
                self.phase, self._larger_only = "chunk", True
                step = self._chunk_step(m, cfg)
                if step is not None:
                    return self._change(cfg, (w, step[0]), "chunk", step[1])
                self._end_chunk_phase()
        return self._steady(m, cfg)

    def _steady(self, m: MetricsSnapshot, cfg: Cfg) -> Decision:
        w, c = cfg
        since = m.taken_at - self._last_change_at
        if since < self.s.steady_gap:
            return self._hold(cfg, f"holding {w} writers / {c} rows (cooldown)")
        target = self._chunk_target(m, cfg)
        drifted = not self._on_target(m)
        if target is not None and target > c and self.growth_blocked(m):
            target = None
        if target is not None and target < c and not self._shrinks(m, target):
            target = None
        if target is not None and target != c and drifted:
            why = f"batches drifted to {m.write_latency_p50:.2f}s; resizing chunks"
            return self._change(cfg, (w, target), "chunk", why)
        if since >= self.s.probe_every:
            up = self._writer_step(w, 1, True, m)
            down = self._writer_step(w, -1, True, m)
            new_w = up if (self._probe_up and up != w) or down == w else down
            self._probe_up = not self._probe_up
            if new_w != w:
                return self._change(cfg, (new_w, c), "probe", f"probing {new_w} writers")
        return self._hold(cfg, f"holding {w} writers / {c} rows: best measured", "high")

    def candidates(self) -> list[Decision]:
        """Sensible, valid decisions for now (always including ``continue``) for the AI."""
        m, cfg = self._last, self._cfg
        if m is None or cfg is None or cfg[0] <= 0 or cfg[1] <= 0:
            return []
        w, c = cfg
        options: list[tuple[Cfg, str]] = []
        p = self.proposal
        if p is not None and (p.writers, p.chunk_size) != cfg:
            # the rules' own next step comes first: an AI that always takes the first
            # candidate behaves exactly like the fallback controller
            options.append(((p.writers, p.chunk_size), f"the rules' choice: {p.reasoning}"))
        options += [
            (cfg, "keep the current settings"),
            ((self._writer_step(w, 1, False, m), c), "ramp writers up"),
            ((self._writer_step(w, 1, True, m), c), "one small writer step up"),
            ((self._writer_step(w, -1, True, m), c), "one small writer step down"),
        ]
        if self.chunk_can_apply(m):
            if not self.growth_blocked(m):
                options.append(((w, on_grid(c * 2, "floor")), "double the chunk size"))
            options.append(((w, on_grid(c / 2, "ceil")), "halve the chunk size"))
        out: list[Decision] = []
        for new, why in options:
            if any((d.writers, d.chunk_size) == new for d in out):
                continue
            try:
                out.append(self.validate(self._change(cfg, new, "ai", why)))
            except DecisionRejected:
                continue
        return out

    def commit(self, d: Decision, decision_id: int | None = None) -> None:
        """Record that ``d`` was applied; its effect is measured from the next intervals."""
        if self._cfg is None or self._last is None:
            return
        new = (d.writers, d.chunk_size)
        if new == self._cfg:
            return
        if self._pending is not None:
            self._finish(self._pending, _measured(self._pending), False)
        kind = d.kind
        if d.source in ("ai", "cache"):
            # an AI choice that is the rules' own proposal is judged like the rules' step (a
            # ramp that stops paying ends the ramp); any other AI choice is judged as "ai"
            rules = self.proposal
            same = rules is not None and (rules.writers, rules.chunk_size) == new
            kind = rules.kind if same and rules is not None and rules.kind != "hold" else "ai"
        baseline = self._baseline(self._cfg)
        self._pending = _Pending(
            self._cfg, new, kind, baseline, self._last.taken_at, decision_id,
            batch_rows=self._last.rows_per_batch, batch_seconds=self._last.write_latency_p50,
        )  # fmt: skip
        if kind == "revert":
            self._pending.trial = self._undone
        self._undone = None
        if self._confirm is not None and self._confirm[0] == new:
            for k, v in self._confirm[1].items():
                setattr(self, k, v)
        self._confirm = None
        self._last_change_at = self._last.taken_at
        if kind == "chunk":
            self._chunk_moved = True
        if kind == "safety" and d.writers < self._cfg[0]:
            self.phase = "hold"  # a back-off: do not ramp straight back into trouble
