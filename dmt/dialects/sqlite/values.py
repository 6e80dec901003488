"""SQLite values: stored values -> canonical on reading, canonical -> bindable on writing.

SQLite stores any value in any column; a value whose storage class differs from what the
declared type suggests is converted when that is exact and counted (``sqlite_text->int64``),
and otherwise passed on unchanged for the target to accept or reject (never silently altered).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from dmt.dialects.values import Converter, ValueCounters, format_timedelta
from dmt.model.schema import WHOLE_NUMBER_KINDS

_TEXT_KINDS = ("char", "varchar", "text", "json", "uuid", "enum", "set", "interval")
_TRUE = ("1", "t", "true", "y", "yes", "on")
_FALSE = ("0", "f", "false", "n", "no", "off")


def _storage(v: Any) -> str:
    return {int: "integer", float: "real", str: "text", bytes: "blob"}.get(type(v), "value")


def decoder(kind: str, counters: ValueCounters) -> Converter | None:
    """Stored value -> canonical value for a column of canonical ``kind``."""
    parse = _PARSERS.get(kind)
    if parse is None:
        return None

    def decode(v: Any) -> Any:
        try:
            out, converted = parse(v)
        except (ValueError, ArithmeticError):  # UnicodeDecodeError is a ValueError
            # kept as stored: a SQLite target takes it, another engine rejects it by name
            counters.add(f"sqlite_{_storage(v)}_kept_in_{kind}")
            return v
        if converted:
            counters.add(f"sqlite_{_storage(v)}->{kind}")
        return out

    return decode


def _int(v: Any) -> tuple[Any, bool]:
    if isinstance(v, int):
        return v, False
    if isinstance(v, float) and v.is_integer():
        return int(v), True
    if isinstance(v, str) and v.strip().lstrip("+-").isdigit():
        return int(v), True  # e.g. a BIGINT UNSIGNED stored as TEXT
    return v, False


def _float(v: Any) -> tuple[Any, bool]:
    if isinstance(v, float):
        return v, False
    if isinstance(v, int):
        return float(v), False  # REAL affinity keeps small integral values as integers
    if isinstance(v, str) and v.strip().lower() in ("inf", "-inf", "infinity", "-infinity", "nan"):
        return float(v), True
    return v, False


def _decimal(v: Any) -> tuple[Any, bool]:
    if isinstance(v, int):
        return Decimal(v), False
    if isinstance(v, float):
        return Decimal(repr(v)), False
    if isinstance(v, str):
        try:
            return Decimal(v.strip()), False
        except InvalidOperation:
            return v, False
    return v, False


def _bool(v: Any) -> tuple[Any, bool]:
    if isinstance(v, int) and v in (0, 1):
        return bool(v), False
    if isinstance(v, str) and v.strip().lower() in _TRUE + _FALSE:
        return v.strip().lower() in _TRUE, True
    return v, False


def _text(v: Any) -> tuple[Any, bool]:
    if isinstance(v, bytes):
        return v.decode("utf-8"), True  # invalid UTF-8 fails the table, naming the column
    return v, False


def _blob(v: Any) -> tuple[Any, bool]:
    if isinstance(v, str):
        return v.encode("utf-8", "surrogateescape"), True
    return v, False


def _timestamp(v: Any) -> tuple[Any, bool]:
    if isinstance(v, str):
        text = v.strip()
        if text in ("infinity", "-infinity"):
            return text, False
        return dt.datetime.fromisoformat(text), False
    if isinstance(v, int | float):  # unix epoch seconds
        return dt.datetime.fromtimestamp(v, dt.UTC).replace(tzinfo=None), True
    return v, False


def _timestamptz(v: Any) -> tuple[Any, bool]:
    out, converted = _timestamp(v)
    if isinstance(out, dt.datetime) and out.tzinfo is None:
        return out.replace(tzinfo=dt.UTC), converted  # a naive value is taken as UTC
    return out, converted


def _date(v: Any) -> tuple[Any, bool]:
    if isinstance(v, str):
        text = v.strip()
        if text in ("infinity", "-infinity"):
            return text, False
        if len(text) > 10:
            return dt.datetime.fromisoformat(text).date(), True
        return dt.date.fromisoformat(text), False
    return v, False


def _time(v: Any) -> tuple[Any, bool]:
    if isinstance(v, str):
        return dt.time.fromisoformat(v.strip()), False
    return v, False


def _uuid(v: Any) -> tuple[Any, bool]:
    if isinstance(v, bytes) and len(v) == 16:
        return str(uuid.UUID(bytes=v)), True
    return _text(v)


_PARSERS: dict[str, Callable[[Any], tuple[Any, bool]]] = {
    **dict.fromkeys(WHOLE_NUMBER_KINDS, _int),
    "float32": _float,
    "float64": _float,
    "decimal": _decimal,
    "boolean": _bool,
    **dict.fromkeys(_TEXT_KINDS, _text),
    "uuid": _uuid,
    "binary": _blob,
    "varbinary": _blob,
    "blob": _blob,
    "timestamp": _timestamp,
    "timestamptz": _timestamptz,
    "date": _date,
    "time": _time,
}


# ---------------------------------------------------------------------------------- writing


def encode_value(v: Any) -> Any:
    """Canonical Python value -> something sqlite3 binds exactly."""
    if isinstance(v, dt.datetime):
        return v.isoformat(" ")
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dt.timedelta):
        return format_timedelta(v, pad_hours=True)
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int) and not -(2**63) <= v < 2**63:
        return str(v)  # a BIGINT UNSIGNED beyond SQLite's integers (its column is TEXT)
    if isinstance(v, list | dict):
        return json.dumps(v, ensure_ascii=False, default=str)
    if isinstance(v, set | frozenset):
        return ",".join(sorted(str(x) for x in v))
    if isinstance(v, bytearray | memoryview):
        return bytes(v)
    if isinstance(v, uuid.UUID):
        return str(v)
    return v


def nan_encoder(counters: ValueCounters) -> Converter:
    """SQLite stores a NaN REAL as NULL; do it explicitly, and count it."""

    def encode(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            counters.add("nan->null")
            return None
        return encode_value(v)

    return encode
