"""Validation after the load: exact row counts, or content checksums chunk by chunk.

``count`` compares exact ``COUNT(*)`` on both sides (never statistics estimates).

``checksum`` compares content along the source's primary key, one key-range chunk at a time:

- Chunks come from the source in its own key order (:func:`~dmt.pipeline.chunks.plan_chunks`),
  so the source's collation defines them.
- Every row is reduced to its canonical text (:func:`dmt.canonical.canonical`, by the source
  column's kind, after each side's decoders), so a value that crossed engines compares equal;
  each row becomes ``canonical key -> 128-bit digest of the canonical row``.
- The target side never trusts its own collation. A key made only of integer columns is read
  on the target by the same key range (integers order alike in every engine), which also
  returns rows that exist only on the target. Any other key (text, dates, uuid, ...) is
  fetched on the target by the chunk's exact key list and matched again in Python on the
  canonical key, so neither the target's order nor its equality (PAD SPACE, case folding)
  is used. Rows on the target that no source chunk claimed are then found by comparing the
  target's ``COUNT(*)`` with the rows matched, and located by looking their keys up on the
  source.
- A table without a key is compared as a whole, as an order-independent multiset digest.

Per table, a source thread reads chunk *n+1* while the target side reads chunk *n* (a queue two
chunks deep); ``workers`` tables are checked at once. Memory is bounded by a few chunks per
table. The first mismatching chunk of each table is reported and that table stops there. A
validation query that fails is an error (ValidationIncomplete, or ConnectionLost), never a
warning.
"""

from __future__ import annotations

import hashlib
import logging
import math
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from dmt.canonical import canonical
from dmt.dialects.base import Dialect, Row, ValueCounters
from dmt.errors import (
    Cancelled,
    ConnectionLost,
    DmtError,
    ValidationIncomplete,
    connection_lost,
    first_line,
)
from dmt.model.ranges import Chunk
from dmt.pipeline.chunks import plan_chunks
from dmt.schema.model import Table
from dmt.schema.translate import TablePlan, key_for

log = logging.getLogger("dmt")

INT_KINDS = {"int8", "int16", "int32", "int64"}
KEY_BATCH = 500  # keys per target lookup
FETCH = 5_000
_END = object()


@dataclass
class TableCheck:
    """The outcome for one table: rows on each side, chunks compared, the first mismatch."""

    table: str
    source_rows: int
    target_rows: int
    chunks: int = 0
    mismatch: str | None = None


@dataclass
class ValidationReport:
    mode: str
    tables: list[TableCheck] = field(default_factory=list)

    @property
    def mismatches(self) -> list[str]:
        return [t.mismatch for t in self.tables if t.mismatch]

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"table": t.table, "source_rows": t.source_rows, "target_rows": t.target_rows,
             "chunks": t.chunks, "mismatch": t.mismatch}
            for t in self.tables
        ]  # fmt: skip


def validate(
    source: Dialect,
    target: Dialect,
    plans: list[TablePlan],
    mode: str,
    *,
    chunk_size: int = 50_000,
    workers: int = 2,
    abort: threading.Event | None = None,
) -> ValidationReport:
    """Validate every planned table (``mode`` is ``count`` or ``checksum``)."""
    abort = abort or threading.Event()
    if mode == "count":
        return _count_all(source, target, plans)
    stop = threading.Event()  # one table failed: the others stop at their next chunk

    def one(p: TablePlan) -> TableCheck:
        try:
            return _TableChecksum(source, target, p, chunk_size, abort, stop).run()
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(max(1, min(workers, len(plans))), "dmt-validate") as ex:
        futures = [ex.submit(one, p) for p in plans]
        errors = [f.exception() for f in futures]
    first = next((e for e in errors if e is not None and not isinstance(e, Cancelled)), None)
    if first is not None:
        raise first
    if abort.is_set():
        raise Cancelled()
    return ValidationReport(mode, [f.result() for f in futures])


def count_mismatches(source: Dialect, target: Dialect, pairs: list[tuple[str, str]]) -> list[str]:
    """One line per table whose exact row counts differ."""
    out = []
    for name, s, t in count_rows_both(source, target, pairs):
        if s != t:
            out.append(f"table `{name}`: {s} rows in the source, {t} in the target")
    return out


