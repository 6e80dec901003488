"""DuckDB types: ``duckdb_columns().data_type`` text to the canonical set, and back to DDL.

DuckDB's nested and wide types have no counterpart in the other engines: LIST and fixed-size
ARRAY map to the canonical array, STRUCT, MAP and UNION to JSON (their ``to_json`` form),
HUGEINT and UHUGEINT to an exact decimal of 39 digits, TIME WITH TIME ZONE and BIT to text;
each of those steps carries a note that becomes a warning when the target is another engine.
"""

from __future__ import annotations

import re

from dmt.dialects.sql import TypeChoice
from dmt.model.schema import ColumnType

#: declared types docs/type-mapping.md shows mapped to every target
SAMPLE_TYPES = (
    "BOOLEAN", "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER",
    "UBIGINT", "HUGEINT", "UHUGEINT", "DECIMAL(18,3)", "FLOAT", "DOUBLE", "VARCHAR", "BLOB",
    "DATE", "TIME", "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE", "INTERVAL", "UUID",
    "JSON", "ENUM('a', 'b')", "INTEGER[]", "VARCHAR[3]", "STRUCT(a INTEGER, b VARCHAR)",
    "MAP(VARCHAR, INTEGER)", "BIT",
)  # fmt: skip

_SIMPLE = {
    "BOOLEAN": ("boolean", False),
    "TINYINT": ("int8", False),
    "SMALLINT": ("int16", False),
    "INTEGER": ("int32", False),
    "BIGINT": ("int64", False),
    "UTINYINT": ("int8", True),
    "USMALLINT": ("int16", True),
    "UINTEGER": ("int32", True),
    "UBIGINT": ("int64", True),
    "FLOAT": ("float32", False),
    "DOUBLE": ("float64", False),
    "VARCHAR": ("text", False),
    "BLOB": ("blob", False),
    "DATE": ("date", False),
    "INTERVAL": ("interval", False),
    "UUID": ("uuid", False),
    "JSON": ("json", False),
}
_TIMESTAMPS = {"TIMESTAMP": 6, "TIMESTAMP_S": 0, "TIMESTAMP_MS": 3, "TIMESTAMP_NS": 6}
_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")
_ENUM_VALUE = re.compile(r"'((?:[^']|'')*)'")
#: the widest DECIMAL DuckDB has
MAX_DECIMAL = 38
#: digits of the largest HUGEINT / UHUGEINT
HUGE_DIGITS = 39
#: the canonical kinds a DuckDB LIST can hold natively (others: the list goes as JSON)
_ITEMS = {
    "boolean": "BOOLEAN", "int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER",
    "int64": "BIGINT", "float32": "FLOAT", "float64": "DOUBLE", "char": "VARCHAR",
    "varchar": "VARCHAR", "text": "VARCHAR", "date": "DATE", "timestamp": "TIMESTAMP",
    "timestamptz": "TIMESTAMPTZ", "uuid": "UUID",
}  # fmt: skip


def canonical_type(declared: str) -> ColumnType:
    """Map a DuckDB type (as ``duckdb_columns()`` spells it) to the canonical set."""
    return _canonical(declared.strip()).with_(engine="duckdb")


def _canonical(decl: str) -> ColumnType:
    up = decl.upper()
    if up in _SIMPLE:
        kind, unsigned = _SIMPLE[up]
        return ColumnType(kind, unsigned=unsigned, source=decl)
    if up in _TIMESTAMPS:
        note = "nanoseconds are cut to microseconds" if up == "TIMESTAMP_NS" else None
        return ColumnType("timestamp", fsp=_TIMESTAMPS[up], source=decl, note=note)
    if up in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return ColumnType("timestamptz", fsp=6, source=decl)
    if up == "TIME":
        return ColumnType("time", fsp=6, source=decl)
    if up in ("HUGEINT", "UHUGEINT"):
        return ColumnType("decimal", precision=HUGE_DIGITS, scale=0, source=decl)
    m = _DECIMAL.match(up)
    if m:
        return ColumnType("decimal", precision=int(m.group(1)), scale=int(m.group(2)), source=decl)
    if up.startswith("ENUM("):
        values = tuple(v.replace("''", "'") for v in _ENUM_VALUE.findall(decl))
        return ColumnType("enum", values=values, source=decl)
    if up.endswith("]"):
        item = _canonical(decl[: decl.rindex("[")])
        return ColumnType("array", item=item.kind, source=decl)
    if up.startswith(("STRUCT(", "MAP(", "UNION(")):
        what = up.split("(")[0]
        return ColumnType("json", source=decl, note=f"{what} carried as JSON (its to_json form)")
    return ColumnType("text", source=decl, note=f"`{decl}` carried as its DuckDB text form")


def render_type(ctype: ColumnType, where: str) -> TypeChoice:
    """The DuckDB column type for a canonical type; ``where`` is ``table.column``."""
    k = ctype.kind
    if ctype.engine == "duckdb" and ctype.source:
        return TypeChoice(ctype.source)  # same engine: the declared type, verbatim
    if k in ("int8", "int16", "int32", "int64"):
        base = {"int8": "TINYINT", "int16": "SMALLINT", "int32": "INTEGER", "int64": "BIGINT"}[k]
        return TypeChoice(("U" if ctype.unsigned else "") + base)
    if k == "year":
        return TypeChoice("SMALLINT")
    if k == "boolean":
        return TypeChoice("BOOLEAN")
    if k == "decimal":
        p, s = ctype.precision, ctype.scale or 0
        if p is not None and p <= MAX_DECIMAL:
            return TypeChoice(f"DECIMAL({p},{s})")
        why = "without a precision" if p is None else f"of precision {p} > {MAX_DECIMAL}"
        return TypeChoice("VARCHAR", f"{where}: a decimal {why} stored as its exact text")
    if k == "float32":
        return TypeChoice("FLOAT")
    if k == "float64":
        return TypeChoice("DOUBLE")
    if k == "char":
        return TypeChoice("VARCHAR", f"{where}: CHAR({ctype.length}) stored as VARCHAR (unpadded)")
    if k in ("varchar", "text"):
        return TypeChoice("VARCHAR")
    if k in ("binary", "varbinary", "blob", "bit"):
        return TypeChoice("BLOB")
    if k == "time":
        return TypeChoice("TIME")
    if k == "timestamp":
        return TypeChoice("TIMESTAMP")
    if k == "timestamptz":
        return TypeChoice("TIMESTAMPTZ")
    if k == "enum" and ctype.values:
        return TypeChoice("ENUM(" + ", ".join(_enum_literal(v) for v in ctype.values) + ")")
    if k in ("enum", "set"):
        return TypeChoice("VARCHAR", f"{where}: {k} carried as text (members not enforced)")
    if k == "array":
        item = _ITEMS.get(ctype.item or "")
        if item is not None:
            return TypeChoice(f"{item}[]")
        return TypeChoice("JSON", f"{where}: array of {ctype.item} carried as a JSON array")
    simple = {"date": "DATE", "interval": "INTERVAL", "uuid": "UUID", "json": "JSON"}
    return TypeChoice(simple.get(k, "VARCHAR"))


def _enum_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def cast_target(sql_type: str) -> str:
    """How a value bound as text or a plain Arrow type becomes a column of ``sql_type``:
    nested types go through JSON (``CAST(CAST(x AS JSON) AS INTEGER[])``)."""
    up = sql_type.upper()
    if up.endswith("]") or up.startswith(("STRUCT(", "MAP(", "UNION(")):
        return "JSON"
    return ""
