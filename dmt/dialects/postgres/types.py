"""PostgreSQL types: ``format_type()`` text to the canonical set, and back to DDL."""

from __future__ import annotations

import re

from dmt.dialects.sql import TypeChoice
from dmt.model.schema import ColumnType

#: declared types docs/type-mapping.md shows mapped to every target
SAMPLE_TYPES = (
    "boolean", "smallint", "integer", "bigint", "numeric(38,10)", "numeric", "real",
    "double precision", "character(5)", "character varying(20)", "text", "bytea", "date",
    "time(6) without time zone", "timestamp(6) without time zone", "timestamp(6) with time zone",
    "interval", "uuid", "json", "jsonb", "integer[]",
)  # fmt: skip

_SIMPLE = {
    "smallint": "int16",
    "integer": "int32",
    "bigint": "int64",
    "boolean": "boolean",
    "real": "float32",
    "double precision": "float64",
    "text": "text",
    "bytea": "blob",
    "date": "date",
    "interval": "interval",
    "uuid": "uuid",
    "json": "json",
    "jsonb": "json",
    "money": "decimal",
}
#: OIDs below this belong to the types PostgreSQL ships with (FirstNormalObjectId)
FIRST_USER_OID = 16384
_TYPE_RE = re.compile(r"^(?P<base>[a-z ]+?)(?:\((?P<a>\d+)(?:,(?P<b>\d+))?\))?(?P<rest>[a-z ]*)$")


def canonical_type(
    formatted: str, typtype: str = "b", enum_values: tuple[str, ...] = (), builtin: bool = True
) -> ColumnType:
    """Map ``format_type()`` output to the canonical set."""
    return _canonical(formatted, typtype, enum_values).with_(engine="postgres", builtin=builtin)


def _canonical(formatted: str, typtype: str, enum_values: tuple[str, ...]) -> ColumnType:
    if formatted.endswith("[]"):
        item = _canonical(formatted[:-2], "b", ()).kind
        return ColumnType("array", item=item, source=formatted)
    if typtype == "e":
        return ColumnType("enum", values=enum_values, source=formatted)
    m = _TYPE_RE.match(formatted)
    if not m:
        return ColumnType(
            "text", source=formatted, note=f"`{formatted}` carried as its PostgreSQL text form"
        )
    base = (m.group("base") + (m.group("rest") or "")).strip()
    a = int(m.group("a")) if m.group("a") else None
    b = int(m.group("b")) if m.group("b") else None
    if base in _SIMPLE:
        kind = _SIMPLE[base]
        if base == "money":
            return ColumnType("decimal", precision=19, scale=2, source=formatted)
        return ColumnType(kind, source=formatted)
    if base == "numeric":
        return ColumnType(
            "decimal", precision=a, scale=b if a is not None else None, source=formatted
        )
    if base == "character varying":
        return ColumnType("varchar" if a else "text", length=a, source=formatted)
    if base in ("character", "bpchar"):
        return ColumnType("char", length=a or 1, source=formatted)
    fsp = a if a is not None else 6
    if base in ("timestamp without time zone", "timestamp"):
        return ColumnType("timestamp", fsp=fsp, source=formatted)
    if base == "timestamp with time zone":
        return ColumnType("timestamptz", fsp=fsp, source=formatted)
    if base in ("time without time zone", "time"):
        return ColumnType("time", fsp=fsp, source=formatted)
    if base == "time with time zone":
        return ColumnType("time", fsp=fsp, source=formatted)
    return ColumnType(
        "text", source=formatted, note=f"`{formatted}` carried as its PostgreSQL text form"
    )


def render_type(ctype: ColumnType, where: str) -> TypeChoice:
    """The PostgreSQL column type for ``ctype`` (the declared type, verbatim, from PostgreSQL)."""
    k = ctype.kind
    if ctype.engine == "postgres" and ctype.builtin and ctype.source:
        return TypeChoice(ctype.source)  # same engine: the declared type, verbatim
    if k in ("int8", "int16", "year"):
        return TypeChoice("integer" if ctype.unsigned and k == "int16" else "smallint")
    if k == "int32":
        return TypeChoice("bigint" if ctype.unsigned else "integer")
    if k == "int64":
        return TypeChoice("numeric(20,0)" if ctype.unsigned else "bigint")
    if k == "decimal":
        if ctype.precision is None:
            return TypeChoice("numeric")
        return TypeChoice(f"numeric({ctype.precision},{ctype.scale or 0})")
    if k == "float32":
        return TypeChoice("real")
    if k == "float64":
        return TypeChoice("double precision")
    if k == "char":
        return TypeChoice(f"character({ctype.length or 1})")
    if k == "varchar":
        return TypeChoice(f"varchar({ctype.length})" if ctype.length else "text")
    if k in ("binary", "varbinary", "blob", "bit"):
        return TypeChoice("bytea")
    if k in ("time", "timestamp", "timestamptz"):
        fsp = 6 if ctype.fsp is None else ctype.fsp
        name = {"time": "time", "timestamp": "timestamp", "timestamptz": "timestamptz"}[k]
        return TypeChoice(f"{name}({fsp})")
    if k == "json":
        return TypeChoice("jsonb" if ctype.source == "jsonb" else "json")
    if k == "array":
        return TypeChoice("jsonb", f"{where}: array carried as a JSON array")
    if k in ("enum", "set"):
        return TypeChoice("text", f"{where}: {k} carried as text (members not enforced)")
    simple = {"boolean": "boolean", "date": "date", "interval": "interval", "uuid": "uuid"}
    return TypeChoice(simple.get(k, "text"))
