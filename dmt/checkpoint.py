"""Chunk checkpoints: the pipeline's :class:`~dmt.pipeline.checkpoints.Checkpoints` backed by
the state store, and the cleanup that makes a resumed chunk exact.

A chunk's plan (its key bounds) is stored before any of its rows move, it is marked *started*
before its first batch is queued, and *done* only after its last batch is committed. A merged
read (several planned chunks read as one range) marks all its parts at once, started before its
first batch and done after its last, so each part stays exact on its own. On resume,
a started-but-not-done chunk may be partly on the target: its rows are deleted there first —
by key range for integer keys (exact in any engine), and otherwise by the exact list of source
keys in the range (so no target collation is ever trusted) — then it is copied again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from dmt.dialects.base import Dialect, Row, ValueCounters
from dmt.errors import DmtError, Stalled, located
from dmt.model.job import TableJob
from dmt.model.ranges import Chunk
from dmt.model.schema import INT_KINDS
from dmt.paths.rows import bridge_rows
from dmt.pipeline.chunks import plan_chunks
from dmt.pipeline.tracker import TableResult
from dmt.state import StateStore

log = logging.getLogger("dmt")

DELETE_BATCH = 500


class Checkpointer:
    """The pipeline's checkpoints of one run, in the state store."""

    def __init__(
        self, store: StateStore, run_id: str, source: Dialect, target: Dialect, resuming: bool,
        stall_timeout: float = 0.0,
        after_table: Callable[[TableJob, TableResult], None] | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.after_table = after_table  # told of each table done (what it taught: learning)
        self.run_id = run_id
        self.source = source
        self.target = target
        self.resuming = resuming
        self.stall_timeout = stall_timeout  # also the limit of each cleanup statement
        self._started: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self.cleaned = 0  # chunks cleaned on the target before being copied again

    def chunks_for(self, job: TableJob, conn: Any, chunk_size: int) -> list[Chunk]:
        name = job.source.name
        plan = self.store.table_plan(self.run_id, name)
        if plan is None:
            chunks = plan_chunks(self.source, conn, job.source, job.key, chunk_size)
            self.store.plan_table(self.run_id, name, [(c.lower, c.upper) for c in chunks])
            return chunks
        started = self.store.started_chunks(self.run_id, name)
        todo = [Chunk(name, i, lo, hi) for i, lo, hi, done in plan if not done]
        dirty = [c for c in todo if c.index in started]
        if dirty:
            self._clean(job, conn, dirty)
        done = len(plan) - len(todo)
        if done:
            log.info(
                "table `%s`: resuming, %s of %s chunk(s) already copied",
                name,
                f"{done:,}",
                f"{len(plan):,}",
            )
        return todo

    def chunk_started(self, job: TableJob, chunk: Chunk) -> None:
        idxs = [part.index for part in chunk.planned()]
        self.store.chunks_started(self.run_id, job.source.name, idxs)

    def chunk_committed(self, job: TableJob, chunk: Chunk, rows: int) -> None:
        self.store.chunks_done(self.run_id, job.source.name, split_rows(chunk, rows))

    def table_done(self, job: TableJob, result: TableResult) -> None:
        self.store.table_done(self.run_id, job.source.name, result.rows, result.seconds)
        if self.after_table is not None:
            try:
                self.after_table(job, result)
            except DmtError as exc:  # what a table taught is never worth the copy
                log.warning("table `%s`: its outcome was not learned: %s", job.source.name, exc)

    # ------------------------------------------------------------------ cleanup on resume
    def clean(self, job: TableJob, source_conn: Any, chunks: list[Chunk]) -> None:
        self._clean(job, source_conn, chunks)

    def _clean(self, job: TableJob, source_conn: Any, chunks: list[Chunk]) -> None:
        tgt = self.target
        with tgt.exclusive_writes():
            self._clean_all(job, source_conn, chunks)

    def _clean_all(self, job: TableJob, source_conn: Any, chunks: list[Chunk]) -> None:
        tgt = self.target
        tconn = tgt.connect()
        try:
            tgt.set_statement_timeout(tconn, self.stall_timeout)
            for chunk in chunks:
                try:
                    n = self._clean_one(job, source_conn, tconn, chunk)
                except DmtError:
                    raise
                except Exception as exc:
                    if tgt.timed_out(exc):
                        raise Stalled(
                            tgt.side, located(job.source.name, chunk.describe())
                            + "removing the rows of the chunk in flight took longer than "
                            f"stall_timeout ({self.stall_timeout:g}s): {tgt.describe_error(exc)}",
                        ) from exc  # fmt: skip
                    where = f"removing table `{job.source.name}` {chunk.describe()} in flight"
                    raise tgt.translate_error(exc, where) from exc
                self.cleaned += 1
                log.info(
                    "table `%s`: %s was in flight; removed %s row(s) from the target before "
                    "copying it again", job.source.name, chunk.describe(), f"{n:,}",
                )  # fmt: skip
        finally:
            tconn.close()

    def _clean_one(self, job: TableJob, sconn: Any, tconn: Any, chunk: Chunk) -> int:
        tgt, table = self.target, job.target
        key = job.key
        tkey = tuple(job.target.columns[job.source.column_names.index(k)].name for k in key)
        if not key:
            return tgt.delete_range(tconn, table, (), None, None)
        kinds = {job.source.column(k).type.kind for k in key}
        if len(key) == 1 and kinds <= INT_KINDS:
            return tgt.delete_range(tconn, table, tkey, chunk.lower, chunk.upper)
        # any other key: delete exactly the source's keys in this range
        keys = self._source_keys(job, sconn, chunk)
        total = 0
        for i in range(0, len(keys), DELETE_BATCH):
            total += tgt.delete_keys(tconn, table, tkey, keys[i : i + DELETE_BATCH])
        return total

    def _source_keys(self, job: TableJob, sconn: Any, chunk: Chunk) -> list[tuple[Any, ...]]:
        src = self.source
        key_table = _project(job, job.key)
        sql = src.select_sql(key_table, job.key, chunk.lower is not None, chunk.upper is not None)
        target_keys = _project(job, job.key, target=True)
        convert = bridge_rows(src, key_table, self.target, target_keys, ValueCounters())
        try:
            out = self._read_keys(sql, sconn, chunk, convert)
        except DmtError:
            raise
        except Exception as exc:
            where = f"reading the keys of table `{job.source.name}` {chunk.describe()}"
            raise src.translate_error(exc, where) from exc
        return out

    def _read_keys(
        self, sql: str, sconn: Any, chunk: Chunk, convert: Callable[[list[Row]], list[Row]] | None
    ) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        with self.source.stream(sconn, sql, chunk.params()) as fetch:
            while rows := fetch(10_000):
                out.extend(convert(rows) if convert is not None else map(tuple, rows))
        return out


def split_rows(chunk: Chunk, rows: int) -> list[tuple[int, int]]:
    """``(index, rows)`` of each planned chunk ``chunk`` covers. A merged read counts its rows
    as one; they are spread evenly over its parts, so the per-chunk figures are an estimate
    but their sum (the table's total) is exact."""
    parts = chunk.planned()
    share, extra = divmod(rows, len(parts))
    return [(p.index, share + 1 if i < extra else share) for i, p in enumerate(parts)]


def _project(job: TableJob, cols: tuple[str, ...], target: bool = False) -> Any:
    """The job's table reduced to ``cols`` (source names), as the source or the target has it."""
    from dataclasses import replace

    idx = [job.source.column_names.index(c) for c in cols]
    table = job.target if target else job.source
    return replace(table, columns=[table.columns[i] for i in idx])
