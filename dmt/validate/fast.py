"""The fast paths of ``checksum`` validation, chunk by chunk along an integer key, with the exact
path as the judge of every chunk they cannot call equal.

A fast comparison (a :class:`Comparer`) only ever says "equal" or "cannot tell": the server-side
digest (:mod:`dmt.validate.digest`) where both sides are one engine with the same types, else the
Arrow comparison (:mod:`dmt.validate.bulk`). PARALLEL_CHUNKS chunks of a table are compared at
once, each by its own comparer (its own connections); the outcomes are taken in chunk order, so
the first differing chunk is the one named, by the exact path (the key, and whether rows differ,
are missing or are extra).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from dmt.dialects.base import Dialect
from dmt.model.ranges import Chunk
from dmt.model.schema import INT_KINDS
from dmt.pipeline.chunks import plan_chunks
from dmt.schema.translate import TablePlan
from dmt.validate.reading import close, compare, guard
from dmt.validate.report import TableCheck

if TYPE_CHECKING:
    from dmt.validate.checksum import TableChecksum

log = logging.getLogger("dmt")

PARALLEL_CHUNKS = 3  # chunks of one table compared at once, each by both sides


class Comparer(Protocol):
    name: str  # for the debug log: "bulk", "digest"

    def compare(self, chunk: Chunk, halted: Callable[[], bool]) -> tuple[int, str | None]:
        """``(rows, None)`` when the chunk is equal on both sides, else ``(0, why)``."""
        ...

    def twin(self) -> Comparer:
        """A comparer of the same table with connections of its own."""
        ...

    def close(self) -> None: ...


def choose_fast(
    source: Dialect, target: Dialect, plan: TablePlan, key: tuple[str, ...]
) -> Comparer | None:
    """The fast comparison of this table, or None (the exact path alone)."""
    if len(key) != 1 or plan.source.column(key[0]).type.kind not in INT_KINDS:
        return None
    from dmt.validate.digest import choose_digest

    digest = choose_digest(source, target, plan, key)
    if digest is not None:
        return digest
    from dmt.validate.bulk import choose_bulk  # pyarrow's users, loaded only here

    return choose_bulk(source, target, plan, key)


def check_fast(tc: TableChecksum, first: Comparer) -> TableCheck:
    """``tc``'s table checked chunk by chunk by ``first`` and its twins; a chunk they cannot
    call equal is decided by ``tc``'s exact path."""
    check = TableCheck(tc.name, 0, 0)
    matched = 0
    free: queue.SimpleQueue[Comparer] = queue.SimpleQueue()
    done = threading.Event()

    def halted() -> bool:
        return tc.halted() or done.is_set()

    def work(chunk: Chunk) -> tuple[int, str | None]:
        comparer = free.get()
        try:
            return comparer.compare(chunk, halted)
        finally:
            free.put(comparer)

    with contextlib.ExitStack() as stack:
        for comparer in [first] + [first.twin() for _ in range(1, PARALLEL_CHUNKS)]:
            stack.callback(comparer.close)
            free.put(comparer)
        with guard(tc.source, "reading chunks", tc.name):
            sconn = tc.source.connect()
            stack.callback(close, sconn)
            chunks = iter(plan_chunks(tc.source, sconn, tc.plan.source, tc.key, tc.chunk_size))
        with guard(tc.target, "reading chunks", tc.name):
            tconn = tc.target.connect()
            stack.callback(close, tconn)
        pool = ThreadPoolExecutor(PARALLEL_CHUNKS, "dmt-validate-chunk")
        stack.callback(pool.shutdown, wait=True, cancel_futures=True)
        stack.callback(done.set)  # a mismatch or a failure: the chunks in flight stop early
        ahead = deque((c, pool.submit(work, c)) for c in itertools.islice(chunks, PARALLEL_CHUNKS))
        while ahead:
            chunk, outcome = ahead.popleft()
            rows, why = outcome.result()
            following = next(chunks, None)
            if following is not None:
                ahead.append((following, pool.submit(work, following)))
            got = rows
            if why is not None:
                log.debug("validate: `%s` %s on the exact path (%s)", tc.name,
                          chunk.describe(), why)  # fmt: skip
                with guard(tc.source, "reading chunks", tc.name):
                    sc = tc.read_source(sconn, chunk)
                with guard(tc.target, "reading chunks", tc.name):
                    target_rows = tc.read_target(tconn, sc)
                rows, got = len(sc.rows), len(target_rows)
                diff = compare(sc.rows, target_rows)
                if diff:
                    where = f"table `{tc.name}`: content differs in {chunk.describe()}: "
                    check.mismatch = where + diff
            check.chunks += 1
            check.source_rows += rows
            tc.seen.append((chunk, rows))
            matched += got
            if check.mismatch:
                break
        with guard(tc.target, "reading chunks", tc.name):
            check.target_rows = tc.target.count_rows(tconn, tc.plan.target.name)
            if not check.mismatch and check.target_rows > matched:
                check.mismatch = tc.extras(tconn, check.target_rows - matched)
    log.debug("validate: `%s` %d chunk(s) on the %s path", tc.name, check.chunks, first.name)
    return check
