"""DuckDB values: what the row path reads (and how it selects it), and how rows become the
Arrow table a batch is inserted from.

Reading, a few types are selected as text and parsed here, because the driver's Python value
is not exact: an INTERVAL becomes a ``timedelta`` (a month taken as 30 days), an infinite
DATE or TIMESTAMP the largest finite one. STRUCT, MAP and UNION are read as their ``to_json``
text. Writing, every column goes into Arrow as the type pyarrow infers from its values (the
text of each value where they do not agree) and is cast by DuckDB to the column's type in the
``INSERT … SELECT``: DuckDB's own casts are strict, so a value the column cannot hold fails
the batch instead of changing.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dmt.dialects.values import Converter, format_timedelta
from dmt.model.schema import Column

if TYPE_CHECKING:
    import pyarrow as pa

#: canonical kinds read as their text (see the module)
TEXT_KINDS = ("interval", "date", "timestamp", "timestamptz")
#: declared types read as their text: no other engine has them
TEXT_TYPES = ("TIME WITH TIME ZONE", "BIT")
_JSON_READ = ("STRUCT(", "MAP(", "UNION(")
_INTERVAL_PART = re.compile(r"(-?\d+) (year|month|day)s?")
_UNITS = {"year": "year", "month": "mon", "day": "day"}


def select_expr(quoted: str, col: Column) -> str:
    """How the row path selects a column of a DuckDB table (``quoted`` is its quoted name);
    ``col`` is as reflected, or as planned for a target (its type then is the source's)."""
    decl = col.type.source.upper() if col.type.engine == "duckdb" else ""
    if col.type.kind in TEXT_KINDS or decl in TEXT_TYPES:
        return f"CAST({quoted} AS VARCHAR)"
    if decl.startswith(_JSON_READ):
        return f"CAST(to_json({quoted}) AS VARCHAR)"
    return quoted


def decoder(col: Column) -> Converter | None:
    """The driver's value (or the text :func:`select_expr` selected) -> canonical."""
    kind = col.type.kind
    if kind == "interval":
        return postgres_interval
    if kind == "date":
        return _date
    if kind in ("timestamp", "timestamptz"):
        return _timestamp
    if kind == "uuid":
        return str
    return None


def postgres_interval(text: Any) -> Any:
    """DuckDB's interval text (``1 year 2 months -1 day 04:05:06.5``) in PostgreSQL's
    spelling (``1 year 2 mons -1 days 04:05:06.5``): the canonical interval."""

    def unit(m: re.Match[str]) -> str:
        n, name = m.group(1), _UNITS[m.group(2)]
        return f"{n} {name}" + ("" if n == "1" else "s")

    return _INTERVAL_PART.sub(unit, str(text))


def _date(text: Any) -> Any:
    if not isinstance(text, str) or text in ("infinity", "-infinity"):
        return text
    try:
        return dt.date.fromisoformat(text)
    except ValueError:  # a date BC: kept as DuckDB writes it, for the target to judge
        return text


def _timestamp(text: Any) -> Any:
    if not isinstance(text, str) or text in ("infinity", "-infinity"):
        return text
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return text


# ---------------------------------------------------------------------------------- writing


def _plain(v: Any) -> Any:
    """A canonical value as pyarrow takes it: types Arrow lacks become their text."""
    if isinstance(v, dt.timedelta):
        return format_timedelta(v, pad_hours=True)
    if isinstance(v, list | dict):
        return json.dumps(v, ensure_ascii=False, default=str)
    if isinstance(v, set | frozenset):
        return ",".join(sorted(str(x) for x in v))
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, bytearray | memoryview):
        return bytes(v)
    return v


def _text(v: Any) -> Any:
    """A value as text DuckDB casts exactly to any column type."""
    if v is None or isinstance(v, bytes | str):
        return v
    if isinstance(v, Decimal):
        return format(v, "f")
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return v.isoformat(" ")
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    return str(v)


def arrow_rows(rows: Sequence[Sequence[Any]], names: Sequence[str]) -> pa.Table:
    """``rows`` as an Arrow table, one column per name (see the module)."""
    import pyarrow as pa

    arrays = []
    for i in range(len(names)):
        values = [_plain(r[i]) for r in rows]
        try:
            arr = pa.array(values)
            if pa.types.is_decimal256(arr.type):  # DuckDB reads no 256-bit decimals
                raise ValueError("decimal beyond 38 digits")
            arrays.append(arr)
        except (pa.ArrowException, OverflowError, ValueError, TypeError):
            texts = [_text(v) for v in values]
            binary = any(isinstance(v, bytes) for v in texts)
            typ = pa.binary() if binary else pa.string()
            if binary:
                texts = [v.encode("utf-8") if isinstance(v, str) else v for v in texts]
            arrays.append(pa.array(texts, typ))
    return pa.Table.from_arrays(arrays, names=[f"c{i}" for i in range(len(names))])
