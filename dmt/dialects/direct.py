"""Direct data paths: ways to move a table's rows that skip Python row objects entirely.

PostgreSQL -> PostgreSQL streams ``COPY (SELECT … ORDER BY key) TO STDOUT (FORMAT binary)``
into ``COPY … FROM STDIN (FORMAT binary)``: the server's own encoding goes through untouched,
a batch being runs of row messages with the binary header and trailer put back on write. It
is chosen only when every column's type round-trips 1:1 in binary form; any other table takes
the columnar path (``arrow.py``) or the exact row path. :func:`choose` is the one place that
decides. :func:`copy_out` and :func:`copy_batches` read a COPY for this path and the text
path (``pgtext.py``) alike.
"""

from __future__ import annotations

import logging
import os
import re
import select
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from dmt.dialects.base import Dialect
from dmt.errors import TransferError

if TYPE_CHECKING:
    from dmt.dialects.postgres import PostgresDialect
    from dmt.pipeline.chunks import Chunk
    from dmt.pipeline.pipeline import DataPath, TableJob
    from dmt.schema.translate import TablePlan

BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # signature, flags, extension length
BINARY_TRAILER = b"\xff\xff"
PIECE_ROWS = 256  # row messages joined into one piece of a batch

log = logging.getLogger("dmt.pipeline")

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


@dataclass(frozen=True)
class CopyBatch:
    """One batch of a COPY stream: whole rows, as runs of them joined into pieces."""

    pieces: list[bytes]
    rows: int

    def write_to(self, f: BinaryIO) -> None:
        f.writelines(self.pieces)


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
    ) -> Iterator[tuple[CopyBatch, int, int, float]]:  # fmt: skip
        src = self.source
        query = src.select_sql(
            job.source, job.key, chunk.lower is not None, chunk.upper is not None
        )
        sql = f"COPY ({query}) TO STDOUT (FORMAT binary)"
        stream = _binary_rows(copy_out(conn, sql, chunk.params()), job)
        for pieces, rows, nbytes, secs in copy_batches(
            conn, stream, b"".join, max_rows, max_bytes, stop
        ):
            yield CopyBatch(pieces, rows), rows, nbytes, secs

    def write(self, conn: Any, job: TableJob, payload: CopyBatch) -> int:
        import psycopg

        tgt = self.target
        cols = tgt.column_list(job.target.column_names)
        sql = f"COPY {tgt.qualified(job.target.name)} ({cols}) FROM STDIN (FORMAT binary)"
        try:
            with conn.cursor() as cur, cur.copy(tgt.copy_statement(sql)) as copy:
                copy.write(BINARY_HEADER)
                for piece in payload.pieces:
                    copy.write(piece)
                copy.write(BINARY_TRAILER)
            conn.commit()
        except psycopg.Error as exc:
            conn.rollback()
            raise tgt.translate_error(exc, "binary COPY failed", job.target.name) from exc
        return payload.rows

    def close(self) -> None:
        pass  # the pipeline's own connections carry the stream


def copy_out(
    conn: Any, sql: str, params: Sequence[Any], step: int = PIECE_ROWS
) -> Generator[list[Any], None, None]:
    """The messages of ``COPY … TO STDOUT`` — one per row (the first with a binary COPY's
    header, the last its trailer) — in lists of ``step``, read from libpq directly.

    psycopg's ``Copy`` iteration runs Python generators for every row (~1 µs a row, the
    largest share of a PostgreSQL -> PostgreSQL copy's client CPU); this loop only calls
    libpq. Closing the generator before the end cancels the COPY, which leaving it unread
    would not: the connection would stay busy and the next command fail as if it were lost.
    """
    import psycopg
    from psycopg import pq

    pgconn = conn.pgconn
    # COPY takes no bind parameters: psycopg merges them client-side, as cursor.copy does
    if params:
        with psycopg.ClientCursor(conn) as cur:
            query = cur.mogrify(sql, params)
    else:
        query = sql.replace("%%", "%")
    pgconn.send_query(query.encode(conn.info.encoding))
    res = _next_result(pgconn)
    if res is None or res.status != pq.ExecStatus.COPY_OUT:
        _results(pgconn)
        raise _error(conn, res)
    get = pgconn.get_copy_data
    done = False
    try:
        messages: list[Any] = []
        append = messages.append
        while True:
            n, data = get(1)
            if n > 0:
                append(data)
                if len(messages) >= step:
                    yield messages
                    messages = []
                    append = messages.append
            elif n == 0:
                _wait_readable(pgconn)
            elif n == -1:
                break
            else:
                raise psycopg.OperationalError(pgconn.get_error_message().decode(errors="replace"))
        done = True
        for res in _results(pgconn):
            if res.status != pq.ExecStatus.COMMAND_OK:
                raise _error(conn, res)
        if messages:
            yield messages
    finally:
        if not done:
            _cancel(conn)


