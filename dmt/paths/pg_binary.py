"""The binary COPY pass-through: ``COPY (SELECT … ORDER BY key) TO STDOUT (FORMAT binary)`` into
``COPY … FROM STDIN (FORMAT binary)``, the server's own encoding untouched, a batch being runs of
row messages with the binary header and trailer put back on write.

Both dialects must declare ``copy_binary_passthrough``, and every column's type must have the
same binary form on both sides (:meth:`~dmt.dialects.base.Dialect.binary_copy_safe`, the same
type after :meth:`~dmt.dialects.base.Dialect.same_type`); any other table takes another path.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import Any

from dmt.dialects.base import Dialect
from dmt.errors import TransferError
from dmt.model.job import TableJob
from dmt.model.ranges import Chunk
from dmt.paths.pg_copy import CopyBatch, copy_batches, copy_out
from dmt.schema.translate import TablePlan

BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00" * 8  # signature, flags, extension length
BINARY_TRAILER = b"\xff\xff"


def choose_binary(source: Dialect, target: Dialect, plan: TablePlan) -> PgCopyPath | None:
    """The pass-through for a table whose every column is of a binary-safe type, the same on
    both sides; else None."""
    if not (source.copy_binary_passthrough and target.copy_binary_passthrough):
        return None
    for col, tcol in zip(plan.source.columns, plan.target.columns, strict=True):
        src_type = col.type.source
        if not source.binary_copy_safe(src_type):
            return None
        if not target.same_type(plan.types[tcol.name], src_type):
            return None
    return PgCopyPath(source, target)


class PgCopyPath:
    """Binary COPY out of the source, into the target, bytes untouched."""

    name = "pg-binary-copy"
    min_range_rows = 0
    reader_batches = 1  # libpq hands over one row message at a time

    def __init__(self, source: Dialect, target: Dialect) -> None:
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

    def session_conn(self, conn: Any) -> Any:
        return conn

    def close(self) -> None:
        pass  # the pipeline's own connections carry the stream


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
