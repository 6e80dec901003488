"""Learned starting points, wired into a run: each table's start chosen from what the state
store learned of earlier copies (:mod:`dmt.tuning.learned` has the rules,
:mod:`dmt.state.learned` the rows), and each table's outcome kept when it is done.

The API the run, ``dmt plan``, ``dmt calibrate`` and the benchmarks use:

- :class:`Learner` ``(store, cfg, run_id)``: ``start_for(job)`` before a table starts (an
  :class:`~dmt.settings.Update` or None), ``table_done(job, result)`` after it;
- :func:`planned_starts` ``(cfg, plan)``: what ``dmt plan`` shows;
- :func:`endpoints_key`, :func:`table_shape`: the history's keys.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any

from dmt.config import Config
from dmt.config.endpoints import Endpoint
from dmt.model.job import TableJob
from dmt.model.schema import INT_KINDS, Table
from dmt.pipeline.tracker import TableResult
from dmt.settings import Update, writer_bound
from dmt.state import StateStore
from dmt.state import learned as rows
from dmt.tuning.learned import Outcome, Shape, Start, choose, measure, worse_than_defaults

if TYPE_CHECKING:
    from dmt.pipeline.knobs import Knobs
    from dmt.plan import Plan

log = logging.getLogger("dmt")

#: bytes a value of each kind takes, roughly, for a table's shape before it is read
KIND_BYTES = {"boolean": 1, "int8": 1, "int16": 2, "int32": 4, "int64": 8, "float32": 4,
              "float64": 8, "decimal": 12, "date": 4, "time": 8, "timestamp": 8,
              "timestamptz": 8, "uuid": 16, "year": 2, "bit": 8, "interval": 16}  # fmt: skip
#: large-object kinds (and strings without a length or longer than 4000 characters)
LOB_KINDS = frozenset({"text", "blob", "json", "array"})


def _endpoint_id(ep: Endpoint) -> str:
    where = ep.path if ep.path else f"{ep.host}:{ep.port}/{ep.database}/{ep.schema or ''}"
    return f"{ep.engine}:{where}"


def endpoints_key(cfg: Config) -> str:
    """A hash of the two endpoints' engine, host, port and database (or file): never a user
    name or a password."""
    text = f"{_endpoint_id(cfg.source)} -> {_endpoint_id(cfg.target)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def pair_of(cfg: Config) -> str:
    return f"{cfg.source.engine}->{cfg.target.engine}"


def table_shape(table: Table, key: Sequence[str]) -> Shape:
    """The table's :class:`Shape` from its reflection (declared types, not its data)."""
    size, lobs = 0.0, 0
    for c in table.columns:
        kind, length = c.type.kind, c.type.length
        unbounded = kind in ("varchar", "varbinary") and (not length or length > 4000)
        if kind in LOB_KINDS or unbounded:
            lobs += 1
            size += 256
        elif kind in KIND_BYTES:
            size += KIND_BYTES[kind]
        else:
            size += min(length or 32, 256) / 2 + 2  # strings fill half their width, say
    if not key:
        kind = "none"
    elif len(key) > 1:
        kind = "composite"
    else:
        kind = "int" if table.column(key[0]).type.kind in INT_KINDS else "other"
    return Shape(table.row_estimate, round(size, 1), len(table.columns), lobs, kind)


def server_versions(plan: Plan) -> str:
    """Both servers' versions, for the record of what was learned (``?`` where unreadable)."""
    from dmt.plan import connected

    out = []
    for side in (plan.source, plan.target):
        try:
            with connected(side) as conn:
                out.append(side.server_version(conn))
        except Exception as exc:  # a version is a note, not worth failing a run over
            log.debug("server version unread: %s", exc)
            out.append("?")
    return " -> ".join(out)


def history(store: StateStore, pair: str) -> list[Outcome]:
    """The outcomes of one engine pair, newest first."""
    return [_outcome(r) for r in rows.outcomes(store, pair)]


def _outcome(r: dict[str, Any]) -> Outcome:
    return Outcome(
        r["run_id"], r["tbl"], r["endpoints"], r["pair"], r["path"], Shape(**r["shape"]),
        r["start_writers"], r["start_chunk"], r["start_kind"], r["start_rate"], r["writers"],
        r["chunk_size"], r["steady_rate"], r["seconds_to_steady"], bool(r["votes"]), r["id"],
        bool(r["forgotten"]),
    )  # fmt: skip


