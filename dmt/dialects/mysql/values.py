"""MySQL/MariaDB values: driver values -> canonical on reading, canonical -> LOAD DATA fields
or INSERT literals on writing."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from dmt.dialects.values import Converter, ValueCounters, format_timedelta
from dmt.errors import TransferError
from dmt.model.schema import Table

#: what PostgreSQL ±infinity timestamps and dates become (MySQL has no infinity)
MAX_DATETIME = dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
MIN_DATETIME = dt.datetime(1, 1, 1)


#: the TIME literal MySQL reads (hours may exceed 24)
_format_timedelta = format_timedelta


def _escape(raw: bytes) -> bytes:
    """Escape one field for ``FIELDS ESCAPED BY '\\\\'``: the escape character itself, the field
    and line terminators, CR (some servers strip it) and NUL."""
    return (
        raw.replace(b"\\", b"\\\\")
        .replace(b"\t", b"\\t")
        .replace(b"\n", b"\\n")
        .replace(b"\r", b"\\r")
        .replace(b"\x00", b"\\0")
    )


def _f_str(v: str) -> bytes:
    return _escape(v.encode("utf-8", "surrogateescape"))


def _f_ascii(v: Any) -> bytes:
    return str(v).encode("ascii")


def _f_datetime(v: dt.datetime) -> bytes:
    if v.tzinfo is not None:
        v = v.astimezone(dt.UTC).replace(tzinfo=None)
    return v.isoformat(" ").encode("ascii")


_FORMAT: dict[type, Callable[[Any], bytes]] = {
    str: _f_str,
    bytes: _escape,
    bytearray: lambda v: _escape(bytes(v)),
    memoryview: lambda v: _escape(bytes(v)),
    bool: lambda v: b"1" if v else b"0",
    int: _f_ascii,
    float: lambda v: repr(v).encode("ascii"),
    Decimal: lambda v: format(v, "f").encode("ascii"),
    dt.datetime: _f_datetime,
    dt.date: lambda v: v.isoformat().encode("ascii"),
    dt.time: lambda v: v.isoformat().encode("ascii"),
    dt.timedelta: lambda v: _format_timedelta(v).encode("ascii"),
}


def _field(v: Any) -> bytes:
    """One value as a LOAD DATA field (``\\N`` is NULL, the empty string stays empty)."""
    if v is None:
        return b"\\N"
    f = _FORMAT.get(type(v))
    if f is not None:
        return f(v)
    for kind, f in _FORMAT.items():  # subclasses (e.g. an enum.IntEnum) in declaration order
        if isinstance(v, kind):
            return f(v)
    if isinstance(v, dict | list | tuple):
        return _f_str(json.dumps(v, ensure_ascii=False, default=str))
    if isinstance(v, set | frozenset):
        return _f_str(",".join(sorted(str(x) for x in v)))
    return _f_str(str(v))


def _to_bool(v: Any) -> Any:
    # tinyint(1) may hold any tinyint; only 0 and 1 become booleans, other values stay visible
    return bool(v) if v in (0, 1) else v


def _to_time(v: Any) -> Any:
    """TIME arrives as a timedelta (-838:59:59 .. 838:59:59). Within one day it becomes a
    ``datetime.time``, the canonical value every target takes; outside it stays a timedelta."""
    if isinstance(v, dt.timedelta) and dt.timedelta(0) <= v < dt.timedelta(days=1):
        secs = v.seconds
        return dt.time(secs // 3600, secs // 60 % 60, secs % 60, v.microseconds)
    return v


def _to_text(v: Any) -> Any:
    return v.decode("utf-8") if isinstance(v, bytes | bytearray) else v


def _to_utc_naive(v: Any) -> Any:
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.UTC).replace(tzinfo=None)
    return v


def _to_json_text(v: Any) -> Any:
    if isinstance(v, str | bytes):
        return v
    return json.dumps(v, ensure_ascii=False, default=str)


_PASS = (str, bytes, bool, int, float, Decimal, dt.datetime, dt.date, dt.time)


def _insert_value(v: Any) -> Any:
    """A canonical value PyMySQL's ``escape()`` renders exactly (its own timedelta rendering
    is wrong for negative values; UUIDs, JSON documents and sets it cannot render at all)."""
    if v is None or type(v) in _PASS:
        return v
    if isinstance(v, dt.timedelta):
        return _format_timedelta(v)
    if isinstance(v, bytearray | memoryview):
        return bytes(v)
    if isinstance(v, dict | list | tuple):
        return json.dumps(v, ensure_ascii=False, default=str)
    if isinstance(v, set | frozenset):
        return ",".join(sorted(str(x) for x in v))
    return v if isinstance(v, _PASS) else str(v)


def _fraction_guard(table: str, column: str, fsp: int, kind: str) -> Converter:
    step = 10 ** (6 - fsp)
    first = _to_utc_time if kind == "time" else _to_utc_naive

    def check(v: Any) -> Any:
        v = first(v)
        if getattr(v, "microseconds", getattr(v, "microsecond", 0)) % step:
            raise TransferError(
                f"`{v}` in column `{column}` has more fractional digits than its {fsp}", table
            )
        return v

    return check


def _statement(head: str, values: list[str]) -> bytes:
    # bytes go to the server as they are: text that is not valid UTF-8 (SQLite can hold it)
    # reaches the strict server and fails there, naming the column
    return (head + ",".join(values)).encode("utf-8", "surrogateescape")


def _to_utc_time(v: Any) -> Any:
    """A time with a zone (PostgreSQL timetz) as the UTC wall time, like a timestamptz."""
    if isinstance(v, dt.time) and v.tzinfo is not None:
        offset = v.utcoffset() or dt.timedelta(0)
        moment = dt.datetime.combine(dt.date(2000, 1, 2), v.replace(tzinfo=None)) - offset
        return moment.time()
    return v


def infinity_guard(kind: str, fsp: int, counters: ValueCounters) -> Converter:
    """PostgreSQL ``infinity`` / ``-infinity`` (a str in a date or timestamp column) clamped to
    the largest / smallest value the column holds, and counted."""
    top = MAX_DATETIME.replace(
        microsecond=MAX_DATETIME.microsecond // 10 ** (6 - fsp) * 10 ** (6 - fsp)
    )
    bounds: dict[str, Any] = {"infinity": top, "-infinity": MIN_DATETIME}
    if kind == "date":
        bounds = {"infinity": top.date(), "-infinity": MIN_DATETIME.date()}

    def clamp(v: Any) -> Any:
        if isinstance(v, str) and v in bounds:
            counters.add(f"{v}->{'max' if v == 'infinity' else 'min'}_{kind}")
            return bounds[v]
        return v

    return clamp


def nonfinite_to_null(counters: ValueCounters) -> Converter:
    """MySQL has no NaN or ±Infinity, in floats or decimals: they become NULL, counted."""

    def convert(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            counters.add("nonfinite_float->null")
            return None
        if isinstance(v, Decimal) and not v.is_finite():
            counters.add("nonfinite_decimal->null")
            return None
        return v

    return convert


def chain(*fs: Converter | None) -> Converter | None:
    """Apply the converters in order (``None`` entries skipped); a NULL stops the chain."""
    active = [f for f in fs if f is not None]
    if not active:
        return None
    if len(active) == 1:
        return active[0]

    def run(v: Any) -> Any:
        for f in active:
            if v is None:
                return None
            v = f(v)
        return v

    return run


def decoders(table: Table, strict_dates: bool, counters: ValueCounters) -> list[Converter | None]:
    """Per column of a MySQL source: PyMySQL's value -> canonical (None: already canonical).
    A zero date fails the table when ``strict_dates``, else it is read as NULL and counted."""
    out: list[Converter | None] = []
    for c in table.columns:
        k = c.type.kind
        if k in ("date", "timestamp", "timestamptz"):
            out.append(_date_decoder(table.name, c.name, k, strict_dates, counters))
        elif k == "year":  # YEAR(4): 0 is the zero year, a zero date in all but name
            out.append(None)
        elif k == "boolean":
            out.append(_to_bool)
        elif k == "time":
            out.append(_to_time)
        elif k == "json":  # MySQL 8 sends its binary JSON as text; be sure it is str
            out.append(_to_text)
        else:  # PyMySQL already returns str, bytes, int, Decimal, float, date, datetime
            out.append(None)
    return out


def _date_decoder(
    table: str, column: str, kind: str, strict: bool, counters: ValueCounters
) -> Converter:
    tz = kind == "timestamptz"

    def decode(v: Any) -> Any:
        if isinstance(v, str):  # PyMySQL hands back what it cannot parse: a zero date
            if strict:
                raise TransferError(
                    f"zero date `{v}` in column `{column}`; set migration.zero_dates: null "
                    "to copy zero dates as NULL",
                    table,
                )
            counters.add("zero_date->null")
            return None
        return v.replace(tzinfo=dt.UTC) if tz and isinstance(v, dt.datetime) else v

    return decode


def encoders(table: Table, counters: ValueCounters) -> list[Converter | None]:
    """Per column of a MySQL target: canonical value -> what :func:`_field` and
    :func:`_insert_value` format (None: formatted as it is)."""
    out: list[Converter | None] = []
    for c in table.columns:
        k = c.type.kind
        fsp = 6 if c.type.fsp is None else min(6, c.type.fsp)
        conv: Converter | None = None
        if k in ("timestamp", "timestamptz", "time") and fsp < 6:
            # the server drops extra fractional digits without even a Note
            conv = _fraction_guard(table.name, c.name, fsp, k)
        elif k in ("timestamp", "timestamptz"):
            conv = _to_utc_naive
        elif k in ("json", "array"):
            conv = _to_json_text
        elif k == "time":
            conv = _to_utc_time
        elif k in ("float32", "float64", "decimal"):
            conv = nonfinite_to_null(counters)
        if k in ("date", "timestamp", "timestamptz"):
            conv = chain(infinity_guard(k, fsp, counters), conv)
        out.append(conv)
    return out


def lossy_encoders(table: Table) -> list[Converter | None]:
    """Per column: what :func:`encoders` substitutes for values MySQL cannot hold (NaN and
    ±Infinity to NULL, ±infinity dates and timestamps clamped), and nothing else."""
    counters = ValueCounters()
    out: list[Converter | None] = []
    for c in table.columns:
        k = c.type.kind
        fsp = 6 if c.type.fsp is None else min(6, c.type.fsp)
        if k in ("float32", "float64", "decimal"):
            out.append(nonfinite_to_null(counters))
        elif k in ("date", "timestamp", "timestamptz"):
            out.append(infinity_guard(k, fsp, counters))
        else:
            out.append(None)
    return out
