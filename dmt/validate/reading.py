"""What both validation modes share: reading a side safely, canonical rows and their digests,
key lookups, and how a difference is told."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from dmt.dialects.base import Converter, Dialect, Row, ValueCounters
from dmt.errors import (
    Cancelled,
    ConnectionLost,
    DmtError,
    ValidationIncomplete,
    first_line,
)
from dmt.model.schema import Table
from dmt.paths.rows import bridge_rows
from dmt.validate.canonical import canonical

log = logging.getLogger("dmt")

KEY_BATCH = 500  # keys per target lookup
FETCH = 5_000


class guard:
    """Turn any failure of a validation query into ConnectionLost or ValidationIncomplete.
    ``also``: the other side's dialect, when the guarded block reads both sides (each dialect
    recognises only its own driver's lost connections)."""

    def __init__(
        self, dialect: Dialect, what: str, table: str | None = None, also: Dialect | None = None
    ) -> None:
        self.dialect, self.what, self.table, self.also = dialect, what, table, also

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None or isinstance(exc, Cancelled | ValidationIncomplete | ConnectionLost):
            return
        if not isinstance(exc, Exception):
            return
        where = f"table `{self.table}`: " if self.table else ""
        err = self.dialect.translate_error(exc, self.what, self.table)
        if not isinstance(err, ConnectionLost) and self.also is not None:
            err = self.also.translate_error(exc, self.what, self.table)
        if isinstance(err, ConnectionLost):
            raise err from exc
        msg = first_line(exc) if isinstance(exc, DmtError) else self.dialect.describe_error(exc)
        raise ValidationIncomplete(
            f"{where}{self.what} on the {self.dialect.side} failed: {msg}"
        ) from exc


class Canon:
    """One side's reading of a table: decode, canonicalize by the source kinds, digest.

    ``lossy`` (the source side): the target's :meth:`~dmt.dialects.base.Dialect.lossy_encoders`,
    applied after decoding, so a documented lossy conversion (NaN to NULL, ``infinity`` to the
    largest datetime, ...) compares equal and every other difference does not."""

    def __init__(
        self, dialect: Dialect, table: Table, kinds: list[str], key_idx: list[int],
        lossy: list[Converter | None] | None = None,
    ) -> None:  # fmt: skip
        decs = dialect.decoders(table, ValueCounters())
        if lossy is not None:
            decs = [_then(d, e) if d and e else d or e for d, e in zip(decs, lossy, strict=True)]
        self.cols = list(zip(decs, [canon_fn(k) for k in kinds], strict=True))
        self.key_idx = key_idx

    def row(self, row: Row) -> tuple[tuple[str | None, ...], bytes]:
        canon = tuple(
            None if v is None else _canon(c, d(v) if d is not None else v)
            for v, (d, c) in zip(row, self.cols, strict=True)
        )
        digest = hashlib.blake2b(repr(canon).encode(), digest_size=16).digest()
        return tuple(canon[i] for i in self.key_idx), digest


def _then(first: Callable[[Any], Any], second: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if (v := first(v)) is None else second(v)


def _canon(c: Callable[[Any], str | None], v: Any) -> str | None:
    return None if v is None else c(v)


def canon_fn(kind: str) -> Callable[[Any], str | None]:
    if kind == "float32":
        # 6 significant digits (FLT_DIG): every float32 survives them, and they are all that
        # MySQL's text protocol shows of a FLOAT, though it stores the value exactly
        return _float32
    return lambda v: canonical(v, kind)


def _float32(v: Any) -> str | None:
    f = float(v)
    return str(f) if math.isnan(f) or math.isinf(f) else f"{f:.6g}"


def compare(src: dict[Any, bytes], tgt: dict[Any, bytes]) -> str:
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
    return ", ".join(parts) + f"; first key {fmt(first)}"


def fmt(key: Sequence[str | None]) -> str:
    """A canonical key as a reader expects it: ``(42)``, ``('abc', 3)``."""

    def one(v: str | None) -> str:
        if v is None:
            return "NULL"
        return v if v.lstrip("-").isdigit() else repr(v)

    return "(" + ", ".join(one(v) for v in key) + ")"


def bridge(from_d: Dialect, from_t: Table, to_d: Dialect, to_t: Table) -> Callable[[Row], Row]:
    """A row as ``from_d``'s driver returns it -> the values ``to_d``'s driver binds, converted
    as the copy converts them."""
    convert = bridge_rows(from_d, from_t, to_d, to_t, ValueCounters())
    if convert is None:
        return tuple
    return lambda row: convert([row])[0]


def by_keys_sql(
    d: Dialect, columns: Sequence[str], table: str, key: Sequence[str], keys: Sequence[Row]
) -> tuple[str, list[Any]]:
    """SELECT ``columns`` of the rows whose ``key`` is one of ``keys``."""
    if len(key) == 1:
        cond = f"{d.quote(key[0])} IN ({', '.join([d.placeholder] * len(keys))})"
    else:
        one = "(" + ", ".join([d.placeholder] * len(key)) + ")"
        cond = f"({d.column_list(key)}) IN ({', '.join([one] * len(keys))})"
    sql = f"SELECT {d.column_list(columns)} FROM {d.relation(table)} WHERE {cond}"
    return sql, [v for k in keys for v in k]


def stream(d: Dialect, conn: Any, sql: str, params: Sequence[Any]) -> Iterator[Row]:
    with d.stream(conn, sql, params) as fetch:
        while rows := fetch(FETCH):
            yield from rows


def project(table: Table, cols: Sequence[str]) -> Table:
    return replace(table, columns=[table.column(c) for c in cols])


def close(conn: Any) -> None:
    try:
        conn.close()
    except Exception as exc:  # a broken connection cannot be closed cleanly
        log.debug("closing a connection failed: %s", exc)
