"""``dmt calibrate``: measure a small grid of writers × chunk sizes around dmt's defaults (and
the config's own setting) on a sample of the largest tables, and keep the winners as learned
starts.

Each calibrated table's sample is a few blocks of consecutive key ranges spread along its key
(the same rows for every measurement). They are copied, by the data path the run would take,
into a scratch table on the target (``dmt_calibrate_<id>_<n>``: never a real target table),
emptied before each measurement and dropped at the end, also after a failure or Ctrl-C. The
grid is measured in rounds (every point once, then again) until the budget is spent; a
point's rate is the median of its repeats. The winner of each table is stored as a
``calibrated`` outcome, and the run's own settings' rate as a ``config`` one (what a learned
start must beat, :mod:`dmt.learning`).
"""

from __future__ import annotations

import logging
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from dmt.config import Config, MigrationConfig
from dmt.config.options import parse_duration
from dmt.dialects.base import ValueCounters
from dmt.errors import Cancelled, ConfigError
from dmt.learning import endpoints_key, pair_of, server_versions, table_shape
from dmt.model.job import TableJob
from dmt.model.ranges import Chunk
from dmt.paths.choose import choose as choose_path
from dmt.paths.rows import bridge_rows
from dmt.pipeline.chunks import plan_chunks
from dmt.pipeline.knobs import Knobs
from dmt.pipeline.pipeline import Pipeline
from dmt.pipeline.tracker import TableResult
from dmt.plan import Plan, connected, make_plan
from dmt.schema.ddl import prepare_target
from dmt.schema.translate import TablePlan, key_for
from dmt.settings import CHUNK_SIZE, default_writers, writer_bound
from dmt.state import StateStore
from dmt.state import learned as learned_rows

log = logging.getLogger("dmt")

#: tables calibrated: the largest ones with a key
TABLES = 2
#: rows of each table's sample: as many as two rounds of the grid copy in the budget (as a
#: probe of :data:`PROBE_ROWS` rows measured them), within these bounds and the table's size
SAMPLE_ROWS = (20_000, 300_000)
PROBE_ROWS = 30_000
#: rounds of the grid the budget should hold
ROUNDS = 2
#: blocks the sample is split into, spread along the key
BLOCKS = 3


@dataclass
class Point:
    """One grid point and the rates (rows/s) of its repeats."""

    writers: int
    chunk_size: int
    rates: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.rates) if self.rates else 0.0

    def to_dict(self) -> dict[str, Any]:
        rates = [round(r, 1) for r in self.rates]
        return {"writers": self.writers, "chunk_size": self.chunk_size, "rates": rates,
                "median": round(self.median, 1)}  # fmt: skip


@dataclass
class TableCalibration:
    """One table's sample, the grid measured on it and the point chosen."""

    table: str
    sample_rows: int
    path: str
    points: list[Point]
    own: tuple[int, int]
    chosen: Point | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table, "sample_rows": self.sample_rows, "path": self.path,
            "measured": [p.to_dict() for p in self.points], "own_settings": list(self.own),
            "chosen": self.chosen.to_dict() if self.chosen else None,
        }  # fmt: skip


