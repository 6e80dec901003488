"""Key-range chunks. A chunk is ``(lower, upper]`` along the primary key, in the source's own
order (boundaries come from the source's ``ORDER BY``, so any collation is respected); the
first chunk has no lower bound and the last no upper bound. A table without a primary key is one
unbounded chunk, read as a single stream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dmt.dialects.base import Dialect, Row
from dmt.schema.model import Table


@dataclass(frozen=True)
class Chunk:
    """One key range of one table; ``index`` orders chunks within the table."""

    table: str
    index: int
    lower: Row | None  # exclusive
    upper: Row | None  # inclusive

    def describe(self) -> str:
        lo = "-inf" if self.lower is None else _fmt(self.lower)
        hi = "+inf" if self.upper is None else _fmt(self.upper)
        return f"chunk {self.index} ({lo}, {hi}]"

    def params(self) -> list[Any]:
        return [*(self.lower or ()), *(self.upper or ())]


def _fmt(key: Row) -> str:
    text = ", ".join(repr(v) for v in key)
    return text if len(key) > 1 else text.rstrip(",")


def plan_chunks(
    dialect: Dialect, conn: Any, table: Table, key: Sequence[str], chunk_size: int
) -> list[Chunk]:
    """Split ``table`` into chunks of about ``chunk_size`` rows along ``key``."""
    if not key:
        return [Chunk(table.name, 0, None, None)]
    bounds = dialect.key_boundaries(conn, table, key, chunk_size)
    chunks = []
    lower: Row | None = None
    for i, upper in enumerate(bounds):
        chunks.append(Chunk(table.name, i, lower, tuple(upper)))
        lower = tuple(upper)
    chunks.append(Chunk(table.name, len(bounds), lower, None))
    return chunks
