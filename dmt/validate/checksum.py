"""``checksum`` validation of one table, chunk by chunk along the source key (the package
docstring tells how)."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from dmt.dialects.base import Dialect, Row
from dmt.errors import Cancelled
from dmt.model.schema import INT_KINDS, Table
from dmt.pipeline.chunks import Chunk, plan_chunks
from dmt.schema.translate import TablePlan, key_for
from dmt.validate.fast import check_fast, choose_fast
from dmt.validate.reading import (
    FETCH,
    KEY_BATCH,
    Canon,
    bridge,
    by_keys_sql,
    close,
    compare,
    fmt,
    guard,
    project,
    stream,
)
from dmt.validate.report import TableCheck

log = logging.getLogger("dmt")
_END = object()


@dataclass
class _SourceChunk:
    chunk: Chunk
    rows: dict[tuple[str | None, ...], bytes]  # canonical key -> digest, in source order
    params: list[Row]  # the keys as the target's driver takes them (key-list mode)


class TableChecksum:
    """Checksum validation of one table (see the module docstring)."""

    def __init__(
        self, source: Dialect, target: Dialect, plan: TablePlan, chunk_size: int,
        abort: threading.Event, stop: threading.Event,
    ) -> None:  # fmt: skip
        self.source, self.target, self.plan = source, target, plan
        self.name = plan.source.name
        self.chunk_size, self.abort, self.stop = chunk_size, abort, stop
        src = plan.source
        self.key = key_for(src)
        key_idx = [src.column_names.index(k) for k in self.key]
        self.tkey = tuple(plan.target.columns[i].name for i in key_idx)
        kinds = [c.type.kind for c in src.columns]
        self.scanon = Canon(source, src, kinds, key_idx, target.lossy_encoders(plan.target))
        self.tcanon = Canon(target, plan.target, kinds, key_idx)
        key_kinds = {src.column(k).type.kind for k in self.key}
        self.by_range = bool(self.key) and key_kinds <= INT_KINDS
        self.key_enc = self._key_encoders()
        self.seen: list[tuple[Chunk, int]] = []  # chunks compared, with their source rows

    def run(self) -> TableCheck:
        if not self.key:
            return self._whole_table()
        fast = choose_fast(self.source, self.target, self.plan, self.key)
        if fast is not None:
            return check_fast(self, fast)
        q: queue.Queue[Any] = queue.Queue(maxsize=2)
        done = threading.Event()
        producer = threading.Thread(
            target=self._produce, args=(q, done), name=f"dmt-validate-src-{self.name}"
        )
        producer.start()
        try:
            return self._consume(q)
        finally:
            done.set()
            producer.join()

    # ------------------------------------------------------------------ source side
    def _produce(self, q: queue.Queue[Any], done: threading.Event) -> None:
        def put(item: Any) -> bool:
            while not done.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            with guard(self.source, "reading chunks", self.name):
                conn = self.source.timed_connect()
                try:
                    chunks = plan_chunks(
                        self.source, conn, self.plan.source, self.key, self.chunk_size
                    )
                    for chunk in chunks:
                        if self.halted():
                            raise Cancelled()  # the consumer always hears how this ended
                        if not put(self.read_source(conn, chunk)):
                            return
                finally:
                    close(conn)
            put(_END)
        except BaseException as exc:
            put(exc)

    def read_source(self, conn: Any, chunk: Chunk) -> _SourceChunk:
        src = self.source
        sql = src.select_sql(
            self.plan.source, self.key, chunk.lower is not None, chunk.upper is not None
        )
        rows: dict[tuple[str | None, ...], bytes] = {}
        params: list[Row] = []
        key_idx = self.scanon.key_idx
        for row in stream(src, conn, sql, chunk.params()):
            ckey, digest = self.scanon.row(row)
            rows[ckey] = digest
            if not self.by_range:
                params.append(self.key_enc(tuple(row[i] for i in key_idx)))
        return _SourceChunk(chunk, rows, params)

    def _key_encoders(self) -> Callable[[Row], Row]:
        """Source key values -> what the target's driver takes."""
        return bridge(
            self.source, project(self.plan.source, self.key),
            self.target, project(self.plan.target, self.tkey),
        )  # fmt: skip

    # ------------------------------------------------------------------ target side
    def _consume(self, q: queue.Queue[Any]) -> TableCheck:
        check = TableCheck(self.name, 0, 0)
        matched = 0
        with guard(self.target, "reading chunks", self.name):
            conn = self.target.timed_connect()
            try:
                while True:
                    item = q.get()
                    if item is _END:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    if self.halted():
                        raise Cancelled()
                    sc: _SourceChunk = item
                    got = self.read_target(conn, sc)
                    check.chunks += 1
                    check.source_rows += len(sc.rows)
                    self.seen.append((sc.chunk, len(sc.rows)))
                    matched += len(got)
                    diff = compare(sc.rows, got)
                    if diff:
                        check.mismatch = (
                            f"table `{self.name}`: content differs in {sc.chunk.describe()}: "
                            + diff
                        )
                        check.target_rows = self.target.count_rows(conn, self.plan.target.name)
                        return check
                total = self.target.count_rows(conn, self.plan.target.name)
                check.target_rows = total
                if total > matched:
                    check.mismatch = self.extras(conn, total - matched)
            finally:
                close(conn)
        log.debug(
            "validate: `%s` %s rows in %s chunk(s) equal",
            self.name,
            f"{matched:,}",
            f"{check.chunks:,}",
        )
        return check

    def read_target(self, conn: Any, sc: _SourceChunk) -> dict[tuple[str | None, ...], bytes]:
        tgt, table = self.target, self.plan.target
        out: dict[tuple[str | None, ...], bytes] = {}
        if self.by_range:
            c = sc.chunk
            sql = tgt.select_sql(table, self.tkey, c.lower is not None, c.upper is not None)
            for row in stream(tgt, conn, sql, c.params()):
                ckey, digest = self.tcanon.row(row)
                out[ckey] = digest
            return out
        for i in range(0, len(sc.params), KEY_BATCH):
            keys = sc.params[i : i + KEY_BATCH]
            sql, params = by_keys_sql(tgt, table.column_names, table.name, self.tkey, keys)
            for row in stream(tgt, conn, sql, params):
                ckey, digest = self.tcanon.row(row)
                if ckey in sc.rows:  # a row matched by the target's looser equality is not ours
                    out[ckey] = digest
        return out

    def extras(self, tconn: Any, n: int) -> str:
        """Name the chunk of the first target row whose key the source does not have."""
        head = f"{n:,} row(s) on the target are not in the source"
        kinds = [self.plan.source.column(k).type.kind for k in self.key]
        positions = list(range(len(self.key)))
        tkeys, skeys = project(self.plan.target, self.tkey), project(self.plan.source, self.key)
        tcanon = Canon(self.target, tkeys, kinds, positions)
        scanon = Canon(self.source, skeys, kinds, positions, self.target.lossy_encoders(tkeys))
        to_source = bridge(self.target, tkeys, self.source, skeys)
        sql = self.target.select_sql(tkeys, (), False, False)
        with guard(self.source, "looking up target keys", self.name, also=self.target):
            sconn = self.source.timed_connect()
            try:
                batch: list[Row] = []
                for row in stream(self.target, tconn, sql, []):
                    batch.append(row)
                    if len(batch) < KEY_BATCH:
                        continue
                    found = self._unknown(sconn, batch, tcanon, scanon, to_source)
                    if found:
                        return self._where(found[1]) + head + found[0]
                    batch = []
                found = self._unknown(sconn, batch, tcanon, scanon, to_source)
                return self._where(found[1] if found else None) + head + (found or ("", 0))[0]
            finally:
                close(sconn)

    def _unknown(
        self, sconn: Any, keys: list[Row], tcanon: Canon, scanon: Canon,
        to_source: Callable[[Row], Row],
    ) -> tuple[str, int | None] | None:  # fmt: skip
        """None, or ("; first extra key ...", its chunk index) for the first of ``keys`` that
        the source does not have."""
        if not keys:
            return None
        params = [to_source(k) for k in keys]
        sql, flat = by_keys_sql(self.source, self.key, self.plan.source.name, self.key, params)
        have = {scanon.row(r)[0] for r in stream(self.source, sconn, sql, flat)}
        for raw, native in zip(keys, params, strict=True):
            ckey = tcanon.row(raw)[0]
            if ckey not in have:
                return f"; first extra key {fmt(ckey)}", self._chunk_of(sconn, native)
        return None

    def _where(self, index: int | None) -> str:
        if index is None or not 0 <= index < len(self.seen):
            return f"table `{self.name}`: content differs: "
        return f"table `{self.name}`: content differs in {self.seen[index][0].describe()}: "

    def _chunk_of(self, sconn: Any, key: Row) -> int | None:
        """The index of the source chunk ``key`` falls in, from the count of source keys up to
        it (chunk bounds are source keys, so chunk *i* holds the keys ranked after the rows of
        chunks 0..i-1); None if the source cannot say."""
        src = self.source
        cols = src.column_list(self.key)
        marks = ", ".join([src.placeholder] * len(self.key))
        cond = f"{cols} <= {src.placeholder}" if len(self.key) == 1 else f"({cols}) <= ({marks})"
        sql = f"SELECT COUNT(*) FROM {src.relation(self.plan.source.name)} WHERE {cond}"
        try:
            ((below,),) = list(stream(src, sconn, sql, list(key)))
        except Exception as exc:  # only the location is lost; the mismatch stands
            log.debug("locating an extra key failed: %s", exc)
            return None
        seen = 0
        for i, (_, rows) in enumerate(self.seen):
            if int(below) < seen + rows:
                return i
            seen += rows
        return len(self.seen) - 1

    # ------------------------------------------------------------------ no key
    def _whole_table(self) -> TableCheck:
        def digest(dialect: Dialect, table: Table, canon: Canon) -> tuple[int, int]:
            n, total = 0, 0
            with guard(dialect, "reading the table", self.name):
                conn = dialect.timed_connect()
                try:
                    sql = dialect.select_sql(table, (), False, False)
                    for row in stream(dialect, conn, sql, []):
                        total = (total + int.from_bytes(canon.row(row)[1], "big")) % (1 << 128)
                        n += 1
                        if n % FETCH == 0 and self.halted():
                            raise Cancelled()
                finally:
                    close(conn)
            return n, total

        with ThreadPoolExecutor(2, thread_name_prefix="dmt-validate") as ex:
            s = ex.submit(digest, self.source, self.plan.source, self.scanon)
            t = ex.submit(digest, self.target, self.plan.target, self.tcanon)
            (sn, sd), (tn, td) = s.result(), t.result()
        check = TableCheck(self.name, sn, tn, chunks=1)
        if (sn, sd) != (tn, td):
            check.mismatch = (
                f"table `{self.name}`: content differs (no primary key, compared as a whole: "
                f"{sn:,} rows in the source, {tn:,} in the target)"
            )
        return check

    def halted(self) -> bool:
        return self.abort.is_set() or self.stop.is_set()
