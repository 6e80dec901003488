"""The canonical text form of a value, by canonical column kind.

Two values that crossed engines compare equal exactly when their canonical forms are equal.
Checksum validation and the fidelity tests both use this one function, so "equal" means the
same thing in both. The rules (documented in docs/type-mapping.md):

- NULL stays None; empty string stays "" (never NULL); CHAR(n) without its trailing pad spaces.
- booleans: "1" / "0"; integers: decimal digits; exact decimals: plain notation without
  trailing zeros (``1.50`` -> ``1.5``, ``100`` -> ``100``).
- float64: ``repr``; float32: 7 significant digits (a 32-bit float holds no more).
- date ``YYYY-MM-DD``; time ``HH:MM:SS.ffffff``; timestamp ``YYYY-MM-DD HH:MM:SS.ffffff``;
  timestamptz: the same, converted to UTC.
- bytes: lower-case hex; JSON and arrays: parsed and re-serialised with sorted keys (array
  elements that JSON lacks, e.g. decimals or dates, as strings); uuid: lower case.
- PostgreSQL ``infinity`` / ``-infinity`` dates and timestamps stay those words.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from dmt.model.schema import WHOLE_NUMBER_KINDS


def _decimal(v: Any) -> str:
    try:
        d = v if isinstance(v, Decimal) else Decimal(str(v).strip())
    except InvalidOperation:
        return str(v)
    if not d.is_finite():
        return str(d)
    text = format(d.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _float(v: Any, digits: int | None) -> str:
    f = float(v)
    if math.isnan(f) or math.isinf(f):
        return str(f)
    if digits is None:
        return repr(f)
    return f"{f:.{digits}g}"


def _timestamp(v: Any) -> str:
    if isinstance(v, str):
        text = v.strip().replace("T", " ")
        if text in ("infinity", "-infinity"):
            return text
        v = dt.datetime.fromisoformat(text)
    if isinstance(v, dt.datetime):
        if v.tzinfo is not None:
            v = v.astimezone(dt.UTC).replace(tzinfo=None)
        return v.isoformat(" ", "microseconds")  # strftime does not pad year 1 to 0001
    if isinstance(v, dt.date):
        return v.isoformat() + " 00:00:00.000000"
    return str(v)


def _time(v: Any) -> str:
    if isinstance(v, dt.timedelta):
        total = v.days * 86400 + v.seconds
        sign = "-" if total < 0 else ""
        total = abs(total)
        micro = v.microseconds if v.days >= 0 else (10**6 - v.microseconds) % 10**6
        h, rest = divmod(total, 3600)
        m, s = divmod(rest, 60)
        return f"{sign}{h:02d}:{m:02d}:{s:02d}.{micro:06d}"
    if isinstance(v, str):
        v = dt.time.fromisoformat(v.strip())
    if isinstance(v, dt.time):
        return v.replace(tzinfo=None).strftime("%H:%M:%S.%f")
    return str(v)


def canonical(value: Any, kind: str) -> str | None:
    """The canonical text of ``value`` for a column of canonical ``kind``."""
    if value is None:
        return None
    if kind == "boolean":
        if isinstance(value, str):
            return "1" if value.strip().lower() in ("1", "t", "true", "y", "yes", "on") else "0"
        return "1" if value else "0"
    if kind in WHOLE_NUMBER_KINDS:
        return str(int(value))
    if kind == "decimal":
        return _decimal(value)
    if kind == "float64":
        return _float(value, None)
    if kind == "float32":
        return _float(value, 7)
    if kind == "date":
        if isinstance(value, str) and value in ("infinity", "-infinity"):
            return value
        if isinstance(value, dt.datetime):
            value = value.date()
        return value.isoformat() if isinstance(value, dt.date) else str(value)[:10]
    if kind == "time":
        return _time(value)
    if kind in ("timestamp", "timestamptz"):
        return _timestamp(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if kind in ("json", "array"):
        try:
            doc = json.loads(value) if isinstance(value, str | bytes) else value
            return json.dumps(
                doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
            )
        except (TypeError, ValueError):
            return str(value)
    if kind == "uuid":
        return str(value).lower()
    if kind == "char":  # CHAR(n) pads with spaces; MySQL strips them on reading
        return str(value).rstrip(" ")
    return str(value)


def canonical_row(row: tuple[Any, ...], kinds: list[str]) -> tuple[str | None, ...]:
    return tuple(canonical(v, k) for v, k in zip(row, kinds, strict=True))
