"""PostgreSQL values: loaders for what psycopg cannot load as-is, encoders for COPY."""

from __future__ import annotations

import json
from typing import Any

from dmt.dialects.values import Converter, ValueCounters
from dmt.errors import TransferError
from dmt.model.schema import Table


def str_or_none(v: Any) -> Any:
    """A uuid as its text (psycopg loads a UUID object)."""
    return None if v is None else str(v)


_INFINITY = (b"infinity", b"-infinity")


def register_infinity_loaders(conn: Any) -> None:
    """Load ``infinity`` / ``-infinity`` dates and timestamps as those strings (psycopg raises
    on them): the canonical value of an infinite date or timestamp."""
    from psycopg.types.datetime import DateLoader, TimestampLoader, TimestamptzLoader

    def infinite(base: type) -> type:
        class Loader(base):
            def load(self, data: Any) -> Any:
                if bytes(data) in _INFINITY:
                    return bytes(data).decode()
                return super().load(data)

        return Loader

    for name, base in (
        ("date", DateLoader),
        ("timestamp", TimestampLoader),
        ("timestamptz", TimestamptzLoader),
    ):
        conn.adapters.register_loader(name, infinite(base))


def _nul_guard(table: str, column: str, strip: bool, counters: ValueCounters) -> Converter:
    """PostgreSQL text cannot hold NUL: strip it (counted) or fail naming the column."""

    def check(v: Any) -> Any:
        if isinstance(v, str) and "\x00" in v:
            if not strip:
                raise TransferError(
                    f"column `{column}` holds a NUL character, which PostgreSQL text cannot "
                    "store; set migration.nul_bytes: strip to remove it",
                    table,
                )
            counters.add("nul_bytes_stripped")
            return v.replace("\x00", "")
        return v

    return check


def _json_text(v: Any) -> Any:
    if isinstance(v, list | dict):
        return json.dumps(v, ensure_ascii=False, default=str)
    return v


def _then(first: Converter, second: Converter) -> Converter:
    return lambda v: second(first(v))


_TEXT_KINDS = ("char", "varchar", "text", "enum", "set", "json", "interval")


def encoders(table: Table, strip: bool, counters: ValueCounters) -> list[Converter | None]:
    """Per column: what a value needs before COPY (NUL guard on text, JSON text for lists)."""
    out: list[Converter | None] = []
    for c in table.columns:
        k = c.type.kind
        if k in _TEXT_KINDS:
            guard = _nul_guard(table.name, c.name, strip, counters)
            out.append(guard if k != "json" else _then(_json_text, guard))
        elif k == "array" and not (c.type.engine == "postgres" and c.type.builtin):
            out.append(_json_text)
        else:
            out.append(None)
    return out


def lossy_encoders(table: Table, strip: bool) -> list[Converter | None]:
    """Per column: NUL characters removed from text, when ``nul_bytes: strip``."""

    def unnul(v: Any) -> Any:
        return v.replace("\x00", "") if isinstance(v, str) else v

    return [unnul if strip and c.type.kind in _TEXT_KINDS else None for c in table.columns]
