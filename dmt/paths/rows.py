"""The exact row path: stream one key range's rows from the source driver into batches
bounded in rows and bytes, converted in Python for the target's bulk path. It carries every
table no faster path takes, and every key range a faster path hands back
(:class:`~dmt.paths.base.RowFallback`)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from dmt.dialects.base import Converter, Dialect, ValueCounters
from dmt.model.job import RowConverter, TableJob
from dmt.model.ranges import Chunk, Row
from dmt.model.schema import Table

#: rows fetched from the driver at first, while the row width is still unknown
FIRST_FETCH = 16
MAX_FETCH = 10_000


def row_bytes(row: Row) -> int:
    """The memory a row takes as Python objects: the tuple, its pointers and every value
    (``None`` is shared and free). Measured on a sample of each fetch, this is what keeps a
    batch inside its byte budget; payload lengths alone undercount by 2-3x."""
    return sys.getsizeof(row) + sum(sys.getsizeof(v) for v in row if v is not None)


def make_row_converter(convs: list[Converter | None]) -> RowConverter | None:
    """One function converting a list of rows, touching only the columns that need it."""
    active = [(i, f) for i, f in enumerate(convs) if f is not None]
    if not active:
        return None

    def convert(rows: list[Row]) -> list[Row]:
        out = []
        for row in rows:
            values = list(row)
            for i, f in active:
                v = values[i]
                if v is not None:
                    values[i] = f(v)
            out.append(tuple(values))
        return out

    return convert


def bridge_rows(
    from_d: Dialect, from_t: Table, to_d: Dialect, to_t: Table, counters: ValueCounters
) -> Callable[[list[Row]], list[Row]] | None:
    """Rows as ``from_d``'s driver returns ``from_t`` -> the values ``to_d``'s driver binds
    for ``to_t``: each column decoded, then encoded (None where no column needs it). The copy,
    the checkpoint cleanup and validation all convert values this one way."""
    decs = from_d.decoders(from_t, counters)
    encs = to_d.encoders(to_t, counters)
    return make_row_converter(
        [_compose(d, e) if d and e else d or e for d, e in zip(decs, encs, strict=True)]
    )


def _compose(first: Converter, second: Converter) -> Converter:
    return lambda v: second(first(v))


def read_chunk(
    dialect: Dialect,
    conn: Any,
    table: Table,
    key: tuple[str, ...],
    chunk: Chunk,
    max_rows: int,
    max_bytes: int,
    stop: Callable[[], bool],
) -> Iterator[tuple[list[Row], int, float]]:
    """Yield ``(rows, nbytes, read_seconds)`` batches of one chunk.

    A batch never exceeds ``max_rows`` rows, and exceeds ``max_bytes`` by at most one fetch.
    Fetches start at 16 rows, grow at most twofold at a time, and never plan past a quarter
    of the byte budget at the widest average row seen so far, down to a single row.
    """
    sql = dialect.select_sql(table, key, chunk.lower is not None, chunk.upper is not None)
    fetch_n = min(FIRST_FETCH, max_rows)
    peak = 0.0  # the widest average row seen in one fetch of this chunk: sizes the next fetch
    with dialect.stream(conn, sql, chunk.params()) as fetch:
        rows: list[Row] = []
        nbytes = 0
        started = time.monotonic()
        while not stop():
            got = fetch(fetch_n)
            if not got:
                break
            step = max(1, len(got) // 16)
            sample = got[::step]
            size = sum(row_bytes(r) for r in sample) * len(got) / len(sample)
            peak = max(peak, size / len(got))
            rows.extend(got)
            nbytes += int(size)
            if len(rows) >= max_rows or nbytes >= max_bytes:
                yield rows, nbytes, time.monotonic() - started
                rows, nbytes = [], 0
                started = time.monotonic()
            # grow at most twofold per fetch, never past a quarter of the byte budget
            room = max_rows - len(rows)
            fetch_n = int(max(1, min(2 * fetch_n, MAX_FETCH, room, max_bytes / 4 / peak)))
        if rows:
            yield rows, nbytes, time.monotonic() - started


def read_rows(
    dialect: Dialect, conn: Any, job: TableJob, chunk: Chunk, max_rows: int, max_bytes: int,
    stop: Callable[[], bool],
) -> Iterator[tuple[list[Row], int, int, float]]:  # fmt: skip
    """The exact row path for one key range: :func:`read_chunk` batches converted by the job,
    as ``(rows, row count, bytes, read_seconds)``."""
    for rows, nbytes, secs in read_chunk(
        dialect, conn, job.source, job.key, chunk, max_rows, max_bytes, stop
    ):
        if job.convert is not None:
            rows = job.convert(rows)
        yield rows, len(rows), nbytes, secs
        del rows  # not held while the next batch is read