class Learner:
    """One run's learned starts and outcomes. ``paths`` (table -> data path), ``knobs`` (the
    copy's), ``samples()`` (the monitor's so far) and ``versions`` are set by the run as the
    copy starts."""

    def __init__(self, store: StateStore, cfg: Config, run_id: str) -> None:
        self.store, self.cfg, self.run_id = store, cfg, run_id
        self.enabled = cfg.migration.learn
        self.endpoints, self.pair = endpoints_key(cfg), pair_of(cfg)
        self.paths: dict[str, str] = {}
        self.knobs: Knobs | None = None
        self.samples: Callable[[], list[dict[str, Any]]] = list
        self.versions = ""
        self.max_writers: int | None = None
        self.history = history(store, self.pair) if self.enabled else []
        self.chosen: dict[str, Start] = {}
        self._begun: dict[str, tuple[int, int, str]] = {}

    def own_point(self) -> tuple[int, int]:
        m = self.cfg.migration
        return min(m.write_ahead_writers, writer_bound(self.max_writers)), m.chunk_size

    def start_for(self, job: TableJob) -> Update | None:
        """The table's learned start (logged and stored with the run), or None."""
        name = job.source.name
        k = self.knobs
        now = (k.writers, k.chunk_size) if k is not None else self.own_point()
        start = None
        if self.enabled:
            shape = table_shape(job.source, job.key)
            start = choose(
                name, self.endpoints, self.pair, self.paths.get(name, "rows"), shape, self.history
            )
        if start is None:
            kind = "config" if now == self.own_point() else "carried"
            self._begun[name] = (*now, kind)
            return None
        start = Start(
            start.table, min(start.writers, writer_bound(self.max_writers)), start.chunk_size,
            start.how, start.runs, start.ids,
        )  # fmt: skip
        self.chosen[name] = start
        self._begun[name] = (start.writers, start.chunk_size, start.how)
        log.info("%s", start.line())
        self.store.save_adjustments(self.run_id, [{"kind": "start", **start.to_dict()}])
        return Update(
            writers=start.writers, chunk_size=start.chunk_size, source="learned",
            action="start", reason=start.line(),
        )  # fmt: skip

    def table_done(self, job: TableJob, result: TableResult) -> None:
        """Keep what this copy of the table showed; forget a learned start that measured worse
        than the run's own settings did before."""
        if not self.enabled:
            return
        name = job.source.name
        begun = self._begun.get(name)
        if begun is None or result.rows <= 0:
            return
        k = self.knobs
        end = (k.writers, k.chunk_size) if k is not None else begun[:2]
        samples = [s for s in self.samples() if s.get("table") == name]
        rate = result.rows / result.seconds if result.seconds > 0 else None
        got = measure(samples, begun[:2], end, rate)
        votes = got.by_controller
        start = self.chosen.get(name)
        if start is not None and start.how in ("learned", "calibrated"):
            own = [
                o.start_rate for o in self.history
                if o.table == name and o.endpoints == self.endpoints and o.start_kind == "config"
                and (o.start_writers, o.start_chunk) == self.own_point()
                and o.start_rate is not None
            ]  # fmt: skip
            if worse_than_defaults(got.start_rate, own):
                log.warning(
                    "%s: the learned start (%d writers / %d rows) measured %.0f rows/s, below "
                    "the run's own settings' %.0f rows/s: forgotten",
                    name, start.writers, start.chunk_size, got.start_rate or 0, median(own),
                )  # fmt: skip
                rows.forget(self.store, list(start.ids))
                votes = False
        rows.record(self.store, {
            "run_id": self.run_id, "pair": self.pair, "versions": self.versions,
            "endpoints": self.endpoints, "tbl": name, "path": self.paths.get(name, "rows"),
            "shape": table_shape(job.source, job.key).to_dict(), "start_writers": begun[0],
            "start_chunk": begun[1], "start_kind": begun[2], "start_rate": got.start_rate,
            "writers": got.writers, "chunk_size": got.chunk_size,
            "steady_rate": got.steady_rate, "seconds_to_steady": got.seconds_to_steady,
            "votes": int(votes),
        })  # fmt: skip


def plan_data(cfg: Config) -> dict[str, Any]:
    """``dmt plan``'s JSON: the plan, and each table's learned start."""
    from dmt.plan import make_plan

    plan = make_plan(cfg)
    return {**plan.to_dict(), "learned_starts": planned_starts(cfg, plan)}


def planned_starts(cfg: Config, plan: Plan) -> list[dict[str, Any]]:
    """Each table's learned start as the next run would choose it (``dmt plan``)."""
    from dmt.paths.choose import choose as choose_path
    from dmt.schema.translate import key_for

    db = Path(cfg.migration.state_dir).expanduser() / "state.db"
    if not cfg.migration.learn or not db.exists():
        return []
    store = StateStore(cfg.migration.state_dir)
    try:
        past = history(store, pair_of(cfg))
    finally:
        store.close()
    out = []
    for p in plan.tables:
        path = choose_path(plan.source, plan.target, p, cfg.migration.data_path)
        shape = table_shape(p.source, key_for(p.source))
        start = choose(
            p.source.name, endpoints_key(cfg), pair_of(cfg), path.name if path else "rows",
            shape, past,
        )  # fmt: skip
        if start is not None:
            out.append({**start.to_dict(), "line": start.line()})
    return out


def learned_view(folder: Path, forget_all: bool) -> tuple[str, dict[str, Any]]:
    """``dmt history --learned`` (what was learned) or ``--forget`` (clear it)."""
    store = StateStore(folder)
    try:
        if forget_all:
            n = rows.forget(store)
            return f"forgot {n} learned table outcome(s)", {"forgotten": n}
        found = rows.outcomes(store)
    finally:
        store.close()
    if not found:
        return "nothing learned yet", {"learned": []}
    lines = [f"{'table':<24} {'pair':<20} {'path':<10} {'start':<24} {'converged':<16} "
             f"{'steady rows/s':>13} {'to steady':>9}  run"]  # fmt: skip
    for r in found:
        start = f"{r['start_writers']}w/{r['start_chunk']} ({r['start_kind']})"
        conv = f"{r['writers']}w/{r['chunk_size']}"
        steady = f"{r['steady_rate']:,.0f}" if r["steady_rate"] else "-"
        reach = f"{r['seconds_to_steady']:.0f}s" if r["seconds_to_steady"] is not None else "-"
        note = " forgotten" if r["forgotten"] else ("" if r["votes"] else " (no vote)")
        lines.append(
            f"{r['tbl'][:24]:<24} {r['pair'][:20]:<20} {r['path'][:10]:<10} {start:<24} "
            f"{conv:<16} {steady:>13} {reach:>9}  {r['run_id'][:12]}{note}"
        )
    return "\n".join(lines), {"learned": json.loads(json.dumps(found, default=str))}
