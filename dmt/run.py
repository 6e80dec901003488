"""The orchestrator: connect -> plan -> create -> pipeline (+ monitor) -> finalize -> validate
-> report. The only module that wires the parts together."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dmt.config import Config
from dmt.dialects.base import Converter, Dialect, ValueCounters, get_dialect
from dmt.errors import Cancelled, DmtError, ValidationMismatch
from dmt.pipeline.pipeline import Knobs, Pipeline, TableJob
from dmt.pipeline.reader import make_row_converter
from dmt.pipeline.stats import PipelineCounters
from dmt.pipeline.updates import UpdateSlot
from dmt.progress import NullReporter, Reporter
from dmt.report import RunResult, TableSummary
from dmt.schema.ddl import PrepareReport, plan_target, post_load, prepare_target
from dmt.schema.model import Schema
from dmt.schema.translate import TablePlan, key_for, translate
from dmt.validate import count_mismatches

log = logging.getLogger("dmt")

TOTAL_STEPS = 6


def _step(n: int, text: str) -> None:
    log.info("Step %d/%d: %s", n, TOTAL_STEPS, text)


@dataclass
class Plan:
    """Everything decided before a row moves: what ``dmt plan`` prints."""

    source: Dialect
    target: Dialect
    schema: Schema
    tables: list[TablePlan]
    target_actions: PrepareReport
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source.endpoint.describe(),
            "target": self.target.endpoint.describe(),
            "tables": [
                {
                    "source": p.source.name,
                    "target": p.target.name,
                    "rows_estimate": p.source.row_estimate,
                    "columns": {c.name: p.types[c.name] for c in p.target.columns},
                    "primary_key": list(p.target.primary_key),
                }
                for p in self.tables
            ],
            "will_drop": self.target_actions.dropped,
            "will_create": self.target_actions.created,
            "will_empty": self.target_actions.emptied,
            "will_append": self.target_actions.kept,
            "not_migrated": {
                "views": self.schema.views,
                "triggers": self.schema.triggers,
                "routines": self.schema.routines,
            },
            "warnings": self.warnings,
        }


@contextmanager
def connected(dialect: Dialect) -> Iterator[Any]:
    conn = dialect.connect()
    try:
        yield conn
    finally:
        try:
            conn.close()
        except Exception as exc:  # nothing useful to do with a failed close
            log.debug("close failed: %s", exc)


def make_plan(cfg: Config) -> Plan:
    """Connect to both sides, reflect the source and map it onto the target. Changes nothing."""
    source = get_dialect(cfg.source, "source")
    target = get_dialect(cfg.target, "target")
    with connected(source) as sconn:
        schema = source.reflect(sconn, cfg.migration.selects)
    plans = translate(schema.tables, target, cfg.migration, cfg.type_overrides)
    with connected(target) as tconn:
        actions = plan_target(target, tconn, plans, cfg.migration.target_mode)
    warnings = [w for p in plans for w in p.warnings]
    for p in plans:
        if not key_for(p.source):
            warnings.append(f"{p.source.name}: no primary key; copied as one ordered stream")
    return Plan(source, target, schema, plans, actions, warnings)


def _converter(source: Dialect, target: Dialect, plan: TablePlan, counters: ValueCounters) -> Any:
    decs = source.decoders(plan.source, counters)
    encs = target.encoders(plan.target, counters)
    convs: list[Converter | None] = []
    for d, e in zip(decs, encs, strict=True):
        if d is not None and e is not None:
            convs.append(_compose(d, e))
        else:
            convs.append(d or e)
    return make_row_converter(convs)


def _compose(first: Converter, second: Converter) -> Converter:
    return lambda v: second(first(v))


def execute(
    cfg: Config,
    reporter_factory: Callable[[int], Reporter] | None = None,
    abort: threading.Event | None = None,
) -> RunResult:
    """Run the whole migration; raises a DmtError on failure."""
    run_id = uuid.uuid4().hex[:12]
    started = time.monotonic()
    m = cfg.migration
    _step(1, f"connecting to {cfg.source.describe()} and {cfg.target.describe()}")
    _step(2, "reading the source schema")
    plan = make_plan(cfg)
    for w in plan.warnings:
        log.warning("%s", w)
    source, target = plan.source, plan.target
    _step(3, f"creating {len(plan.tables)} table(s) on the target ({m.target_mode})")
    with connected(target) as tconn:
        prepare_target(target, tconn, plan.tables, m.target_mode)
    values = ValueCounters()
    jobs = [
        TableJob(
            source=p.source,
            target=p.target,
            key=key_for(p.source),
            convert=_converter(source, target, p, values),
        )
        for p in plan.tables
    ]
    knobs = Knobs(
        workers=m.workers,
        chunk_size=m.chunk_size,
        parallel_readers=m.parallel_readers,
        read_ahead_buffers=m.read_ahead_buffers,
        writers=m.write_ahead_writers,
        max_memory_mb=m.max_memory_mb,
        chunk_size_at=m.chunk_size_at,
    )
    counters = PipelineCounters()
    slot = UpdateSlot()
    total = sum(p.source.row_estimate for p in plan.tables)
    reporter = reporter_factory(total) if reporter_factory else NullReporter()
    pipeline = Pipeline(source, target, jobs, knobs, counters, slot, reporter, abort=abort)
    monitor = None
    if m.ai_adjust:
        from dmt.monitor.ai_monitor import build_monitor

        monitor = build_monitor(counters.snapshot, slot, m, cfg.ai)
    _step(4, f"copying {len(jobs)} table(s)")
    copy_started = time.monotonic()
    try:
        if monitor is not None:
            monitor.start()
        result = pipeline.run()
    finally:
        if monitor is not None:
            monitor.stop()
        reporter.close()
    copy_seconds = time.monotonic() - copy_started
    _step(5, "creating indexes, foreign keys and sequences")
    with connected(target) as tconn:
        post_load(target, tconn, plan.tables, m.create_indexes, m.create_foreign_keys)
    mismatches: list[str] = []
    if m.validate != "none":
        _step(6, f"validating ({m.validate})")
        mismatches = count_mismatches(
            source, target, [(p.source.name, p.target.name) for p in plan.tables]
        )
    summary = RunResult(
        run_id=run_id,
        status="success" if not mismatches else "validation_mismatch",
        source=cfg.source.describe(),
        target=cfg.target.describe(),
        tables=[TableSummary(t.name, t.rows, t.seconds, t.path) for t in result.tables],
        duration_seconds=time.monotonic() - started,
        copy_seconds=copy_seconds,
        adjustments=result.applied,
        value_conversions=dict(values.counts),
        warnings=plan.warnings,
        monitor=monitor.to_dict() if monitor is not None else None,
    )
    if mismatches:
        raise ValidationMismatch(mismatches, result=summary)
    return summary


@contextmanager
def signals_to(abort: threading.Event) -> Iterator[None]:
    """First Ctrl-C / SIGTERM: stop cleanly (exit 5 later); second: exit at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if abort.is_set():
            os._exit(Cancelled.exit_code)
        abort.set()
        log.warning("stopping: finishing batches in flight (press Ctrl-C again to exit at once)")

    old_int = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


__all__ = ["DmtError", "Plan", "execute", "make_plan", "signals_to"]
