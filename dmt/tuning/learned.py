"""Learned starting points: what a table's past copies say its first writers and chunk size
should be, and what one copy of a table teaches.

Pure rules over plain values (the state store keeps the outcomes, :mod:`dmt.learning` wires
them into a run). A table's start is chosen from, in this order:

1. the same table between the same two endpoints (the most recent :data:`VOTERS` outcomes
   that were chosen by measurement: the controller's or ``dmt calibrate``'s);
2. else the tables nearest by :class:`Shape` (:func:`distance` at most :data:`NEAREST`) within
   the same engine pair and data path;
3. else nothing: the run's own settings (the config's, or today's defaults).

Each voter gives the setting its table converged to; the start is the median of each knob.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from dmt.settings import CHUNK_GRID, CHUNK_SIZE, WRITERS

#: how many outcomes vote on a start (the most recent, or the nearest by shape)
VOTERS = 3
#: the largest shape distance at which another table's outcome still votes
NEAREST = 2.0
#: a learned start whose measured rate falls below the defaults' by more than this share is
#: forgotten (identical runs differ by up to ~25 % on a shared machine; 10 % of a median of
#: several intervals is beyond one interval's noise)
WORSE_BY = 0.10
#: a sample within this share of the steady rate counts as having reached it
STEADY_WITHIN = 0.10
#: samples at the end of a table that make its steady rate (their median)
STEADY_SAMPLES = 3


@dataclass(frozen=True)
class Shape:
    """What a table looks like before it is copied: estimated rows, estimated bytes a row
    (from its declared column types), columns, large-object columns, and its chunk key's kind
    (``int``: one integer column; ``other``: one other column; ``composite``; ``none``)."""

    rows: int
    row_bytes: float
    columns: int
    lobs: int
    key: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def distance(a: Shape, b: Shape) -> float:
    """How unlike two tables are: a decade of rows counts 1, a doubling of row bytes 0.5,
    ten columns 1, large objects on one side only 1, another key kind 1."""
    d = abs(math.log10(a.rows + 1) - math.log10(b.rows + 1))
    d += abs(math.log2(max(a.row_bytes, 1.0)) - math.log2(max(b.row_bytes, 1.0))) / 2
    d += abs(a.columns - b.columns) / 10
    d += float((a.lobs > 0) != (b.lobs > 0))
    d += float(a.key != b.key)
    return d


@dataclass(frozen=True)
class Outcome:
    """One copy of one table, as the state store keeps it. ``start_kind`` is ``config`` (the
    run's own settings), ``learned``, ``similar`` or ``calibrated``; ``start_rate`` the rows/s
    measured at the start setting (None when not measured); ``votes``: whether its setting
    was chosen by measurement and may start later copies."""

    run_id: str
    table: str
    endpoints: str
    pair: str
    path: str
    shape: Shape
    start_writers: int
    start_chunk: int
    start_kind: str
    start_rate: float | None
    writers: int
    chunk_size: int
    steady_rate: float | None
    seconds_to_steady: float | None
    votes: bool
    id: int = 0
    forgotten: bool = False


@dataclass(frozen=True)
class Start:
    """A table's chosen start: the settings, ``how`` it was found (``learned``: the same table;
    ``similar``: tables of a like shape; ``calibrated`` when a calibration voted), the runs
    that voted and the outcome ids behind them."""

    table: str
    writers: int
    chunk_size: int
    how: str
    runs: tuple[str, ...]
    ids: tuple[int, ...]

    def line(self) -> str:
        """``table votes: starting at 4 writers / 20000 rows, learned from runs 3f2a1c``."""
        how = {"similar": "learned from similar tables of runs"}.get(self.how, "learned from runs")
        return (
            f"{self.table} votes: starting at {self.writers} writers / {self.chunk_size} rows, "
            f"{how} {', '.join(r[:6] for r in self.runs)}"
        )

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def choose(
    table: str, endpoints: str, pair: str, path: str, shape: Shape, history: Sequence[Outcome]
) -> Start | None:
    """The start for ``table`` from ``history`` (newest first), or None: see the module
    docstring."""
    voters = [o for o in history if o.votes and not o.forgotten]
    same = [o for o in voters if o.table == table and o.endpoints == endpoints]
    kind = "learned"
    chosen = same[:VOTERS]
    if not chosen:
        alike = [o for o in voters if o.pair == pair and o.path == path]
        near = sorted(
            ((distance(shape, o.shape), i, o) for i, o in enumerate(alike)),
            key=lambda x: (x[0], x[1]),
        )
        chosen = [o for d, _, o in near if d <= NEAREST][:VOTERS]
        kind = "similar"
    if not chosen:
        return None
    if kind == "learned" and any(o.start_kind == "calibrated" for o in chosen):
        kind = "calibrated"
    writers = WRITERS.clamp(round(statistics.median(o.writers for o in chosen)))
    chunk = statistics.median(o.chunk_size for o in chosen)
    chunk = CHUNK_SIZE.clamp(max(1, round(chunk / CHUNK_GRID)) * CHUNK_GRID)
    runs = tuple(dict.fromkeys(o.run_id for o in chosen))
    return Start(table, writers, chunk, kind, runs, tuple(o.id for o in chosen))


@dataclass(frozen=True)
class Measured:
    """What one copy of a table showed: the rate at its start setting (None: not measured
    there), the setting it ended at, its steady rate and the seconds from its first interval
    to the first interval within :data:`STEADY_WITHIN` of that rate."""

    start_rate: float | None
    writers: int
    chunk_size: int
    steady_rate: float | None
    seconds_to_steady: float | None
    by_controller: bool


def measure(
    samples: Sequence[dict[str, object]],
    start: tuple[int, int],
    end: tuple[int, int],
    table_rate: float | None,
) -> Measured:
    """Read one table's monitor ``samples`` (those whose ``table`` is it, in order): the
    median rate of the samples at the ``start`` setting before the first change; the steady
    rate (median of the last :data:`STEADY_SAMPLES`). Without samples the whole table's
    ``table_rate`` stands for both when the setting never changed (``end == start``).
    ``by_controller``: a monitor measured the table (its end setting was chosen)."""
    points = [(_int(s.get("writers")), _int(s.get("chunk_size"))) for s in samples]
    rates = [_float(s.get("rows_per_sec")) for s in samples]
    if not samples:
        same = end == start
        rate = table_rate if same else None
        return Measured(rate, end[0], end[1], table_rate, 0.0 if same else None, False)
    first = []
    for p, r in zip(points, rates, strict=True):
        if p != start:
            break
        first.append(r)
    start_rate = statistics.median(first) if first else None
    steady = statistics.median(rates[-STEADY_SAMPLES:])
    t0 = _float(samples[0].get("t")) - _float(samples[0].get("interval") or 0.0)
    reach = next(
        (
            _float(s.get("t")) - t0
            for s, r in zip(samples, rates, strict=True)
            if r >= steady * (1 - STEADY_WITHIN)
        ),
        None,
    )
    w, c = points[-1]
    return Measured(start_rate, w or end[0], c or end[1], steady, reach, True)


def worse_than_defaults(rate: float | None, default_rates: Sequence[float]) -> bool:
    """Whether a learned start's measured ``rate`` is below the median of the rates measured
    at the run's own settings by more than :data:`WORSE_BY`."""
    if rate is None or not default_rates:
        return False
    return rate < statistics.median(default_rates) * (1 - WORSE_BY)


def _int(v: object) -> int:
    return int(v) if isinstance(v, int | float) else 0


def _float(v: object) -> float:
    return float(v) if isinstance(v, int | float) else 0.0
