"""The monitor thread: collect → decide (Claude or the rules) → validate → put an update.

It touches the pipeline only through the :class:`~dmt.pipeline.updates.UpdateSlot`; the
pipeline never calls it. ``tick()`` runs one iteration synchronously, so tests drive the loop
with an injected clock instead of sleeping.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable

from dmt.config import AIConfig, MigrationConfig
from dmt.pipeline.stats import PipelineSnapshot
from dmt.pipeline.updates import UpdateSlot
from dmt.settings import Update, default_writers
from dmt.tuning.claude import AIAdjuster, AIAdjustmentError, AIDisabled
from dmt.tuning.controller import Controller, ControllerSettings
from dmt.tuning.decisions import Decision, DecisionRecord, DecisionRejected
from dmt.tuning.metrics import HostSample, MetricsCollector, MetricsSnapshot
from dmt.tuning.prompt import context

log = logging.getLogger("dmt.monitor")

# the metrics worth a line in a decision record (the full snapshot is in the AI prompt)
RECORD_METRICS = (
    "rows_per_sec",
    "mb_per_sec",
    "write_latency_p50",
    "write_latency_p95",
    "process_rss_mb",
    "system_memory_percent",
    "system_cpu_percent",
    "queue_fill_ratio",
    "errors_in_interval",
    "throughput_trend_percent",
)

#: at most this many per-interval samples are kept (a 30 s interval fills it in ~83 hours);
#: beyond it every other sample is dropped, so a long run keeps its whole shape at half the rate
MAX_SAMPLES = 10_000


class AIMonitor(threading.Thread):
    """A periodic thread in rich's ``_RefreshThread`` shape: it loops on
    ``stop_event.wait(interval)`` and calls :meth:`tick`; :meth:`stop` sets the event and
    joins."""

    def __init__(
        self,
        collector: MetricsCollector,
        controller: Controller,
        slot: UpdateSlot,
        *,
        interval: float = 30.0,
        adjuster: AIAdjuster | None = None,
        t_base: float = 0.0,
        on_sample: Callable[[dict[str, object]], None] | None = None,
        first_id: int = 1,
    ) -> None:
        super().__init__(name="dmt-monitor", daemon=True)
        self.collector, self.controller, self.slot = collector, controller, slot
        self.interval = interval
        self.adjuster = adjuster
        self.stop_event = threading.Event()
        self.records: list[DecisionRecord] = []
        self.samples: list[dict[str, object]] = []
        self._t0: float | None = None
        #: the run's timeline: a sample's ``t`` is ``t_base`` plus seconds since this monitor's
        #: first interval began (a retried or resumed copy continues where the last stopped)
        self.t_base = t_base
        self.on_sample = on_sample  # each sample as it is taken (the state store keeps it)
        self.first_id = first_id  # decision ids go on from an earlier attempt's of the run
        self.last_decision: Decision | None = None
        self.ticks = 0
        self._lock = threading.Lock()
        if adjuster is not None and not adjuster.enabled:
            log.warning(
                "AI disabled: %s; using rule-based adjustment only", adjuster.disabled_reason
            )

    @property
    def ai_active(self) -> bool:
        return self.adjuster is not None and self.adjuster.enabled

    def run(self) -> None:
        mode = "AI-driven" if self.ai_active else "Rule-based"
        log.info("%s parameter adjustment enabled (interval: %gs)", mode, self.interval)
        while not self.stop_event.wait(self.interval):
            try:
                self.tick()
            except Exception:  # a monitor bug must never stop the migration
                log.exception("monitor tick failed; the pipeline keeps its current settings")

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the loop, wait for the thread and close the API client."""
        self.stop_event.set()
        if self.is_alive():
            self.join(timeout)
        if self.adjuster is not None:
            self.adjuster.close()

    # ------------------------------------------------------------------ one iteration
    def tick(self) -> DecisionRecord | None:
        """Collect, decide, validate and (if something changes) put one update."""
        m = self.collector.collect()
        log.info(
            "Metrics snapshot: %.0f rows/sec, memory=%.0fMB (%.0f%%), CPU=%.0f%%, "
            "throughput_trend=%.1f%%",
            m.rows_per_sec,
            m.process_rss_mb,
            m.system_memory_percent,
            m.system_cpu_percent,
            m.throughput_trend_percent,
        )
        with self._lock:
            self.ticks += 1
            if self._t0 is None:
                self._t0 = m.taken_at - m.interval_seconds
            decision = self._decide(m)
            self.last_decision = decision
            self._record_effects()
            rec = self._apply(decision, m)
            sample = self._sample(m, rec)
        if self.on_sample is not None:
            try:
                self.on_sample(sample)
            except Exception as exc:  # a store that cannot keep a sample must not stop the copy
                log.warning("monitor sample not stored: %s", exc)
        return rec

    def timeline(self, at: float) -> float:
        """The run-timeline ``t`` of the monotonic clock reading ``at``."""
        return round(self.t_base + at - (self._t0 if self._t0 is not None else at), 3)

    def _sample(self, m: MetricsSnapshot, rec: DecisionRecord | None) -> dict[str, object]:
        """One point of the run's time series (for ``dmt history --plot``): the interval's
        throughput and the settings it ran with; ``decision`` is the id of the change made at
        its end, if any. ``t`` is on the run's timeline (:meth:`timeline`); ``at`` is the
        monotonic clock that :attr:`DecisionRecord.at` also uses."""
        sample: dict[str, object] = {
                "t": self.timeline(m.taken_at),
                "interval": round(m.interval_seconds, 3),
                "at": round(m.taken_at, 3),
                "wall": round(time.time(), 3),
                "rows_per_sec": round(m.rows_per_sec, 1),
                "mb_per_sec": round(m.mb_per_sec, 3),
                "writers": m.target_writers or m.active_writers,
                "active_writers": m.active_writers,
                "chunk_size": m.chunk_size,
                "rows_per_batch": round(m.rows_per_batch, 1) if m.batches_in_interval else None,
                "write_latency_p50": round(m.write_latency_p50, 4),
                "rss_mb": round(m.process_rss_mb, 1),
                "memory_percent": round(m.system_memory_percent, 1),
                "cpu_percent": round(m.system_cpu_percent, 1),
                "table": m.current_table,
                "decision": rec.id if rec is not None else None,
        }  # fmt: skip
        self.samples.append(sample)
        if len(self.samples) > MAX_SAMPLES:
            self.samples = self.samples[:1] + self.samples[2::2]
        return sample

    def _decide(self, m: MetricsSnapshot) -> Decision:
        ctl = self.controller
        rules = ctl.decide(m)
        if rules.mandatory or not ctl.ready() or not self.ai_active:
            return rules
        assert self.adjuster is not None
        try:
            ai = self.adjuster.decide(context(m, ctl, self.records), ctl.validate)
        except AIDisabled as exc:
            log.warning("AI disabled for the rest of the run: %s; using fallback rules", exc)
            return rules
        except AIAdjustmentError as exc:
            log.warning("AI adjustment failed: %s, using fallback rules", exc)
            return rules
        return ai if ai is not None else rules

    def _apply(self, d: Decision, m: MetricsSnapshot) -> DecisionRecord | None:
        before = (m.target_writers or m.active_writers, m.chunk_size)
        if d.point == before:
            return None
        try:
            self.controller.validate(d)
        except DecisionRejected as exc:  # the rules must never propose this: say so, skip it
            log.error("dropping invalid %s decision: %s", d.source, exc)
            return None
        rec = DecisionRecord(
            id=self.first_id + len(self.records),
            at=m.taken_at,
            t=self.timeline(m.taken_at),
            source=d.source,
            action=d.action,
            confidence=d.confidence,
            reasoning=d.reasoning,
            writers_before=before[0],
            chunk_size_before=before[1],
            writers_after=d.writers,
            chunk_size_after=d.chunk_size,
            metrics={k: round(getattr(m, k), 3) for k in RECORD_METRICS},
        )
        self.records.append(rec)
        self.slot.put(
            Update(
                writers=d.writers if d.writers != before[0] else None,
                chunk_size=d.chunk_size if d.chunk_size != before[1] else None,
                source=d.source,
                action=d.action,
                reason=d.reasoning,
                decision_id=rec.id,
            )
        )
        self.controller.commit(d, rec.id)
        if d.kind == "revert" and self.adjuster is not None:
            self.adjuster.invalidate_cache()  # never re-apply a decision that was just undone
        if d.source in ("ai", "cache"):
            log.info("AI adjustment applied: %s - %s", d.action, d.reasoning)
        else:
            log.info("Adjustment applied (%s): %s - %s", d.source, d.action, d.reasoning)
        return rec

    def _record_effects(self) -> None:
        by_id = {r.id: r for r in self.records}
        for eff in self.controller.pop_effects():
            rec = by_id.get(eff.decision_id) if eff.decision_id is not None else None
            if rec is not None:
                rec.effect_percent, rec.reverted = eff.effect_percent, eff.reverted

    # ------------------------------------------------------------------ reporting
    def status(self) -> dict[str, object]:
        """Last decision and its source, AI and breaker state, calls, tokens and cost."""
        with self._lock:
            d = self.last_decision
            ai = self.adjuster.status() if self.adjuster is not None else {"enabled": False}
            return {
                "ticks": self.ticks,
                "phase": self.controller.phase,
                "last_decision": d.to_dict() if d else None,
                "last_source": d.source if d else None,
                "ai": ai,
                "decisions": len(self.records),
            }

    def decision_counts(self) -> dict[tuple[str, str], int]:
        """Applied decisions so far by ``(source, action)``, for the run's metrics."""
        with self._lock:
            pairs = [(r.source, r.action) for r in self.records]
        return {pair: pairs.count(pair) for pair in set(pairs)}

    def to_dict(self) -> dict[str, object]:
        """Everything run.py persists and puts into ``--output-json``."""
        status = self.status()
        with self._lock:
            status["records"] = [r.to_dict() for r in self.records]
            status["samples"] = list(self.samples)
        return status


