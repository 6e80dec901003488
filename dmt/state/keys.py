"""Chunk bounds (key values of any type) as JSON text, and a config's fingerprint."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any


def _enc(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, Decimal):
        return {"dec": str(v)}
    if isinstance(v, dt.datetime):
        return {"dt": v.isoformat()}
    if isinstance(v, dt.date):
        return {"date": v.isoformat()}
    if isinstance(v, dt.time):
        return {"time": v.isoformat()}
    if isinstance(v, dt.timedelta):
        return {"td": v.total_seconds()}
    if isinstance(v, bytes | bytearray | memoryview):
        return {"b64": base64.b64encode(bytes(v)).decode()}
    return {"str": str(v)}


_DECODE: dict[str, Callable[[Any], Any]] = {
    "dec": Decimal,
    "dt": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "td": lambda s: dt.timedelta(seconds=s),
    "b64": base64.b64decode,
    "str": str,
}


def _dec(v: Any) -> Any:
    if not isinstance(v, dict):
        return v
    ((kind, val),) = v.items()
    return _DECODE[kind](val)


def encode_key(key: tuple[Any, ...] | None) -> str | None:
    return None if key is None else json.dumps([_enc(v) for v in key])


def decode_key(text: str | None) -> tuple[Any, ...] | None:
    return None if text is None else tuple(_dec(v) for v in json.loads(text))


def fingerprint(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]
