"""Values through the generic dialect: driver values -> canonical on reading, canonical ->
what the target column's SQLAlchemy type binds on writing.

Reading runs the reflected type's own SQLAlchemy result processor first (SQLite's DATETIME
text becomes a datetime, a Numeric a Decimal, ...), then settles the few kinds whose
canonical value has one fixed shape: JSON as text, UUIDs as text, MySQL sets as ``a,b``,
times within a day as ``datetime.time``. A value the processor cannot parse is kept as the
driver returned it and counted, for the target to accept or reject by name.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from dmt.dialects.values import Converter, ValueCounters, format_timedelta
from dmt.model.schema import Column

#: the bounds a ±infinity date or timestamp is clamped to on a backend without infinity
_TS_MAX = dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
_TS_MIN = dt.datetime(1, 1, 1)


def _json_text(v: Any) -> Any:
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, default=str)


def _text(v: Any) -> Any:
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).decode("utf-8")
    if isinstance(v, set | frozenset):
        return ",".join(sorted(str(x) for x in v))
    if isinstance(v, uuid.UUID):
        return str(v)
    return v


def _time(v: Any) -> Any:
    if isinstance(v, dt.timedelta) and dt.timedelta(0) <= v < dt.timedelta(days=1):
        secs = v.seconds
        return dt.time(secs // 3600, secs // 60 % 60, secs % 60, v.microseconds)
    return v


def _bool(v: Any) -> Any:
    return bool(v) if isinstance(v, int) and v in (0, 1) else v


def _zoned(v: Any) -> Any:
    if isinstance(v, dt.datetime) and v.tzinfo is None:
        return v.replace(tzinfo=dt.UTC)  # a backend without zones holds UTC
    return v


def _read_decimal(v: Any) -> Any:
    if isinstance(v, float):
        return Decimal(repr(v))  # the float's shortest exact text, not its binary expansion
    if isinstance(v, int):
        return Decimal(v)
    return v


_SETTLE: dict[str, Callable[[Any], Any]] = {
    "decimal": _read_decimal,
    "json": _json_text,
    "array": lambda v: v if isinstance(v, list) else _json_text(v),
    "uuid": _text,
    "set": _text,
    "enum": _text,
    "char": _text,
    "varchar": _text,
    "text": _text,
    "interval": lambda v: format_timedelta(v) if isinstance(v, dt.timedelta) else _text(v),
    "time": _time,
    "boolean": _bool,
    "timestamptz": _zoned,
    "blob": lambda v: bytes(v) if isinstance(v, bytearray | memoryview) else v,
}


def decoder(
    col: Column, processor: Callable[[Any], Any] | None, counters: ValueCounters
) -> Converter | None:
    """Driver value -> canonical value for one source column."""
    settle = _SETTLE.get(col.type.kind)
    if processor is None:
        return settle
    kind = col.type.kind

    def decode(v: Any) -> Any:
        try:
            v = processor(v)
        except (ValueError, TypeError, ArithmeticError):
            counters.add(f"generic_unparsed_{kind}")  # kept as stored
            return v
        return v if settle is None or v is None else settle(v)

    return decode


def encoder(
    col: Column, sa_type: Any, backend: str, to_null: str | None, counters: ValueCounters | None
) -> Converter | None:
    """Canonical value -> what ``sa_type`` (the target column's SQLAlchemy type) binds.
    ``to_null``: which floats the backend stores as NULL (``nan``, or ``nonfinite``: NaN and
    ±Infinity). ``counters`` None: only the documented lossy substitutions (for checksum
    validation)."""
    import sqlalchemy as sa

    k = col.type.kind
    lossy_only = counters is None
    count = counters.add if counters is not None else (lambda reason: None)
    floats = ("float32", "float64") if to_null == "nan" else ("float32", "float64", "decimal")
    if k in floats and to_null:

        def finite(v: Any) -> Any:
            if isinstance(v, float | Decimal) and _nulled(v, to_null):
                count("nan->null")
                return None
            return v if lossy_only or k != "decimal" else _decimal(v, sa_type)

        return finite
    if k in ("date", "timestamp", "timestamptz") and backend != "postgresql":
        return _clamp(k, sa_type, count, lossy_only)
    if lossy_only:
        return None
    if k == "decimal":
        return lambda v: _decimal(v, sa_type)
    if isinstance(sa_type, sa.JSON):
        return _json_text  # the document's text: SQLAlchemy's JSON processor is not applied
    if k in ("set", "enum", "uuid", "interval") or isinstance(sa_type, sa.String):
        return _to_str
    if k == "time":
        return _time
    if k == "boolean":
        return _bool
    if isinstance(sa_type, sa.types._Binary):
        return _bytes
    return None


def _bytes(v: Any) -> Any:
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape")
    return bytes(v) if isinstance(v, bytearray | memoryview) else v


def _to_str(v: Any) -> Any:
    if isinstance(v, dt.timedelta):
        return format_timedelta(v)
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False, default=str)
    if isinstance(v, set | frozenset):
        return ",".join(sorted(str(x) for x in v))
    if isinstance(v, str) or v is None:
        return v
    if isinstance(v, Decimal):
        return format(v, "f")
    return str(v)


def _decimal(v: Any, sa_type: Any) -> Any:
    import sqlalchemy as sa

    if isinstance(sa_type, sa.String):  # a backend without exact decimals keeps the digits
        return format(v, "f") if isinstance(v, Decimal) else str(v)
    return v


def _nulled(v: float | Decimal, to_null: str) -> bool:
    if to_null == "nan":
        return v.is_nan() if isinstance(v, Decimal) else math.isnan(v)
    return not (v.is_finite() if isinstance(v, Decimal) else math.isfinite(v))


def _clamp(
    kind: str, sa_type: Any, count: Callable[[str], None], lossy_only: bool
) -> Callable[[Any], Any]:
    """±infinity (PostgreSQL) -> the backend's first or last moment; a zoned value -> UTC
    without its zone where the column keeps none."""
    zoned = bool(getattr(sa_type, "timezone", False))

    def clamp(v: Any) -> Any:
        if v in ("infinity", "-infinity"):
            count(f"{v}->{'max' if v == 'infinity' else 'min'}")
            top = _TS_MAX if v == "infinity" else _TS_MIN
            return top.date() if kind == "date" else top
        if lossy_only:
            return v
        if isinstance(v, dt.datetime) and v.tzinfo is not None and not zoned:
            return v.astimezone(dt.UTC).replace(tzinfo=None)
        if kind == "date" and isinstance(v, dt.datetime):
            return v.date()
        return v

    return clamp


def bind_processor(col: Column, dialect: Any) -> Converter | None:
    """SQLAlchemy's bind processor of the target column's type for this driver (a SQLite
    DATETIME's text, ...); none for JSON, whose text dmt passes as it is."""
    import sqlalchemy as sa

    from dmt.dialects.generic.types import target_type

    t = target_type(col.type, dialect, "")[0]
    if isinstance(t, sa.JSON):
        return None
    try:
        proc: Converter | None = t.dialect_impl(dialect).bind_processor(dialect)
    except Exception:  # a type without a processor for this driver
        return None
    return proc


def then(first: Converter | None, second: Converter | None) -> Converter | None:
    """``first`` then ``second`` (either may be missing); None stays None (NULL)."""
    if first is None or second is None:
        return first or second
    return lambda v: None if (w := first(v)) is None else second(w)
