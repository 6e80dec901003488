"""Direct data paths: ways to move a table's rows that skip Python row objects entirely.

PostgreSQL -> PostgreSQL streams ``COPY (SELECT … ORDER BY key) TO STDOUT (FORMAT binary)``
into ``COPY … FROM STDIN (FORMAT binary)``: the server's own encoding goes through untouched,
a batch being a run of row messages with the binary header and trailer put back on write. It
is chosen only when every column's type round-trips 1:1 in binary form; any other table takes
the exact row path. :func:`choose` is the one place that decides.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from dmt.dialects.base import Dialect
from dmt.errors import TransferError

if TYPE_CHECKING:
    from dmt.dialects.postgres import PostgresDialect
    from dmt.pipeline.chunks import Chunk
    from dmt.pipeline.pipeline import DataPath, TableJob
    from dmt.schema.translate import TablePlan

BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # signature, flags, extension length
BINARY_TRAILER = b"\xff\xff"

# PostgreSQL types whose binary form is the same on both sides of the mapping (format_type
# spellings, parameters stripped); arrays of them too. Anything else takes the row path.
_BINARY_SAFE = {
    "smallint", "integer", "bigint", "boolean", "real", "double precision", "numeric",
    "character varying", "character", "text", "bytea", "date", "time without time zone",
    "timestamp without time zone", "timestamp with time zone", "interval", "uuid", "json",
    "jsonb",
}  # fmt: skip
_PARAMS = re.compile(r"\(\d+(?:,\d+)?\)")


_ALIASES = (
    (re.compile(r"^varchar\b"), "character varying"),
    (re.compile(r"^timestamptz(\(\d+\))?$"), r"timestamp\1 with time zone"),
    (re.compile(r"^timestamp(\(\d+\))?$"), r"timestamp\1 without time zone"),
    (re.compile(r"^time(\(\d+\))?$"), r"time\1 without time zone"),
    (re.compile(r"\(6\)"), ""),  # microseconds are the default precision
)


def normalize(pg_type: str) -> str:
    """One spelling per PostgreSQL type, so a rendered type compares with ``format_type()``."""
    t = pg_type.strip().lower()
    for pattern, repl in _ALIASES:
        t = pattern.sub(repl, t)
    return t


def base_type(pg_type: str) -> str:
    """The type without its parameters, in :func:`normalize`'s spelling: ``numeric``."""
    return _PARAMS.sub("", normalize(pg_type)).strip()


def _binary_safe(formatted: str) -> bool:
    return base_type(normalize(formatted).removesuffix("[]")) in _BINARY_SAFE


