"""Key-range chunks. A chunk is ``(lower, upper]`` along the primary key, in the source's own
order (boundaries come from the source's ``ORDER BY``, so any collation is respected); the
first chunk has no lower bound and the last no upper bound. A table without a primary key is one
unbounded chunk, read as a single stream.

Once runtime updates raise ``chunk_size`` past the width a table was planned with, consecutive
planned chunks can be read as one range (:func:`take_adjacent`): the merged chunk lists them as
its ``parts``, so each part is still checkpointed on its own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from dmt.dialects.base import Dialect, Row
from dmt.schema.model import INT_KINDS, Table


@dataclass(frozen=True)
class Chunk:
    """One key range of one table; ``index`` orders chunks within the table.

    A merged chunk spans the planned chunks in ``parts`` (consecutive and adjacent); its index
    is the first part's, its range runs from the first part's lower to the last part's upper.
    """

    table: str
    index: int
    lower: Row | None  # exclusive
    upper: Row | None  # inclusive
    parts: tuple[Chunk, ...] = field(default=(), repr=False)

    def describe(self) -> str:
        lo = "-inf" if self.lower is None else _fmt(self.lower)
        hi = "+inf" if self.upper is None else _fmt(self.upper)
        if self.parts:
            return f"chunks {self.parts[0].index}-{self.parts[-1].index} ({lo}, {hi}]"
        return f"chunk {self.index} ({lo}, {hi}]"

    def params(self) -> list[Any]:
        return [*(self.lower or ()), *(self.upper or ())]

    def planned(self) -> tuple[Chunk, ...]:
        """The planned chunks this range covers: its parts, or itself."""
        return self.parts or (self,)


def adjacent(a: Chunk, b: Chunk) -> bool:
    """Whether ``b`` is the planned chunk right after ``a``: the next index, starting where
    ``a`` ends (true of consecutive chunks of one plan)."""
    return b.index == a.index + 1 and a.upper is not None and b.lower == a.upper


def merge(chunks: Sequence[Chunk]) -> Chunk:
    """One chunk reading the consecutive, adjacent ``chunks`` as a single key range."""
    if len(chunks) == 1:
        return chunks[0]
    for a, b in pairwise(chunks):
        if not adjacent(a, b):
            raise ValueError(f"cannot merge {a.describe()} and {b.describe()}: not adjacent")
    first, last = chunks[0], chunks[-1]
    return Chunk(first.table, first.index, first.lower, last.upper, tuple(chunks))


def take_adjacent(pending: deque[Chunk], n: int) -> Chunk:
    """Take up to ``n`` chunks off the front of ``pending`` (key order) as one range: only as
    many as are adjacent (a resumed plan has gaps where chunks are already done)."""
    run = [pending.popleft()]
    while len(run) < n and pending and adjacent(run[-1], pending[0]):
        run.append(pending.popleft())
    return merge(run)


def _integer_bounds(
    dialect: Dialect, conn: Any, table: Table, col: str, chunk_size: int
) -> list[Row] | None:
    lo, hi, n = dialect.key_stats(conn, table, col)
    if n == 0 or lo is None or hi is None:
        return []
    span = int(hi) - int(lo) + 1
    if n / span < MIN_DENSITY:
        return None
    width = max(1, round(chunk_size * span / n))
    return [(b,) for b in range(int(lo) - 1 + width, int(hi), width)]


def _fmt(key: Row) -> str:
    text = ", ".join(repr(v) for v in key)
    return text if len(key) > 1 else text.rstrip(",")


#: below this share of used key values, integer ranges would be too uneven: sample instead
MIN_DENSITY = 0.5


def plan_chunks(
    dialect: Dialect, conn: Any, table: Table, key: Sequence[str], chunk_size: int
) -> list[Chunk]:
    """Split ``table`` into chunks of about ``chunk_size`` rows along ``key``.

    A dense single-column integer key is split arithmetically from its MIN, MAX and COUNT (one
    index lookup each end); any other key takes every ``chunk_size``-th key from the source in
    its own order (one ordered scan of the key).
    """
    if not key:
        return [Chunk(table.name, 0, None, None)]
    bounds: list[Row] | None = None
    if len(key) == 1 and table.column(key[0]).type.kind in INT_KINDS:
        bounds = _integer_bounds(dialect, conn, table, key[0], chunk_size)
    if bounds is None:
        bounds = dialect.key_boundaries(conn, table, key, chunk_size)
    chunks = []
    lower: Row | None = None
    for i, upper in enumerate(bounds):
        chunks.append(Chunk(table.name, i, lower, tuple(upper)))
        lower = tuple(upper)
    chunks.append(Chunk(table.name, len(bounds), lower, None))
    return chunks
