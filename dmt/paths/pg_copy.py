"""Reading a PostgreSQL ``COPY … TO STDOUT`` through libpq, for the pass-through paths.

:func:`copy_out` yields the COPY's messages (one per row) straight from libpq, and
:func:`copy_batches` groups them into batches bounded in rows and bytes; both the binary
pass-through (:mod:`~dmt.paths.pg_binary`) and the text path (:mod:`~dmt.paths.pg_text`) read
with them. A COPY left unread is cancelled, so the connection stays usable.
"""

from __future__ import annotations

import logging
import select
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

PIECE_ROWS = 256  # row messages joined into one piece of a batch

log = logging.getLogger("dmt.pipeline")


@dataclass(frozen=True)
class CopyBatch:
    """One batch of a COPY stream: whole rows, as runs of them joined into pieces."""

    pieces: list[bytes]
    rows: int

    def write_to(self, f: BinaryIO) -> None:
        f.writelines(self.pieces)


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