# ---------------------------------------------------------------------------------- count
def _count_all(source: Dialect, target: Dialect, plans: list[TablePlan]) -> ValidationReport:
    pairs = [(p.source.name, p.target.name) for p in plans]
    report = ValidationReport("count")
    for name, s, t in count_rows_both(source, target, pairs):
        check = TableCheck(name, s, t, chunks=1)
        if s != t:
            check.mismatch = f"table `{name}`: {s} rows in the source, {t} in the target"
        else:
            log.debug("validate: `%s` %d rows on both sides", name, s)
        report.tables.append(check)
    return report


def _counts(dialect: Dialect, names: list[str]) -> dict[str, int]:
    with _guard(dialect, "counting rows"):
        conn = dialect.connect()
        try:
            return {n: dialect.count_rows(conn, n) for n in names}
        finally:
            _close(conn)


def count_rows_both(
    source: Dialect, target: Dialect, pairs: list[tuple[str, str]]
) -> list[tuple[str, int, int]]:
    """(table, source rows, target rows) for every (source name, target name) pair."""
    with ThreadPoolExecutor(2, thread_name_prefix="dmt-validate") as ex:
        src = ex.submit(_counts, source, [s for s, _ in pairs])
        dst = ex.submit(_counts, target, [t for _, t in pairs])
        s_counts, t_counts = src.result(), dst.result()
    return [(s, s_counts[s], t_counts[t]) for s, t in pairs]


class _guard:
    """Turn any failure of a validation query into ConnectionLost or ValidationIncomplete."""

    def __init__(self, dialect: Dialect, what: str, table: str | None = None) -> None:
        self.dialect, self.what, self.table = dialect, what, table

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, Cancelled | ValidationIncomplete | ConnectionLost):
            return
        if not isinstance(exc, Exception):
            return
        where = f"table `{self.table}`: " if self.table else ""
        msg = first_line(exc)
        if connection_lost(exc):
            raise ConnectionLost(self.dialect.side, f"{where}{self.what}: {msg}") from exc
        if not isinstance(exc, DmtError):
            msg = self.dialect.translate_error(exc)
        raise ValidationIncomplete(
            f"{where}{self.what} on the {self.dialect.side} failed: {msg}"
        ) from exc


# ---------------------------------------------------------------------------------- checksum
class _Canon:
    """One side's reading of a table: decode, canonicalize by the source kinds, digest."""

    def __init__(self, dialect: Dialect, table: Table, kinds: list[str], key_idx: list[int]):
        decs = dialect.decoders(table, ValueCounters())
        self.cols = list(zip(decs, [_canon_fn(k) for k in kinds], strict=True))
        self.key_idx = key_idx

    def row(self, row: Row) -> tuple[tuple[str | None, ...], bytes]:
        canon = tuple(
            None if v is None else c(d(v) if d is not None else v)
            for v, (d, c) in zip(row, self.cols, strict=True)
        )
        digest = hashlib.blake2b(repr(canon).encode(), digest_size=16).digest()
        return tuple(canon[i] for i in self.key_idx), digest


def _canon_fn(kind: str) -> Callable[[Any], str | None]:
    if kind == "float32":
        # 6 significant digits (FLT_DIG): every float32 survives them, and they are all that
        # MySQL's text protocol shows of a FLOAT, though it stores the value exactly
        return _float32
    return lambda v: canonical(v, kind)


def _float32(v: Any) -> str | None:
    f = float(v)
    return str(f) if math.isnan(f) or math.isinf(f) else f"{f:.6g}"


@dataclass
class _SourceChunk:
    chunk: Chunk
    rows: dict[tuple[str | None, ...], bytes]  # canonical key -> digest, in source order
    params: list[Row]  # the keys as the target's driver takes them (key-list mode)


