"""SQLite declared types -> canonical (by affinity, honouring common names), and back."""

from __future__ import annotations

import re

from dmt.dialects.sql import TypeChoice
from dmt.model.schema import WHOLE_NUMBER_KINDS, ColumnType

#: declared types docs/type-mapping.md shows mapped to every target
SAMPLE_TYPES = (
    "", "INTEGER", "INT(5)", "TINYINT", "SMALLINT", "BOOLEAN", "REAL", "DOUBLE PRECISION",
    "NUMBER", "DECIMAL(10,2)", "VARCHAR(20)", "TEXT", "BLOB", "DATE", "DATETIME", "JSON",
)  # fmt: skip

_PARAMS = re.compile(r"\(\s*(\d+)\s*(?:,\s*(-?\d+)\s*)?\)")
#: integer names whose width the target keeps (SQLite itself stores any 64-bit integer)
_INT_NAMES = {"TINYINT": "int8", "SMALLINT": "int16", "INT2": "int16", "MEDIUMINT": "int32"}
#: the largest decimal precision a NUMERIC column holds exactly (beyond, values become REALs)
MAX_NUMERIC = 15


def canonical_type(declared: str) -> ColumnType:
    """Map a SQLite declared type to the canonical set, by SQLite's affinity rules first."""
    return _canonical(declared.strip()).with_(engine="sqlite")


def _canonical(decl: str) -> ColumnType:
    up = decl.upper()
    m = _PARAMS.search(up)
    p = int(m.group(1)) if m else None
    s = int(m.group(2)) if m and m.group(2) is not None else None
    base = " ".join(_PARAMS.sub("", up).split())
    if not up:
        return ColumnType(
            "text", source="", note="untyped SQLite column carried as text (any value)"
        )
    if base in ("BOOLEAN", "BOOL"):
        return ColumnType("boolean", source=decl)
    if "INT" in base:  # INTEGER affinity; SQLite stores 64-bit signed integers
        return ColumnType(_INT_NAMES.get(base, "int64"), source=decl)
    if any(k in base for k in ("CHAR", "CLOB", "TEXT")):
        if "CHAR" in base and p is not None:
            fixed = base in ("CHAR", "CHARACTER", "NCHAR", "NATIVE CHARACTER")
            return ColumnType("char" if fixed else "varchar", length=p, source=decl)
        return ColumnType("text", source=decl)
    if base == "BLOB" or "BINARY" in base or base == "BYTEA":
        return ColumnType("blob", source=decl)
    if base in ("FLOAT", "REAL4", "FLOAT4"):
        return ColumnType("float64", source=decl)  # SQLite's REAL is always 8 bytes
    if any(k in base for k in ("REAL", "FLOA", "DOUB")):
        return ColumnType("float64", source=decl)
    # NUMERIC affinity and the names that commonly carry it
    if base == "DATE":
        return ColumnType("date", source=decl)
    if base in ("DATETIME", "TIMESTAMP", "TIMESTAMP WITHOUT TIME ZONE"):
        return ColumnType("timestamp", fsp=6, source=decl)
    if base in ("TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE"):
        return ColumnType("timestamptz", fsp=6, source=decl)
    if base == "TIME":
        return ColumnType("time", fsp=6, source=decl)
    if base in ("JSON", "JSONB"):
        return ColumnType("json", source=decl)
    if base == "UUID":
        return ColumnType("uuid", source=decl)
    if base in ("DECIMAL", "NUMERIC", "NUMBER", "MONEY"):
        return ColumnType("decimal", precision=p, scale=s if p is not None else None, source=decl)
    return ColumnType(
        "decimal", source=decl, note=f"`{decl}` has NUMERIC affinity: carried as a decimal"
    )


def render_type(ctype: ColumnType, where: str) -> TypeChoice:
    """The SQLite declared type for a canonical type; ``where`` is ``table.column``."""
    k = ctype.kind
    if ctype.engine == "sqlite":
        return TypeChoice(ctype.source)  # same engine: the declared type, verbatim
    if k in WHOLE_NUMBER_KINDS:
        if k == "int64" and ctype.unsigned:
            return TypeChoice("TEXT", f"{where}: BIGINT UNSIGNED stored as TEXT in SQLite")
        return TypeChoice("INTEGER")
    if k == "boolean":
        return TypeChoice("BOOLEAN")
    if k in ("float32", "float64"):
        nan = ctype.engine == "postgres"
        return TypeChoice("REAL", f"{where}: NaN becomes NULL in SQLite" if nan else None)
    if k == "decimal":
        if ctype.precision is not None and ctype.precision <= MAX_NUMERIC:
            return TypeChoice(f"NUMERIC({ctype.precision},{ctype.scale or 0})")
        return TypeChoice("TEXT", f"{where}: exact decimal stored as TEXT in SQLite")
    if k in ("char", "varchar") and ctype.length:
        name = "CHAR" if k == "char" else "VARCHAR"
        return TypeChoice(f"{name}({ctype.length})")
    if k in ("binary", "varbinary", "blob", "bit"):
        return TypeChoice("BLOB")
    if k == "timestamptz":
        return TypeChoice("TIMESTAMPTZ", f"{where}: timestamptz stored as ISO text with offset")
    if k == "array":
        return TypeChoice("JSON", f"{where}: array carried as a JSON array")
    if k in ("enum", "set"):
        return TypeChoice("TEXT", f"{where}: {k} carried as text (members not enforced)")
    if k == "interval":
        return TypeChoice("TEXT", f"{where}: interval carried as PostgreSQL's text form")
    mapping = {
        "date": "DATE",
        "time": "TIME",
        "timestamp": "DATETIME",
        "json": "JSON",
        "uuid": "TEXT",
    }
    return TypeChoice(mapping.get(k, "TEXT"))
