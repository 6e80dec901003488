"""Chunk planning: a table's key ranges (:class:`~dmt.model.ranges.Chunk`) of about
``chunk_size`` rows each, with boundaries asked of the source."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dmt.dialects.base import Dialect
from dmt.model.ranges import Chunk, Row
from dmt.model.schema import INT_KINDS, Table

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