class _TableChecksum:
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
        self.scanon = _Canon(source, src, kinds, key_idx)
        self.tcanon = _Canon(target, plan.target, kinds, key_idx)
        key_kinds = {src.column(k).type.kind for k in self.key}
        self.by_range = bool(self.key) and key_kinds <= INT_KINDS
        self.key_enc = self._key_encoders()
        self.seen: list[tuple[Chunk, int]] = []  # chunks compared, with their source rows

    def run(self) -> TableCheck:
        if not self.key:
            return self._whole_table()
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
            with _guard(self.source, "reading chunks", self.name):
                conn = self.source.connect()
                try:
                    chunks = plan_chunks(
                        self.source, conn, self.plan.source, self.key, self.chunk_size
                    )
                    for chunk in chunks:
                        if self._halted():
                            raise Cancelled()  # the consumer always hears how this ended
                        if not put(self._read_source(conn, chunk)):
                            return
                finally:
                    _close(conn)
            put(_END)
        except BaseException as exc:
            put(exc)

    def _read_source(self, conn: Any, chunk: Chunk) -> _SourceChunk:
        src = self.source
        sql = src.select_sql(
            self.plan.source, self.key, chunk.lower is not None, chunk.upper is not None
        )
        rows: dict[tuple[str | None, ...], bytes] = {}
        params: list[Row] = []
        key_idx = self.scanon.key_idx
        for row in _stream(src, conn, sql, chunk.params()):
            ckey, digest = self.scanon.row(row)
            rows[ckey] = digest
            if not self.by_range:
                params.append(self.key_enc(tuple(row[i] for i in key_idx)))
        return _SourceChunk(chunk, rows, params)

    def _key_encoders(self) -> Callable[[Row], Row]:
        """Source key values -> what the target's driver takes."""
        return _bridge(
            self.source, _project(self.plan.source, self.key),
            self.target, _project(self.plan.target, self.tkey),
        )  # fmt: skip

    # ------------------------------------------------------------------ target side
    def _consume(self, q: queue.Queue[Any]) -> TableCheck:
        check = TableCheck(self.name, 0, 0)
        matched = 0
        with _guard(self.target, "reading chunks", self.name):
            conn = self.target.connect()
            try:
                while True:
                    item = q.get()
                    if item is _END:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    if self._halted():
                        raise Cancelled()
                    sc: _SourceChunk = item
                    got = self._read_target(conn, sc)
                    check.chunks += 1
                    check.source_rows += len(sc.rows)
                    self.seen.append((sc.chunk, len(sc.rows)))
                    matched += len(got)
                    diff = _compare(sc.rows, got)
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
                    check.mismatch = self._extras(conn, total - matched)
            finally:
                _close(conn)
        log.debug("validate: `%s` %d rows in %d chunk(s) equal", self.name, matched, check.chunks)
        return check

    def _read_target(self, conn: Any, sc: _SourceChunk) -> dict[tuple[str | None, ...], bytes]:
        tgt, table = self.target, self.plan.target
        out: dict[tuple[str | None, ...], bytes] = {}
        if self.by_range:
            c = sc.chunk
            sql = tgt.select_sql(table, self.tkey, c.lower is not None, c.upper is not None)
            for row in _stream(tgt, conn, sql, c.params()):
                ckey, digest = self.tcanon.row(row)
                out[ckey] = digest
            return out
        for i in range(0, len(sc.params), KEY_BATCH):
            keys = sc.params[i : i + KEY_BATCH]
            sql, params = _by_keys_sql(tgt, table.column_names, table.name, self.tkey, keys)
            for row in _stream(tgt, conn, sql, params):
                ckey, digest = self.tcanon.row(row)
                if ckey in sc.rows:  # a row matched by the target's looser equality is not ours
                    out[ckey] = digest
        return out

    def _extras(self, tconn: Any, n: int) -> str:
        """Name the chunk of the first target row whose key the source does not have."""
        head = f"{n} row(s) on the target are not in the source"
        kinds = [self.plan.source.column(k).type.kind for k in self.key]
        positions = list(range(len(self.key)))
        tkeys, skeys = _project(self.plan.target, self.tkey), _project(self.plan.source, self.key)
        tcanon = _Canon(self.target, tkeys, kinds, positions)
        scanon = _Canon(self.source, skeys, kinds, positions)
        to_source = _bridge(self.target, tkeys, self.source, skeys)
        sql = self.target.select_sql(tkeys, (), False, False)
        with _guard(self.source, "looking up target keys", self.name):
            sconn = self.source.connect()
            try:
                batch: list[Row] = []
                for row in _stream(self.target, tconn, sql, []):
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
                _close(sconn)

    def _unknown(
        self, sconn: Any, keys: list[Row], tcanon: _Canon, scanon: _Canon,
        to_source: Callable[[Row], Row],
    ) -> tuple[str, int | None] | None:  # fmt: skip
        """None, or ("; first extra key ...", its chunk index) for the first of ``keys`` that
        the source does not have."""
        if not keys:
            return None
        params = [to_source(k) for k in keys]
        sql, flat = _by_keys_sql(self.source, self.key, self.plan.source.name, self.key, params)
        have = {scanon.row(r)[0] for r in _stream(self.source, sconn, sql, flat)}
        for raw, native in zip(keys, params, strict=True):
            ckey = tcanon.row(raw)[0]
            if ckey not in have:
                return f"; first extra key {_fmt(ckey)}", self._chunk_of(sconn, native)
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
        sql = f"SELECT COUNT(*) FROM {src.qualified(self.plan.source.name)} WHERE {cond}"
        try:
            ((below,),) = list(_stream(src, sconn, sql, list(key)))
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
        def digest(dialect: Dialect, table: Table, canon: _Canon) -> tuple[int, int]:
            n, total = 0, 0
            with _guard(dialect, "reading the table", self.name):
                conn = dialect.connect()
                try:
                    sql = dialect.select_sql(table, (), False, False)
                    for row in _stream(dialect, conn, sql, []):
                        total = (total + int.from_bytes(canon.row(row)[1], "big")) % (1 << 128)
                        n += 1
                        if n % FETCH == 0 and self._halted():
                            raise Cancelled()
                finally:
                    _close(conn)
            return n, total

        with ThreadPoolExecutor(2, thread_name_prefix="dmt-validate") as ex:
            s = ex.submit(digest, self.source, self.plan.source, self.scanon)
            t = ex.submit(digest, self.target, self.plan.target, self.tcanon)
            (sn, sd), (tn, td) = s.result(), t.result()
        check = TableCheck(self.name, sn, tn, chunks=1)
        if (sn, sd) != (tn, td):
            check.mismatch = (
                f"table `{self.name}`: content differs (no primary key, compared as a whole: "
                f"{sn} rows in the source, {tn} in the target)"
            )
        return check

    def _halted(self) -> bool:
        return self.abort.is_set() or self.stop.is_set()


