"""What the columnar path carries (kinds, their Arrow types, the guard column), the libraries it
needs, and the pool of driver connections it keeps of its own."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dmt.dialects.base import Dialect
from dmt.errors import first_line
from dmt.model.schema import Column, Table

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("dmt.pipeline")

GUARD = "__dmt_exact"  # the guard column's name: 1 where every value of the row is plain
COPIES = 2  # a batch's Arrow size times this is what it costs in memory at its peak

# the kind an ingested Arrow column takes -> source kinds the readers carry exactly into it
CARRIES: dict[str, set[str]] = {
    "int16": {"int8", "int16"},
    "int32": {"int8", "int16", "int32"},
    "int64": {"int8", "int16", "int32", "int64"},
    "float64": {"float64"},
    "varchar": {"char", "varchar", "text"},
    "char": {"char", "varchar", "text"},
    "text": {"char", "varchar", "text"},
    "date": {"date"},
    "timestamp": {"timestamp"},
    "binary": {"binary", "varbinary", "blob"},
    "varbinary": {"binary", "varbinary", "blob"},
    "blob": {"binary", "varbinary", "blob"},
    "boolean": {"boolean"},
}
TEXT = {"char", "varchar", "text"}


def arrow_type(kind: str) -> pa.DataType:
    import pyarrow as pa

    return {
        "int16": pa.int16(),
        "int32": pa.int32(),
        "int64": pa.int64(),
        "float64": pa.float64(),
        "date": pa.date32(),
        "timestamp": pa.timestamp("us"),
        "boolean": pa.bool_(),
        **dict.fromkeys(TEXT, pa.string()),
        **dict.fromkeys(("binary", "varbinary", "blob"), pa.binary()),
    }[kind]


def arrow_bytes(table: pa.Table) -> int:
    """The memory an Arrow batch costs the pipeline: it lives twice, as read (the driver's
    buffer, then Arrow) and as written (ADBC encodes the whole batch into one COPY buffer),
    and its buffers are counted whole, as allocated, not only the slice of them it shows."""
    return COPIES * int(table.get_total_buffer_size())


def within_budget(
    table: pa.Table, keys: pa.ChunkedArray, nbytes: int, max_bytes: int
) -> Iterator[tuple[pa.Table, int, int, Any]]:
    """``table`` (``nbytes`` as :func:`arrow_bytes` counts it, ``keys`` its ascending key
    column) as batches within ``max_bytes``: ``(batch, rows, bytes, highest key)``. A table
    read wider than planned (its rows wider than any seen before) goes in slices, each counted
    by the rows it shows: they share the table's buffers, which go with the last slice."""
    n = table.num_rows
    if nbytes <= max_bytes or n == 1:
        yield table, n, nbytes, keys[n - 1].as_py()
        return
    step = -(-n // -(-nbytes // max_bytes))
    for start in range(0, n, step):
        part = table.slice(start, step)
        rows = part.num_rows
        yield part, rows, COPIES * part.nbytes, keys[start + rows - 1].as_py()
        del part


def guard_sql(src: Dialect, columns: tuple[Column, ...] | list[Column]) -> str | None:
    """An expression that is 1 where the row holds only values the readers carry as the row
    path would (the source's :meth:`~dmt.dialects.base.Dialect.columnar_guard` per column);
    None when every value qualifies by its type alone."""
    terms: list[str] = []
    for col in columns:
        term = src.columnar_guard(col)
        if term is not None:
            terms.append(f"({src.quote(col.name)} IS NULL OR {term})")
    if not terms:
        return None
    expr = " AND ".join(terms)
    return f"CASE WHEN {expr} THEN 1 ELSE 0 END"


def columnar_select(
    src: Dialect, table: Table, key: str, last: Any, upper: Any, limit: int | None
) -> str:
    """The columnar reader's SELECT of ``table``'s rows with an integer ``key`` in
    ``(last, upper]`` (either end open when None), in key order, with the guard column."""
    q = src.quote(key)
    cols = [src.columnar_select_expr(c) for c in table.columns]
    guard = guard_sql(src, table.columns)
    if guard:
        cols.append(f"{guard} AS {src.quote(GUARD)}")
    where = []
    if last is not None:
        where.append(f"{q} > {int(last)}")
    if upper is not None:
        where.append(f"{q} <= {int(upper)}")
    sql = f"SELECT {', '.join(cols)} FROM {src.relation(table.name)}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY {q}" + (f" LIMIT {int(limit)}" if limit is not None else "")
    sql = src.columnar_query(sql)
    # no driver merges parameters here: undo the doubled `%` of Dialect.sql_text
    return sql.replace("%%", "%") if src.placeholder == "%s" else sql


def available() -> bool:
    """Whether pyarrow imports (a dependency of the default install, like the readers)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def returning_pool() -> None:
    """Arrow allocates from jemalloc where pyarrow has it, which gives freed memory back to
    the system: mimalloc, pyarrow's default, keeps what a thread freed for that thread, and
    the LOAD DATA text encoded on each reader thread stayed resident (SQLite -> MySQL, two
    tables at chunk_size 500,000: peak RSS 279-287 MB with mimalloc, 233-239 with jemalloc)."""
    import pyarrow as pa

    with contextlib.suppress(NotImplementedError):  # built without jemalloc: the default
        pa.set_memory_pool(pa.jemalloc_memory_pool())


def reader_failed(exc: BaseException) -> str:
    """Why a read failed, for the row path to take over; anything but a driver error or
    connectorx's Rust panic (a ``BaseException``) — GeneratorExit, Ctrl-C — goes on up."""
    if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
        raise exc
    return f"reader failed: {first_line(exc)}"


class ConnectionPool:
    """Idle driver connections, shared by the threads of one run; all closed at the end."""

    def __init__(self, connect: Callable[[], Any]) -> None:
        self._connect = connect
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._all: list[Any] = []
        self._lock = threading.Lock()

    def take(self) -> Any:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            conn = self._connect()
            with self._lock:
                self._all.append(conn)
            return conn

    def give(self, conn: Any) -> None:
        self._idle.put(conn)

    def discard(self, conn: Any) -> None:
        with self._lock:
            self._all.remove(conn)
        _close(conn)

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            _close(conn)


def _close(conn: Any) -> None:
    try:
        conn.close()
    except Exception as exc:  # closing is best effort
        log.debug("closing an ADBC connection: %s", first_line(exc))


def tsv_bytes(table: pa.Table) -> memoryview:
    """The text of a one-column table of lines (a target's ``columnar_encode`` for a "tsv"
    writer) as one buffer, without copying it row by row."""
    column = table.column(0).combine_chunks()
    offsets = memoryview(column.buffers()[1]).cast("i")  # int32 offsets (string or binary)
    start, end = offsets[column.offset], offsets[column.offset + len(column)]
    return memoryview(column.buffers()[2])[start:end]


class InfileCheck:
    """Whether the target takes LOAD DATA LOCAL INFILE, asked once (on a connection of its
    own) and remembered."""

    def __init__(self, target: Dialect) -> None:
        self._target = target
        self._usable: bool | None = None
        self._lock = threading.Lock()

    def usable(self) -> bool:
        with self._lock:
            if self._usable is None:
                conn = self._target.connect()
                try:
                    self._usable = self._target.local_infile_usable(conn)
                except Exception as exc:  # asked from a reader: name the target's failure
                    what = "checking LOAD DATA LOCAL INFILE"
                    raise self._target.translate_error(exc, what) from exc
                finally:
                    conn.close()
            return self._usable
