"""What moves: one table's job, and the batches its key ranges are read into."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dmt.model.ranges import Chunk, Row
from dmt.model.schema import Table

#: converts a list of rows read from the source into what the target's bulk path takes
RowConverter = Callable[[list[Row]], list[Row]]


@dataclass(frozen=True)
class TableJob:
    """One table to copy: as the source has it, as the target has it, its chunk key, and the
    exact row path's converter (None: the rows need no conversion). Which data path carries
    the table is chosen apart from it (:func:`dmt.paths.choose.choose`)."""

    source: Table
    target: Table
    key: tuple[str, ...]
    convert: RowConverter | None = None


@dataclass
class Batch:
    """Rows of one key range, bounded in rows and bytes: a list of converted rows (the exact
    row path), or, with ``by_path``, a data path's own payload (e.g. COPY bytes) holding
    ``nrows`` rows, which only that path's ``write`` can load."""

    job: TableJob
    chunk: Chunk
    seq: int
    rows: list[Row] | Any
    nbytes: int
    nrows: int = 0
    read_seconds: float = field(default=0.0, repr=False)
    by_path: bool = False
