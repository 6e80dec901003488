"""The orchestrator: connect -> plan -> create -> pipeline (+ monitor) -> finalize -> validate
-> report. The only module that wires the parts together; the plan is made in
:mod:`dmt.plan`, Ctrl-C is handled in :mod:`dmt.signals`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from dmt.config import Config
from dmt.copying import copy_with_retries
from dmt.dialects.base import ValueCounters
from dmt.dialects.snapshot import RunSnapshot
from dmt.errors import Cancelled, DmtError, ValidationMismatch
from dmt.logs import redact
from dmt.pipeline.stats import PipelineCounters
from dmt.pipeline.updates import UpdateSlot
from dmt.plan import Plan, connected, make_plan
from dmt.proc import since_start
from dmt.progress import Reporter
from dmt.report import RunResult, TableSummary, happened
from dmt.runs import open_run, untranslated
from dmt.schema.ddl import post_load, prepare_target
from dmt.schema.objects import create_objects
from dmt.schema.views import create_views
from dmt.signals import signals_to
from dmt.state import StateStore
from dmt.tuning.export import Attempt, RunMetrics, serving

if TYPE_CHECKING:
    from dmt.validate import ValidationReport

log = logging.getLogger("dmt")

TOTAL_STEPS = 6


def _step(n: int, text: str) -> None:
    log.info("Step %d/%d: %s", n, TOTAL_STEPS, text)


class Migration:
    """One run (or resumed run) of the whole migration, phase by phase."""

    def __init__(
        self,
        cfg: Config,
        reporter_factory: Callable[[int], Reporter] | None = None,
        abort: threading.Event | None = None,
        slot: UpdateSlot | None = None,
    ) -> None:
        self.cfg = cfg
        self.reporter_factory = reporter_factory
        self.abort = abort or threading.Event()  # set by the user (Ctrl-C / SIGTERM) only
        self.slot = slot  # runtime updates from outside (tests, embedding); else a new one
        self.validation: ValidationReport | None = None
        self.started = time.monotonic()
        self.values = ValueCounters()
        self.monitor: Any = None
        self.applied: list[dict[str, Any]] = []
        self.paths: dict[str, str] = {}  # table -> data path that carried it
        self.counters = PipelineCounters()  # the copy's counters; replaced when the copy starts
        self.copies: list[tuple[PipelineCounters, Any]] = []  # (counters, monitor) per attempt
        self.metrics = RunMetrics(self._attempts)
        self.rows_copied = 0  # rows this process wrote, over every copy attempt
        self.snapshot: RunSnapshot | None = None  # the source's, from the copy to validation
        self.cluster: Any = None  # the Ray session (executor: ray), from the copy to the end
        self.pipeline: Any = None  # the copy under way (tests look at a cluster copy's ranges)
        if cfg.migration.executor == "ray":
            from dmt.cluster import RaySession  # Ray is imported only for this executor

            self.cluster = RaySession(cfg.ray.address)

    def execute(self, resume: bool = False, force: bool = False) -> RunResult:
        """Run (or resume) the migration; raises a DmtError on failure."""
        m = self.cfg.migration
        with serving(self.metrics, m.metrics_port, m.metrics_host):
            return self._execute(resume, force)

    def _attempts(self) -> list[Attempt]:
        return [
            (c.snapshot(), monitor.decision_counts() if monitor is not None else {})
            for c, monitor in self.copies
        ]

    def _execute(self, resume: bool, force: bool) -> RunResult:
        store = StateStore(self.cfg.migration.state_dir)
        target_id = self.cfg.target.describe()
        try:
            store.acquire(target_id)
            store.mark_crashed(target_id)
            run_id, phase = open_run(store, self.cfg, resume, force)
            try:
                try:
                    result = self._phases(store, run_id, phase, resume)
                except Exception as exc:  # a driver error no layer translated: still honest
                    if isinstance(exc, DmtError):
                        raise
                    raise untranslated(self.cfg, exc) from exc
            except BaseException as exc:
                status = "cancelled" if isinstance(exc, Cancelled) else "failed"
                if isinstance(exc, ValidationMismatch):
                    status = "validation_mismatch"
                store.finish_run(run_id, status, error=redact(str(exc)) or type(exc).__name__)
                raise
            store.set_phase(run_id, "done")
            store.finish_run(
                run_id, "success", rows=result.rows_transferred,
                rows_per_second=result.rows_per_second, result=result.to_json(),
            )  # fmt: skip
            return result
        finally:
            if self.snapshot is not None:
                self.snapshot.close()
            if self.cluster is not None:
                self.cluster.close()
            store.close()

    def _phases(self, store: StateStore, run_id: str, phase: str, resume: bool) -> RunResult:
        cfg, m = self.cfg, self.cfg.migration
        _step(1, f"connecting to {cfg.source.describe()} and {cfg.target.describe()}")
        _step(2, "reading the source schema")

        def create(plan: Plan, tconn: Any) -> None:
            for g in plan.warning_groups:
                log.warning("%s", g.line())
                for w in g.messages:
                    log.debug("  %s", w)
            if phase != "prepare":
                _step(3, "target tables exist (resuming)")
                return
            _step(3, f"creating {len(plan.tables)} table(s) on the target ({m.target_mode})")
            prepare_target(
                plan.target, tconn, plan.tables, m.target_mode,
                lambda: create_objects(plan.target, tconn, plan.objects, "before"),
            )  # fmt: skip
            store.set_phase(run_id, "copy")

        plan = make_plan(cfg, then=create)
        source, target = plan.source, plan.target
        source.statement_seconds = target.statement_seconds = m.statement_timeout  # post-copy
        if m.ai_adjust and cfg.ai.provider == "claude":
            from dmt.tuning.claude import preload_sdk

            preload_sdk()  # start-up, not copy time: it once sat inside the copy's clock
        readers = min(m.tables_in_flight, len(plan.tables)) * m.parallel_readers
        held = [p.source.name for p in plan.tables if m.data_path != "rows"]
        self.snapshot = RunSnapshot(source, readers, m.consistency == "snapshot", held)
        self.snapshot.open()  # held through validation, which reads the same moment
        if self.cluster is not None:
            self.cluster.open()  # joining the cluster is start-up, not copy time
        copy_started = time.monotonic()
        _step(4, f"copying {len(plan.tables)} table(s)")
        copy_with_retries(self, store, run_id, plan, resume)
        copy_seconds = time.monotonic() - copy_started
        if m.validate == "none":
            self.snapshot.close()  # nothing reads the source again: let it go now
        first_row, last_row = self._row_times()
        self._check_cancel()
        store.set_phase(run_id, "finalize")
        _step(5, "creating indexes, foreign keys and sequences")
        with connected(target, timed=True) as tconn:
            post_load(
                target, tconn, plan.tables, m.create_indexes, m.create_foreign_keys,
                done=store.post_load_done(run_id),
                mark=lambda obj: store.mark_post_load(run_id, obj),
                created=set(plan.target_actions.created), resuming=resume,
            )  # fmt: skip
            create_objects(target, tconn, plan.objects, "after")
            create_views(target, tconn, plan.views)
        self._check_cancel()
        store.set_phase(run_id, "validate")
        mismatches: list[str] = []
        if m.validate != "none":
            _step(6, f"validating ({m.validate})")
            from dmt.validate import validate  # its thread pool and hashing: only when asked

            self.validation = validate(
                source, target, plan.tables, m.validate,
                chunk_size=m.chunk_size, tables_in_flight=m.tables_in_flight, abort=self.abort,
            )  # fmt: skip
            mismatches = self.validation.mismatches
        stored = {t["name"]: t for t in store.tables(run_id)}
        tables = [
            TableSummary(
                p.source.name,
                int(stored.get(p.source.name, {}).get("rows_done") or 0),
                float(stored.get(p.source.name, {}).get("seconds") or 0.0),
                self.paths.get(p.source.name, "rows"),
            )
            for p in plan.tables
        ]
        summary = RunResult(
            run_id=run_id,
            status="success" if not mismatches else "validation_mismatch",
            source=cfg.source.describe(),
            target=cfg.target.describe(),
            tables=tables,
            duration_seconds=time.monotonic() - self.started,
            copy_seconds=copy_seconds,
            adjustments=self.applied,
            value_conversions=dict(self.values.counts),
            warnings=plan.warnings,
            warning_groups=happened(plan.warning_groups, self.values.counts),
            monitor=self.monitor.to_dict() if self.monitor is not None else None,
            resumed=resume,
            metrics=self.metrics.values(),
            first_row_s=first_row,
            last_row_s=last_row,
            rows_copied=self.rows_copied,
        )
        if mismatches:
            raise ValidationMismatch(mismatches, result=summary)
        return summary

    def _row_times(self) -> tuple[float | None, float | None]:
        """Seconds from the process start to the first and the last row written (logged)."""
        c = self.counters
        if not c.first_row_at:
            return None, None
        first, last = since_start(c.first_row_at), since_start(c.last_row_at)
        log.debug("first row written %.3fs after the process started, last row %.3fs", first, last)
        return first, last

    def _check_cancel(self) -> None:
        if self.abort.is_set():
            raise Cancelled()


def execute(
    cfg: Config,
    reporter_factory: Callable[[int], Reporter] | None = None,
    abort: threading.Event | None = None,
    resume: bool = False,
    force: bool = False,
) -> RunResult:
    """Run (or resume) the whole migration; raises a DmtError on failure."""
    return Migration(cfg, reporter_factory, abort).execute(resume=resume, force=force)


__all__ = ["DmtError", "Plan", "execute", "make_plan", "signals_to"]
