"""Validation after the load: exact row counts, or content checksums chunk by chunk.

``count`` compares exact ``COUNT(*)`` on both sides (never statistics estimates).

``checksum`` compares content along the source's primary key, one key-range chunk at a time:

- Chunks come from the source in its own key order (:func:`~dmt.pipeline.chunks.plan_chunks`),
  so the source's collation defines them.
- Every row is reduced to its canonical text (:func:`~dmt.validate.canonical.canonical`, by
  the source column's kind, after each side's decoders; a source value first takes the
  target's documented lossy substitutions, :meth:`~dmt.dialects.base.Dialect.lossy_encoders`),
  so a value that crossed engines, documented lossy conversions included, compares equal; each
  row becomes ``canonical key -> 128-bit digest of the canonical row``.
- The target side never trusts its own collation. A key made only of integer columns is read
  on the target by the same key range (integers order alike in every engine), which also
  returns rows that exist only on the target. Any other key (text, dates, uuid, ...) is
  fetched on the target by the chunk's exact key list and matched again in Python on the
  canonical key, so neither the target's order nor its equality (PAD SPACE, case folding)
  is used. Rows on the target that no source chunk claimed are then found by comparing the
  target's ``COUNT(*)`` with the rows matched, and located by looking their keys up on the
  source.
- A table without a key is compared as a whole, as an order-independent multiset digest.
- A table keyed by one integer column first takes a fast path (:mod:`dmt.validate.fast`), which
  says only "equal" or "cannot tell" for a chunk, several chunks at once: a digest each server
  computes where both sides are one engine with the same column types
  (:mod:`dmt.validate.digest`), else, where every column is of a plain kind, both sides read as
  Arrow by the copy's columnar readers and compared column by column (:mod:`dmt.validate.bulk`).
  A chunk it cannot call equal takes the exact path above, which decides and names the key.

Per table, a source thread reads chunk *n+1* while the target side reads chunk *n* (a queue two
chunks deep); ``tables_in_flight`` tables are checked at once. Memory is bounded by a few chunks per
table. The first mismatching chunk of each table is reported and that table stops there. A
validation query that fails is an error (ValidationIncomplete, or ConnectionLost), never a
warning.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from dmt.dialects.base import Dialect
from dmt.errors import Cancelled
from dmt.schema.translate import TablePlan
from dmt.validate.checksum import TableChecksum
from dmt.validate.count import count_all
from dmt.validate.report import TableCheck, ValidationReport

__all__ = ["TableCheck", "ValidationReport", "validate"]


def validate(
    source: Dialect,
    target: Dialect,
    plans: list[TablePlan],
    mode: str,
    *,
    chunk_size: int = 50_000,
    tables_in_flight: int = 2,
    abort: threading.Event | None = None,
) -> ValidationReport:
    """Validate every planned table (``mode`` is ``count`` or ``checksum``)."""
    started = time.monotonic()
    report = _validate(source, target, plans, mode, chunk_size, tables_in_flight, abort)
    report.seconds = time.monotonic() - started
    return report


def _validate(
    source: Dialect, target: Dialect, plans: list[TablePlan], mode: str, chunk_size: int,
    tables_in_flight: int, abort: threading.Event | None,
) -> ValidationReport:  # fmt: skip
    abort = abort or threading.Event()
    if mode == "count":
        return count_all(source, target, plans)
    stop = threading.Event()  # one table failed: the others stop at their next chunk

    def one(p: TablePlan) -> TableCheck:
        try:
            return TableChecksum(source, target, p, chunk_size, abort, stop).run()
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(max(1, min(tables_in_flight, len(plans))), "dmt-validate") as ex:
        futures = [ex.submit(one, p) for p in plans]
        errors = [f.exception() for f in futures]
    first = next((e for e in errors if e is not None and not isinstance(e, Cancelled)), None)
    if first is not None:
        raise first
    if abort.is_set():
        raise Cancelled()
    return ValidationReport(mode, [f.result() for f in futures])