def grid(own: tuple[int, int], max_writers: int | None) -> list[tuple[int, int]]:
    """Writers at half, once and twice dmt's default count (within the target's bound) ×
    chunk sizes at half, once and twice the default; the config's ``own`` setting first
    (measured too when it lies off the grid: what a learned start must beat)."""
    high = writer_bound(max_writers)
    w = min(default_writers(), high)
    c = next(f.default for f in fields(MigrationConfig) if f.name == "chunk_size")
    assert isinstance(c, int)
    ws = sorted({max(1, min(high, x)) for x in (w // 2 or 1, w, w * 2)})
    cs = sorted({CHUNK_SIZE.clamp(x) for x in (c // 2, c, c * 2)})
    points = [(a, b) for a in ws for b in cs if (a, b) != own]
    return [own, *points]


class SampleRanges:
    """The pipeline's checkpoints for a calibration: a table's chunks are the sample's key
    ranges, read ``per`` planned ranges at a time; nothing is recorded."""

    def __init__(self, blocks: list[list[Chunk]], per: int) -> None:
        self.blocks, self.per = blocks, per

    def chunks_for(self, job: TableJob, conn: Any, chunk_size: int) -> list[Chunk]:
        out: list[Chunk] = []
        for block in self.blocks:
            for i in range(0, len(block), self.per):
                part = block[i : i + self.per]
                out.append(Chunk(job.source.name, len(out), part[0].lower, part[-1].upper))
        return out

    def chunk_started(self, job: TableJob, chunk: Chunk) -> None:
        return None

    def chunk_committed(self, job: TableJob, chunk: Chunk, rows: int) -> None:
        return None

    def clean(self, job: TableJob, conn: Any, chunks: list[Chunk]) -> None:
        """Nothing to clean: a scratch table is dropped whole afterwards."""

    def table_done(self, job: TableJob, result: TableResult) -> None:
        return None


def run_calibration(cfg: Config, budget: str, plot: Path | None) -> tuple[dict[str, Any], str]:
    """``dmt calibrate``: its JSON and its text (Ctrl-C stops it, dropping the scratch
    tables)."""
    from dmt.signals import signals_to

    abort = threading.Event()
    with signals_to(abort):
        data = calibrate(cfg, parse_duration(budget, "--budget"), abort)
    from dmt.calibrate_report import calibrate_plot, calibrate_text

    if plot is not None:
        data["plot"] = str(calibrate_plot(data, plot))
    return data, calibrate_text(data)


def calibrate(cfg: Config, budget: float, abort: threading.Event) -> dict[str, Any]:
    """Measure, choose and store; returns what was measured and chosen (the JSON output)."""
    started = time.monotonic()
    plan = make_plan(cfg)
    keyed = [p for p in plan.tables if key_for(p.source) and p.source.row_estimate > 0]
    if not keyed:
        raise ConfigError("", "nothing to calibrate: no table with a primary key and rows")
    largest = sorted(keyed, key=lambda p: -p.source.row_estimate)[:TABLES]
    m = cfg.migration
    own = (min(m.write_ahead_writers, writer_bound(plan.target.max_writers)), m.chunk_size)
    run_id = f"cal-{uuid.uuid4().hex[:8]}"
    store = StateStore(m.state_dir)
    try:
        store.acquire(cfg.target.describe())
        scratch = [replace(p, target=_scratch(p, run_id, i)) for i, p in enumerate(largest)]
        done: list[TableCalibration] = []
        try:
            with connected(plan.target) as tconn:
                prepare_target(plan.target, tconn, scratch, "drop_recreate")
            share = budget / len(scratch)
            for p in scratch:
                if abort.is_set():
                    raise Cancelled()
                done.append(_table(cfg, plan, p, own, share, abort))
        finally:
            _drop(plan, scratch)
        versions = server_versions(plan)
        for t, p in zip(done, scratch, strict=False):
            _store(store, cfg, run_id, t, p, versions)
    finally:
        store.close()
    return {"run_id": run_id, "budget_seconds": budget,
            "seconds": round(time.monotonic() - started, 1),
            "tables": [t.to_dict() for t in done]}  # fmt: skip


def _scratch(p: TablePlan, run_id: str, n: int) -> Any:
    name = f"dmt_calibrate_{run_id[4:]}_{n}"
    return replace(p.target, name=name, indexes=[], uniques=[], foreign_keys=[])


def _drop(plan: Plan, scratch: list[TablePlan]) -> None:
    """Drop the scratch tables (each one tried; a failure is logged, never raised over the
    error that brought us here)."""
    try:
        with connected(plan.target) as conn:
            for p in scratch:
                cur = conn.cursor()
                try:
                    plan.target.execute(cur, plan.target.drop_table_sql(p.target.name))
                finally:
                    cur.close()
            conn.commit()
    except Exception as exc:
        log.error("could not drop the scratch tables %s: %s",
                  ", ".join(p.target.name for p in scratch), exc)  # fmt: skip


def _sample(chunks: list[Chunk], planned: int, rows: int) -> list[list[Chunk]]:
    """A sample of about ``rows`` rows: :data:`BLOCKS` blocks of consecutive ``planned``-row
    key ranges of the table's ``chunks``, spread along the key."""
    per_block = max(1, rows // planned // BLOCKS)
    if len(chunks) <= per_block * BLOCKS:
        return [chunks]
    step = len(chunks) // BLOCKS
    return [chunks[i * step : i * step + per_block] for i in range(BLOCKS)]


def _table(
    cfg: Config, plan: Plan, p: TablePlan, own: tuple[int, int], budget: float,
    abort: threading.Event,
) -> TableCalibration:  # fmt: skip
    points = [Point(w, c) for w, c in grid(own, plan.target.max_writers)]
    planned = min(pt.chunk_size for pt in points)
    with connected(plan.source) as conn:
        chunks = plan_chunks(plan.source, conn, p.source, key_for(p.source), planned)
    probe = _sample(chunks, planned, PROBE_ROWS)
    t0 = time.monotonic()
    _measure(cfg, plan, p, probe, planned, points[0], abort)
    seconds = time.monotonic() - t0
    probed = min(p.source.row_estimate, sum(len(b) for b in probe) * planned)
    fit = probed * (budget - seconds) / (ROUNDS * len(points) * max(seconds, 1e-3))
    blocks = _sample(chunks, planned, int(max(SAMPLE_ROWS[0], min(SAMPLE_ROWS[1], fit))))
    rows = min(p.source.row_estimate, sum(len(b) for b in blocks) * planned)
    path = choose_path(plan.source, plan.target, p, cfg.migration.data_path)
    t = TableCalibration(p.source.name, rows, path.name if path else "rows", points, own)
    log.info("calibrating `%s` on ~%s rows: %d settings", t.table, f"{rows:,}", len(points))
    deadline = t0 + budget  # the probe is part of the budget
    while True:  # rounds; the first one whole, whatever the budget
        for pt in points:
            if pt.rates and time.monotonic() >= deadline:
                break
            pt.rates.append(_measure(cfg, plan, p, blocks, planned, pt, abort))
        if time.monotonic() >= deadline:
            break
    measured = [pt for pt in points if pt.rates]
    t.chosen = max(measured, key=lambda pt: pt.median) if measured else None
    return t


def _measure(
    cfg: Config, plan: Plan, p: TablePlan, blocks: list[list[Chunk]], planned: int, pt: Point,
    abort: threading.Event,
) -> float:  # fmt: skip
    """Empty the scratch table, copy the sample at ``pt``: rows/s of the copy."""
    source, target, m = plan.source, plan.target, cfg.migration
    with connected(target) as conn:
        cur = conn.cursor()
        try:
            for sql in target.truncate_tables_sql([p.target.name]):
                target.execute(cur, sql)
        finally:
            cur.close()
        conn.commit()
    job = TableJob(p.source, p.target, key_for(p.source),
                   bridge_rows(source, p.source, target, p.target, ValueCounters()))  # fmt: skip
    path = choose_path(source, target, p, m.data_path)  # a fresh one: a run closes its path
    knobs = Knobs(
        tables_in_flight=1, chunk_size=pt.chunk_size, parallel_readers=m.parallel_readers,
        read_ahead_buffers=m.read_ahead_buffers, writers=pt.writers,
        max_memory_mb=m.max_memory_mb, chunk_size_at="table",
    )  # fmt: skip
    per = max(1, round(pt.chunk_size / planned))
    paths = {p.source.name: path} if path is not None else {}
    pipe = Pipeline(source, target, [job], knobs, checkpoints=SampleRanges(blocks, per),
                    abort=abort, paths=paths, stall_timeout=m.stall_timeout)  # fmt: skip
    t0 = time.monotonic()
    result = pipe.run()
    secs = time.monotonic() - t0
    rows = sum(r.rows for r in result.tables)
    rate = rows / secs if secs > 0 else 0.0
    log.info("  %d writers / %s rows: %s rows/s", pt.writers, f"{pt.chunk_size:,}", f"{rate:,.0f}")
    return rate


def _store(
    store: StateStore, cfg: Config, run_id: str, t: TableCalibration, p: TablePlan, versions: str
) -> None:
    if t.chosen is None:
        return
    own = next(pt for pt in t.points if (pt.writers, pt.chunk_size) == t.own)
    common = {
        "run_id": run_id, "pair": pair_of(cfg), "versions": versions,
        "endpoints": endpoints_key(cfg), "tbl": t.table, "path": t.path,
        "shape": table_shape(p.source, key_for(p.source)).to_dict(), "seconds_to_steady": 0.0,
    }  # fmt: skip
    if own.rates:
        learned_rows.record(store, {
            **common, "start_writers": own.writers, "start_chunk": own.chunk_size,
            "start_kind": "config", "start_rate": own.median, "writers": own.writers,
            "chunk_size": own.chunk_size, "steady_rate": own.median, "votes": 0,
        })  # fmt: skip
    c = t.chosen
    learned_rows.record(store, {
        **common, "start_writers": c.writers, "start_chunk": c.chunk_size,
        "start_kind": "calibrated", "start_rate": c.median, "writers": c.writers,
        "chunk_size": c.chunk_size, "steady_rate": c.median, "votes": 1,
    })  # fmt: skip