def copy_batches(
    conn: Any, stream: Generator[list[Any], None, None], piece: Callable[[list[Any]], bytes],
    max_rows: int, max_bytes: int, stop: Callable[[], bool],
) -> Iterator[tuple[list[bytes], int, int, float]]:  # fmt: skip
    """:func:`copy_out`'s row messages as batches of ``piece``-joined runs, each within
    ``max_rows`` and (but for one run) ``max_bytes``; the transaction is committed at the
    end, or rolled back and the COPY cancelled when ``stop`` says so."""
    started = time.monotonic()
    pieces: list[bytes] = []
    rows = nbytes = 0
    try:
        for messages in stream:
            i = 0
            while i < len(messages):
                run = messages[i : i + max_rows - rows]
                i += len(run)
                block = piece(run)
                pieces.append(block)
                rows += len(run)
                nbytes += len(block)
                if rows >= max_rows or nbytes >= max_bytes:
                    yield pieces, rows, nbytes, time.monotonic() - started
                    pieces, rows, nbytes = [], 0, 0
                    if stop():
                        stream.close()  # a COPY left unread is cancelled, not read to its end
                        conn.rollback()
                        return
                    started = time.monotonic()
    finally:
        stream.close()
    conn.commit()
    if rows:
        yield pieces, rows, nbytes, time.monotonic() - started


def _binary_rows(
    stream: Generator[list[Any], None, None], job: TableJob
) -> Generator[list[Any], None, None]:
    """A binary COPY's messages without its header and trailer: row messages only."""
    try:
        first = True
        for messages in stream:
            if first:  # the first message carries the header, and maybe the first row
                head = bytes(messages[0])
                if not head.startswith(BINARY_HEADER):
                    raise TransferError("unexpected binary COPY header", job.source.name)
                messages[0] = head[len(BINARY_HEADER) :]
                if not messages[0]:
                    del messages[0]
                first = False
            # a row's field count is never -1: only the trailer is these two bytes
            if messages and messages[-1] == BINARY_TRAILER:
                messages.pop()
            yield messages
    finally:
        stream.close()


def _wait_readable(pgconn: Any) -> None:
    select.select([pgconn.socket], [], [], 1.0)  # releases the GIL
    pgconn.consume_input()


def _next_result(pgconn: Any) -> Any:
    while pgconn.is_busy():
        _wait_readable(pgconn)
    return pgconn.get_result()


def _results(pgconn: Any) -> list[Any]:
    """Every result left of the current query (libpq wants them read)."""
    out = []
    while (res := _next_result(pgconn)) is not None:
        out.append(res)
    return out


def _error(conn: Any, res: Any) -> Exception:
    import psycopg

    if res is None:
        return psycopg.OperationalError(conn.pgconn.get_error_message().decode(errors="replace"))
    return psycopg.errors.error_from_result(res, encoding=conn.info.encoding)


def _cancel(conn: Any) -> None:
    """End a COPY TO that is not read to its end; whatever it yields now is dropped."""
    pgconn = conn.pgconn
    try:
        getattr(conn, "cancel_safe", conn.cancel)()  # cancel_safe: psycopg 3.2+
        while (n := pgconn.get_copy_data(1)[0]) >= 0:
            if n == 0:
                _wait_readable(pgconn)
        _results(pgconn)
    except Exception as exc:  # a broken connection: the caller's rollback or close says so
        log.debug("cancelling a COPY: %s", exc)


def choose(source: Dialect, target: Dialect, plan: TablePlan) -> DataPath | None:
    """The direct path for this table, or None for the exact row path: PostgreSQL's binary
    pass-through (to PostgreSQL) where every type is the same on both sides, else the
    columnar path where it carries every column exactly, else PostgreSQL's text COPY into
    LOAD DATA (to MySQL)."""
    from dmt.dialects import arrow
    from dmt.dialects.mysql import MySQLDialect
    from dmt.dialects.pgtext import choose_text
    from dmt.dialects.postgres import PostgresDialect

    if os.environ.get("DMT_ROW_PATH") == "1":  # troubleshooting: every table on the row path
        return None
    if isinstance(source, PostgresDialect) and isinstance(target, PostgresDialect):
        same = all(
            _binary_safe(col.type.source)
            and normalize(plan.types[tcol.name]) == normalize(col.type.source)
            for col, tcol in zip(plan.source.columns, plan.target.columns, strict=True)
        )
        if same:  # no decoding at all, and none of the columnar libraries to load (0.3 s)
            return PgCopyPath(source, target)
    columnar = arrow.choose(source, target, plan)
    if columnar is not None:
        return columnar
    if isinstance(source, PostgresDialect) and isinstance(target, MySQLDialect):
        return choose_text(source, target, plan)
    return None
