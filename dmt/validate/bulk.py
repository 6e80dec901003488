"""The bulk path of ``checksum`` validation: a chunk read as Arrow on both sides and compared
column by column in Arrow, with no Python per row.

Each side is read by its dialect's columnar reader (the copy's: connectorx or ADBC, with the
dialect's select expressions and guard column, :func:`~dmt.paths.columnar_support.columnar_select`),
every column normalised by the source column's kind, then compared whole. The bulk comparison is
never looser than the canonical one (:mod:`dmt.validate.canonical`): integers as int64,
doubles bit for bit (``-0.0`` is not ``0.0``, a NaN only equals the same NaN), text and bytes
byte for byte (CHAR without its trailing spaces), dates and timestamps to the microsecond, NULL
only equal to NULL. So a chunk it calls equal is equal; any other outcome — a difference, a
guard that flags a value the row path converts (a MySQL zero date, a PostgreSQL ``infinity``, a
SQLite value of another storage class), a reader or cast that fails — sends that chunk to the
exact path, which decides and, when it differs, names the first key as before. The documented
lossy values (NaN stored as NULL, ...) thus compare as documented, only slower.

It applies to a table (:func:`choose_bulk`) when both dialects have a columnar reader, the key is
one integer column (both sides then read the same key range in the same order, whatever their
collations), and every column pair is of a kind in ``_NORMAL`` on both sides that both readers
carry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from dmt.dialects.base import Dialect
from dmt.errors import Cancelled, first_line
from dmt.model.ranges import Chunk
from dmt.model.schema import INT_KINDS, Table
from dmt.paths.columnar_support import GUARD, available, columnar_select
from dmt.schema.translate import TablePlan
from dmt.validate.reading import close

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("dmt")

_TEXT = ("char", "varchar", "text")
_BYTES = ("binary", "varbinary", "blob")
BATCH_BYTES = 4 << 20  # Arrow bytes one side reads per query, from the widest rows seen
FIRST_ROWS = 256  # rows of a table's first query, before its row width is known
#: the source kinds the bulk path compares -> the Arrow type both sides are normalised to
_NORMAL = {
    **dict.fromkeys(INT_KINDS, "int64"),
    "float64": "float64",
    **dict.fromkeys(_TEXT, "string"),  # a batch is far below 2 GB
    **dict.fromkeys(_BYTES, "binary"),
    "date": "date32",
    "timestamp": "timestamp",
    "boolean": "bool",
}
#: the source kind's group -> the target kinds that may hold it
_GROUPS = [set(INT_KINDS), {"float64"}, set(_TEXT), set(_BYTES), {"date"}, {"timestamp"},
           {"boolean"}]  # fmt: skip


class BulkReader:
    """One side of a table, read a key range at a time as normalised Arrow columns."""

    def __init__(self, dialect: Dialect, table: Table, key: str, kinds: list[str]) -> None:
        self.dialect, self.table, self.key, self.kinds = dialect, table, key, kinds
        self._url = dialect.columnar_url() or ""
        self._conn: Any = None  # ADBC's, opened at the first read
        self.row_bytes = 0.0  # the widest average row read so far, in Arrow bytes
        self.key_index = table.column_names.index(key)

    def read(self, last: Any, upper: Any, limit: int) -> tuple[pa.Table | None, str | None]:
        """The rows with a key in ``(last, upper]`` (None: open), at most ``limit`` of them, in
        key order, normalised; ``(None, why)`` when this side's reader cannot give them exactly
        (the exact path then reads the chunk)."""
        sql = columnar_select(self.dialect, self.table, self.key, last, upper, limit)
        try:
            table = self._fetch(sql)
        except BaseException as exc:  # connectorx panics are BaseExceptions
            if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                raise
            return None, f"the {self.dialect.side}'s reader failed: {first_line(exc)}"
        self.row_bytes = max(self.row_bytes, table.nbytes / max(1, table.num_rows))
        return self._normal(table)

    def twin(self) -> BulkReader:
        """A reader of the same table with a connection of its own."""
        return BulkReader(self.dialect, self.table, self.key, self.kinds)

    def _fetch(self, sql: str) -> pa.Table:
        if self.dialect.columnar_reader != "connectorx":
            if self._conn is None:
                self._conn = self.dialect.columnar_connect()
            try:
                table = self.dialect.columnar_fetch(self._conn, sql)
            except BaseException:
                self.close()  # a failed connection is not reused
                raise
            return table
        import connectorx as cx

        return cx.read_sql(self._url, sql, return_type="arrow")

    def _normal(self, table: pa.Table) -> tuple[pa.Table | None, str | None]:
        import pyarrow as pa
        import pyarrow.compute as pc

        if GUARD in table.column_names:
            try:  # connectorx types a SQLite expression by its first value: text at times
                guard = table[GUARD].cast(pa.int64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None, f"the guard column on the {self.dialect.side} is not a number"
            if not pc.all(pc.equal(guard, 1), min_count=0).as_py():
                return None, f"a value on the {self.dialect.side} the row path converts"
            table = table.drop_columns([GUARD])
        out = []
        for col, kind in zip(table.columns, self.kinds, strict=True):
            arr = col.combine_chunks()
            want = _NORMAL[kind]
            try:
                if want == "timestamp":
                    if getattr(arr.type, "tz", None) is not None:
                        return None, "a time zone on a timestamp"
                    arr = arr.cast(pa.timestamp("us"))
                else:
                    arr = arr.cast(getattr(pa, want)())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                return None, f"{self.dialect.side} column cast failed: {exc}"
            if kind == "char":  # CHAR(n) pads with spaces; the canonical form strips them
                arr = pc.utf8_rtrim(arr, characters=" ")
            elif kind == "float64":  # bit for bit: -0.0 and NaN payloads kept apart
                arr = arr.view(pa.int64())
            out.append(arr)
        return pa.Table.from_arrays(out, names=[str(i) for i in range(len(out))]), None

    def close(self) -> None:
        if self._conn is not None:
            close(self._conn)
            self._conn = None


def same(a: pa.Table, b: pa.Table) -> bool:
    """Whether two normalised chunks hold the same rows (keys included) in the same order."""
    if a.num_rows != b.num_rows:
        return False
    return all(x.equals(y) for x, y in zip(a.columns, b.columns, strict=True))


def choose_bulk(
    source: Dialect, target: Dialect, plan: TablePlan, key: tuple[str, ...]
) -> ArrowPair | None:
    """The bulk comparison of this table, or None (see the module docstring)."""
    if len(key) != 1 or not available():
        return None
    for d in (source, target):
        if d.columnar_reader is None or not d.columnar_available() or d.columnar_url() is None:
            return None
    kinds = []
    for scol, tcol in zip(plan.source.columns, plan.target.columns, strict=True):
        kind, tkind = scol.type.kind, tcol.type.kind
        if kind not in _NORMAL or not any(kind in g and tkind in g for g in _GROUPS):
            return None
        if any(c.type.kind == "int64" and c.type.unsigned for c in (scol, tcol)):
            return None  # BIGINT UNSIGNED holds what int64 cannot
        if not (source.columnar_carries(scol) and target.columnar_carries(tcol)):
            return None
        kinds.append(kind)
    if plan.source.column(key[0]).type.kind not in INT_KINDS:
        return None
    tkey = plan.target.columns[plan.source.column_names.index(key[0])].name
    return ArrowPair(
        BulkReader(source, plan.source, key[0], kinds),
        BulkReader(target, plan.target, tkey, kinds),
    )


class ArrowPair:
    """The bulk comparison of one chunk at a time, by a reader on each side (reading at once)."""

    name = "bulk"

    def __init__(self, sreader: BulkReader, treader: BulkReader) -> None:
        self.readers = (sreader, treader)
        self._ex = ThreadPoolExecutor(2, "dmt-validate-read")

    def twin(self) -> ArrowPair:
        return ArrowPair(self.readers[0].twin(), self.readers[1].twin())

    def close(self) -> None:
        self._ex.shutdown(wait=True, cancel_futures=True)
        for r in self.readers:
            r.close()

    def compare(self, chunk: Chunk, halted: Callable[[], bool]) -> tuple[int, str | None]:
        return _bulk_chunk(self.readers, self._ex, chunk, halted)


def _bulk_chunk(
    readers: tuple[BulkReader, BulkReader], ex: ThreadPoolExecutor, chunk: Chunk,
    halted: Callable[[], bool],
) -> tuple[int, str | None]:  # fmt: skip
    """``(rows, None)`` when the chunk is equal on both sides, else ``(0, why)``.

    The chunk is read in batches of at most BATCH_BYTES (from the widest rows seen on either
    side; FIRST_ROWS until a row has been seen): the source reads up to ``limit`` rows from the
    last key compared, the target the same key range (one row more than ``limit``, so a range
    flooded with rows only the target has stays bounded, and differs). The source's next batch
    is read while the target reads this one."""
    sreader, treader = readers
    last = chunk.lower[0] if chunk.lower is not None else None
    upper = chunk.upper[0] if chunk.upper is not None else None

    def limit() -> int:
        width = max(sreader.row_bytes, treader.row_bytes)
        return max(1, int(BATCH_BYTES / width)) if width else FIRST_ROWS

    rows = 0
    n = limit()
    pending: Future[Any] | None = ex.submit(sreader.read, last, upper, n)
    try:
        while pending is not None:
            if halted():
                raise Cancelled()
            sbatch, why = pending.result()
            pending = None
            if sbatch is None:
                return 0, why
            top = sbatch.column(sreader.key_index)[-1].as_py() if sbatch.num_rows else None
            full = sbatch.num_rows == n and top != upper  # else the range ends at ``upper``
            top = top if full else upper
            tread = ex.submit(treader.read, last, top, n + 1)
            if full:  # the source's next batch, while the target reads this one
                n = limit()
                pending = ex.submit(sreader.read, top, upper, n)
            tbatch, why = tread.result()
            if tbatch is None:
                return 0, why
            if not same(sbatch, tbatch):
                return 0, "the bulk comparison differs"
            rows += sbatch.num_rows
            last = top
        return rows, None
    finally:
        if pending is not None:  # a reader serves one query at a time
            wait([pending])