# ---------------------------------------------------------------------------------- helpers
def _compare(src: dict[Any, bytes], tgt: dict[Any, bytes]) -> str:
    """'' if equal, else what differs and the first differing key in source order."""
    if src == tgt:
        return ""
    missing = [k for k in src if k not in tgt]
    differ = [k for k in src if k in tgt and tgt[k] != src[k]]
    extra = [k for k in tgt if k not in src]
    parts = []
    if missing:
        parts.append(f"{len(missing)} row(s) missing on the target")
    if extra:
        parts.append(f"{len(extra)} extra row(s) on the target")
    if differ:
        parts.append(f"{len(differ)} row(s) with different values")
    first = next(k for k in src if k in missing or k in differ) if missing or differ else extra[0]
    return ", ".join(parts) + f"; first key {_fmt(first)}"


def _fmt(key: Sequence[str | None]) -> str:
    """A canonical key as a reader expects it: ``(42)``, ``('abc', 3)``."""

    def one(v: str | None) -> str:
        if v is None:
            return "NULL"
        return v if v.lstrip("-").isdigit() else repr(v)

    return "(" + ", ".join(one(v) for v in key) + ")"


def _bridge(from_d: Dialect, from_t: Table, to_d: Dialect, to_t: Table) -> Callable[[Row], Row]:
    """A row as ``from_d``'s driver returns it -> the values ``to_d``'s driver binds."""
    counters = ValueCounters()
    steps = list(zip(from_d.decoders(from_t, counters), to_d.encoders(to_t, counters), strict=True))

    def convert(row: Row) -> Row:
        out = []
        for v, (d, e) in zip(row, steps, strict=True):
            if v is not None and d is not None:
                v = d(v)
            if v is not None and e is not None:
                v = e(v)
            out.append(v)
        return tuple(out)

    return convert


def _by_keys_sql(
    d: Dialect, columns: Sequence[str], table: str, key: Sequence[str], keys: Sequence[Row]
) -> tuple[str, list[Any]]:
    """SELECT ``columns`` of the rows whose ``key`` is one of ``keys``."""
    if len(key) == 1:
        cond = f"{d.quote(key[0])} IN ({', '.join([d.placeholder] * len(keys))})"
    else:
        one = "(" + ", ".join([d.placeholder] * len(key)) + ")"
        cond = f"({d.column_list(key)}) IN ({', '.join([one] * len(keys))})"
    sql = f"SELECT {d.column_list(columns)} FROM {d.qualified(table)} WHERE {cond}"
    return sql, [v for k in keys for v in k]


def _stream(d: Dialect, conn: Any, sql: str, params: Sequence[Any]) -> Iterator[Row]:
    with d.stream(conn, sql, params) as fetch:
        while rows := fetch(FETCH):
            yield from rows


def _project(table: Table, cols: Sequence[str]) -> Table:
    return replace(table, columns=[table.column(c) for c in cols])


def _close(conn: Any) -> None:
    try:
        conn.close()
    except Exception as exc:  # a broken connection cannot be closed cleanly
        log.debug("closing a connection failed: %s", exc)
