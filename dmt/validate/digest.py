"""The server-side digest of ``checksum`` validation: where source and target are one engine and
every column has the same type on both (the binary COPY pass-through's condition,
:func:`~dmt.paths.pg_binary.choose_binary`), each side sums up a chunk's rows in one query
(:meth:`~dmt.dialects.base.Dialect.chunk_digest`): the row count and a digest of every row's
text. No row leaves either server. Equal digests make the chunk equal; different ones, or a
digest query that fails, send the chunk to the exact path, which decides and names the key.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from dmt.dialects.base import Dialect
from dmt.errors import Cancelled, first_line
from dmt.model.ranges import Chunk
from dmt.model.schema import Table
from dmt.paths.pg_binary import choose_binary
from dmt.schema.translate import TablePlan
from dmt.validate.reading import close, stream


class DigestPair:
    """One chunk at a time digested on both sides at once, each on a connection of its own."""

    name = "digest"

    def __init__(self, sides: list[tuple[Dialect, Table, tuple[str, ...]]]) -> None:
        self.sides = sides
        self._conns: list[Any] = [None] * len(sides)
        self._ex = ThreadPoolExecutor(len(sides), "dmt-validate-digest")

    def twin(self) -> DigestPair:
        return DigestPair(self.sides)

    def close(self) -> None:
        self._ex.shutdown(wait=True, cancel_futures=True)
        self.close_connections()

    def compare(self, chunk: Chunk, halted: Callable[[], bool]) -> tuple[int, str | None]:
        if halted():
            raise Cancelled()
        futures = [self._ex.submit(self._digest, i, chunk) for i in range(len(self.sides))]
        wait(futures)  # a connection serves one query at a time
        try:
            (sd, td) = (f.result() for f in futures)
        except Exception as exc:  # the exact path reads the chunk and tells what is wrong
            self.close_connections()
            return 0, f"the digest query failed: {first_line(exc)}"
        if sd != td:
            return 0, "the digests differ"
        return int(sd[0]), None

    def close_connections(self) -> None:
        for i, conn in enumerate(self._conns):
            if conn is not None:
                close(conn)
            self._conns[i] = None

    def _digest(self, i: int, chunk: Chunk) -> tuple[Any, ...]:
        dialect, table, key = self.sides[i]
        select = dialect.select_sql(table, key, chunk.lower is not None, chunk.upper is not None)
        settings, sql = dialect.chunk_digest(select) or ((), "")
        if self._conns[i] is None:
            conn = dialect.connect()
            with conn.cursor() as cur:
                for statement in settings:
                    cur.execute(statement)
            conn.commit()
            self._conns[i] = conn
        (row,) = list(stream(dialect, self._conns[i], sql, chunk.params()))
        return tuple(row)


def choose_digest(
    source: Dialect, target: Dialect, plan: TablePlan, key: tuple[str, ...]
) -> DigestPair | None:
    """The digest comparison of this table, or None."""
    if type(source) is not type(target) or source.chunk_digest("") is None:
        return None
    if choose_binary(source, target, plan) is None:
        return None
    tkey = tuple(plan.target.columns[plan.source.column_names.index(k)].name for k in key)
    return DigestPair([(source, plan.source, key), (target, plan.target, tkey)])
