"""Step 4 of a run: the copy, retried in process after a lost connection, with its monitor
and learned starts wired in. Every attempt's decisions and applied changes are stored when it
ends, and its monitor's samples as they are taken, on one timeline for the whole run (a retry
or a ``dmt resume`` continues it)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from dmt.checkpoint import Checkpointer
from dmt.errors import Cancelled, ConnectError
from dmt.learning import Learner, server_versions
from dmt.model.job import TableJob
from dmt.paths.base import DataPath
from dmt.paths.choose import choose as choose_path
from dmt.paths.rows import bridge_rows
from dmt.pipeline.knobs import Knobs
from dmt.pipeline.pipeline import Pipeline
from dmt.pipeline.stats import PipelineCounters
from dmt.pipeline.updates import UpdateSlot
from dmt.plan import Plan
from dmt.progress import NullReporter
from dmt.runs import save_adjustments
from dmt.schema.translate import key_for
from dmt.state import StateStore

if TYPE_CHECKING:
    from dmt.run import Migration

log = logging.getLogger("dmt")

#: seconds to wait before each in-process retry of the copy after a lost connection; the
#: retry is a resume (chunks in flight are removed from the target and copied again), so a
#: batch whose COMMIT outcome is unknown is never written twice
COPY_RETRY_BACKOFF = (2.0, 5.0, 10.0)


def copy_with_retries(
    mig: Migration, store: StateStore, run_id: str, plan: Plan, resume: bool
) -> None:
    """Copy; after a lost connection, wait and copy again as a resume would (bounded)."""
    learner = Learner(store, mig.cfg, run_id)
    learner.max_writers = plan.target.max_writers
    learner.versions = server_versions(plan) if learner.enabled else ""
    for attempt in range(len(COPY_RETRY_BACKOFF) + 1):
        checkpoints = Checkpointer(
            store, run_id, plan.source, plan.target, resuming=resume or attempt > 0,
            stall_timeout=mig.cfg.migration.stall_timeout, after_table=learner.table_done,
        )  # fmt: skip
        try:
            if attempt and mig.snapshot is not None:
                mig.snapshot.renew()  # the lost connection may have ended the old one
            copy(mig, store, run_id, plan, checkpoints, learner)
            return
        except ConnectError as exc:
            if attempt == len(COPY_RETRY_BACKOFF) or mig.abort.is_set():
                raise
            mig.counters.add("retries")
            delay = COPY_RETRY_BACKOFF[attempt]
            log.warning(
                "%s; copying again in %.0fs (retry %d of %d; chunks in flight are removed "
                "from the target first)", exc, delay, attempt + 1, len(COPY_RETRY_BACKOFF),
            )  # fmt: skip
            if mig.abort.wait(delay):
                raise Cancelled() from exc


def copy(
    mig: Migration, store: StateStore, run_id: str, plan: Plan, checkpoints: Checkpointer,
    learner: Learner,
) -> None:  # fmt: skip
    """One copy attempt of every table still to copy."""
    cfg, m = mig.cfg, mig.cfg.migration
    source, target = plan.source, plan.target
    jobs = [
        TableJob(
            source=p.source,
            target=p.target,
            key=key_for(p.source),
            convert=bridge_rows(source, p.source, target, p.target, mig.values),
        )
        for p in plan.tables
    ]
    paths: dict[str, DataPath] = {}
    for p in plan.tables:
        path = choose_path(source, target, p, m.data_path)
        if path is not None:
            paths[p.source.name] = path
    knobs = Knobs(
        tables_in_flight=m.tables_in_flight, chunk_size=m.chunk_size,
        parallel_readers=m.parallel_readers, read_ahead_buffers=m.read_ahead_buffers,
        writers=m.write_ahead_writers, max_memory_mb=m.max_memory_mb,
        chunk_size_at=m.chunk_size_at,
    )  # fmt: skip
    mig.paths = {
        p.source.name: paths[p.source.name].name if p.source.name in paths else "rows"
        for p in plan.tables
    }
    learner.paths, learner.knobs = mig.paths, knobs
    mig.counters = counters = PipelineCounters()
    slot = mig.slot or UpdateSlot()
    total = sum(p.source.row_estimate for p in plan.tables)
    reporter = mig.reporter_factory(total) if mig.reporter_factory else NullReporter()
    args = (source, target, jobs, knobs, counters, slot, reporter)
    kw: dict[str, Any] = {
        "checkpoints": checkpoints, "abort": mig.abort, "stall_timeout": m.stall_timeout,
        "start_for": learner.start_for,
    }  # fmt: skip
    if mig.cluster is not None:  # executor: ray
        from dmt.cluster import cluster_pipeline

        pipeline: Pipeline = cluster_pipeline(
            cfg, mig.cluster, jobs, paths, mig.values, plan.tables, *args, **kw
        )
    else:
        pipeline = Pipeline(*args, paths=paths, **kw)
    mig.pipeline = pipeline  # the copy under way (tests look at a cluster copy's ranges)
    monitor = None
    if m.ai_adjust:
        from dmt.tuning.monitor import build_monitor

        t_base, first_id = timeline_end(store, run_id)
        monitor = build_monitor(
            counters.snapshot, slot, m, cfg.ai, max_writers=target.max_writers, t_base=t_base,
            on_sample=lambda s: _keep_sample(store, run_id, s), first_id=first_id,
            host=getattr(pipeline, "host", None),
        )  # fmt: skip
        learner.samples = lambda: list(monitor.samples)
    mig.monitor = monitor
    mig.copies.append((counters, monitor))
    try:
        if monitor is not None:
            monitor.start()
        pipeline.run()
    finally:
        mig.rows_copied += counters.rows_total
        mig.applied += pipeline.applied
        if monitor is not None:
            monitor.stop()
        reporter.close()
        save_adjustments(store, run_id, monitor, pipeline.applied, samples=False)


def _keep_sample(store: StateStore, run_id: str, sample: dict[str, Any]) -> None:
    store.save_adjustments(run_id, [{"kind": "sample", **sample}])


def timeline_end(store: StateStore, run_id: str) -> tuple[float, int]:
    """Where the run's timeline stands now: the last stored sample's ``t`` plus the wall-clock
    seconds since it was taken (0 for a run without samples), and the next decision id."""
    stored = store.adjustments(run_id)
    samples = [a for a in stored if a.get("kind") == "sample"]
    next_id = 1 + max((int(a["id"]) for a in stored if a.get("kind") == "decision"), default=0)
    if not samples:
        return 0.0, next_id
    last = samples[-1]
    gap = time.time() - float(last["wall"]) if last.get("wall") else 0.0
    return round(float(last.get("t") or 0.0) + max(0.0, gap), 3), next_id