def build_monitor(
    sample: Callable[[], PipelineSnapshot],
    slot: UpdateSlot,
    migration: MigrationConfig,
    ai: AIConfig,
    *,
    clock: Callable[[], float] = time.monotonic,
    host: Callable[[], HostSample] | None = None,
    max_writers: int | None = None,
    t_base: float = 0.0,
    on_sample: Callable[[dict[str, object]], None] | None = None,
    first_id: int = 1,
) -> AIMonitor:
    """Wire collector, controller and (when configured) the AI adjuster from the config.
    ``max_writers`` is the target's declared writer limit (None: the knob's bound): no
    decision, and no tool schema the AI answers with, goes past it."""
    settings = ControllerSettings.for_interval(
        migration.ai_adjust_interval,
        migration.max_memory_mb,
        migration.chunk_size_at,
        default_writers(),
        max_writers,
    )
    controller = Controller(settings)
    adjuster = None
    if ai.provider == "claude":
        adjuster = AIAdjuster(ai, clock=clock, writers_high=settings.writers_high)
        with contextlib.suppress(AIDisabled):  # disabled_reason is set; AIMonitor logs it
            adjuster.warm_up()
    # after the warm-up: the collector's first interval starts with the pipeline
    collector = MetricsCollector(sample, clock=clock, host=host)
    return AIMonitor(
        collector, controller, slot, interval=migration.ai_adjust_interval, adjuster=adjuster,
        t_base=t_base, on_sample=on_sample, first_id=first_id,
    )  # fmt: skip