class PgCopyPath:
    """PostgreSQL binary COPY out of the source, into the target, bytes untouched."""

    name = "pg-binary-copy"
    min_range_rows = 0

    def __init__(self, source: PostgresDialect, target: PostgresDialect) -> None:
        self.source = source
        self.target = target

    def read(
        self, conn: Any, job: TableJob, chunk: Chunk, max_rows: int, max_bytes: int,
        stop: Callable[[], bool],
    ) -> Iterator[tuple[list[bytes], int, int, float]]:  # fmt: skip
        src = self.source
        select = src.select_sql(
            job.source, job.key, chunk.lower is not None, chunk.upper is not None
        )
        sql = f"COPY ({select}) TO STDOUT (FORMAT binary)"
        started = time.monotonic()
        params = chunk.params()
        # psycopg merges parameters into a COPY only when there are some: without them the
        # doubled `%` of quoted names must be undone (PostgresDialect.copy_statement)
        statement = sql if params else src.copy_statement(sql)
        stopped = False
        with conn.cursor() as cur, cur.copy(statement, params or None) as copy:
            stream = iter(copy)
            head = bytes(next(stream, b""))
            if not head.startswith(BINARY_HEADER):
                raise TransferError("unexpected binary COPY header", job.source.name)
            blocks: list[bytes] = [head[len(BINARY_HEADER) :]]
            append = blocks.append
            nbytes = counted = 0
            # the hot loop: one libpq message per row; the sizes of the rows added since the
            # last look are summed every 256 rows (a running total, never the whole batch)
            for block in stream:
                append(bytes(block))
                n = len(blocks)
                if n & 255 == 0 or n >= max_rows:
                    nbytes += sum(map(len, blocks[counted:])) + 33 * (n - counted)
                    counted = n
                    if n >= max_rows or nbytes >= max_bytes:
                        rows = _rows_only(blocks)
                        yield rows, len(rows), nbytes, time.monotonic() - started
                        blocks = []
                        append = blocks.append
                        nbytes = counted = 0
                        if stop():
                            stopped = True
                            cancel_copy(conn, copy)
                            break
                        started = time.monotonic()
        if stopped:
            conn.rollback()
            return
        conn.commit()
        rows = _rows_only(blocks)
        if rows:
            nbytes = sum(map(len, rows)) + 33 * len(rows)
            yield rows, len(rows), nbytes, time.monotonic() - started

    def write(self, conn: Any, job: TableJob, payload: list[bytes]) -> int:
        import psycopg

        tgt = self.target
        cols = tgt.column_list(job.target.column_names)
        sql = f"COPY {tgt.qualified(job.target.name)} ({cols}) FROM STDIN (FORMAT binary)"
        try:
            with conn.cursor() as cur, cur.copy(tgt.copy_statement(sql)) as copy:
                copy.write(BINARY_HEADER)
                # slices, not one join: a batch is never held twice in memory while written
                for i in range(0, len(payload), 1024):
                    copy.write(b"".join(payload[i : i + 1024]))
                copy.write(BINARY_TRAILER)
            conn.commit()
        except psycopg.Error as exc:
            conn.rollback()
            raise TransferError(
                f"binary COPY failed: {tgt.translate_error(exc)}", job.target.name
            ) from exc
        return len(payload)

    def close(self) -> None:
        pass  # the pipeline's own connections carry the stream


def cancel_copy(conn: Any, copy: Any) -> None:
    """End a COPY TO that is not read to its end: leaving its block early would leave the
    connection busy (psycopg does not cancel it; the next command fails as if the connection
    were lost), and reading the rest could take long."""
    import psycopg

    getattr(conn, "cancel_safe", conn.cancel)()  # cancel_safe: psycopg 3.2+
    try:
        for _ in copy:
            pass
    except psycopg.errors.QueryCanceled:
        pass


def _rows_only(blocks: list[bytes]) -> list[bytes]:
    """Drop the stream's trailer (and the empty rest of a header-only first message). A row
    message is never ``b"\\xff\\xff"``: that field count (-1) only ever ends the stream."""
    while blocks and blocks[-1] in (BINARY_TRAILER, b""):
        blocks.pop()
    if blocks and blocks[0] in (BINARY_TRAILER, b""):
        blocks.pop(0)
    return blocks


def choose(source: Dialect, target: Dialect, plan: TablePlan) -> DataPath | None:
    """The direct path for this table, or None for the exact row path: the columnar path
    where it carries every column exactly, else PostgreSQL's binary pass-through (to
    PostgreSQL) or its text COPY into LOAD DATA (to MySQL)."""
    from dmt.dialects import arrow
    from dmt.dialects.mysql import MySQLDialect
    from dmt.dialects.pgtext import choose_text
    from dmt.dialects.postgres import PostgresDialect

    if os.environ.get("DMT_ROW_PATH") == "1":  # troubleshooting: every table on the row path
        return None
    columnar = arrow.choose(source, target, plan)
    if columnar is not None:
        return columnar
    if isinstance(source, PostgresDialect) and isinstance(target, MySQLDialect):
        return choose_text(source, target, plan)

    if isinstance(source, PostgresDialect) and isinstance(target, PostgresDialect):
        same = all(
            _binary_safe(col.type.source)
            and normalize(plan.types[tcol.name]) == normalize(col.type.source)
            for col, tcol in zip(plan.source.columns, plan.target.columns, strict=True)
        )
        if same:
            return PgCopyPath(source, target)
    return None
