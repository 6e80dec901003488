"""Key ranges. A chunk is ``(lower, upper]`` along the primary key, in the source's own order
(boundaries come from the source's ``ORDER BY``, so any collation is respected); the first chunk
has no lower bound and the last no upper bound. A table without a primary key is one unbounded
chunk, read as a single stream.

Consecutive planned chunks can be read as one range (:func:`take_adjacent`): the merged chunk
lists them as its ``parts``, so each part is still checkpointed on its own. Planning the chunks
of a table asks the source (:func:`dmt.pipeline.chunks.plan_chunks`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

#: one row as the drivers return it
Row = tuple[Any, ...]


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


def _fmt(key: Row) -> str:
    text = ", ".join(repr(v) for v in key)
    return text if len(key) > 1 else text.rstrip(",")
