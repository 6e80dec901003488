"""MySQL/MariaDB types: information_schema spellings -> canonical, and canonical -> DDL."""

from __future__ import annotations

import re

from dmt.dialects.sql import TypeChoice
from dmt.model.schema import ColumnType, Index, Table

#: declared types docs/type-mapping.md shows mapped to every target
SAMPLE_TYPES = (
    "tinyint(1)", "tinyint", "tinyint unsigned", "smallint unsigned", "mediumint unsigned",
    "int unsigned", "bigint", "bigint unsigned", "decimal(65,30)", "float", "double", "char(5)",
    "varchar(20)", "tinytext", "mediumtext", "longtext", "binary(4)", "varbinary(10)", "blob",
    "date", "time(6)", "datetime(6)", "timestamp(6)", "year", "json", "enum('a','b')",
    "set('x','y')", "bit(8)",
)  # fmt: skip

KEY_CHARS = 255  # a text primary key or index column becomes varchar(255) / a 255 prefix
LONG_TYPES = ("longtext", "longblob", "json", "text", "blob", "mediumtext", "mediumblob")
AUTO_INC_TYPES = ("tinyint", "smallint", "mediumint", "int", "integer", "bigint")

_INTS = {
    "tinyint": "int8",
    "smallint": "int16",
    "mediumint": "int32",
    "int": "int32",
    "integer": "int32",
    "bigint": "int64",
}
_INT_SQL = {"int8": "tinyint", "int16": "smallint", "int32": "int", "int64": "bigint"}
_TEXTS = ("tinytext", "text", "mediumtext", "longtext")
_BLOBS = ("tinyblob", "blob", "mediumblob", "longblob")
_SPATIAL = (
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
)
_QUOTED = re.compile(r"'((?:[^'\\]|''|\\.)*)'")


def _members(column_type: str) -> tuple[str, ...]:
    """The values of ``enum('a','b''c')`` as information_schema spells them."""
    inner = column_type[column_type.index("(") + 1 : column_type.rindex(")")]
    return tuple(
        re.sub(r"\\(.)", r"\1", m.group(1).replace("''", "'")) for m in _QUOTED.finditer(inner)
    )


def canonical_type(
    data_type: str,
    column_type: str,
    precision: int | None = None,
    scale: int | None = None,
    fsp: int | None = None,
    length: int | None = None,
) -> ColumnType:
    """Map one information_schema.COLUMNS row's type to the canonical set."""
    t = _canonical(data_type.lower(), column_type, precision, scale, fsp, length)
    return t.with_(engine="mysql")


def declared_type(declared: str) -> ColumnType:
    """The canonical type of a column declared ``declared`` (``decimal(10,2)``,
    ``int unsigned``...), the numbers read from the declaration as information_schema would
    give them."""
    base = declared.split("(")[0].split(" ")[0]
    nums = declared[declared.find("(") + 1 : declared.find(")")] if "(" in declared else ""
    parts = [int(x) for x in nums.split(",")] if nums and nums[0].isdigit() else []
    if base in ("decimal", "numeric"):
        return canonical_type(base, declared, precision=parts[0], scale=parts[1])
    if base in ("char", "varchar", "binary", "varbinary"):
        return canonical_type(base, declared, length=parts[0])
    if base in ("time", "datetime", "timestamp"):
        return canonical_type(base, declared, fsp=parts[0] if parts else 0)
    if base == "bit":
        return canonical_type(base, declared, precision=parts[0])
    return canonical_type(base, declared)


def _canonical(
    dtype: str,
    src: str,
    precision: int | None,
    scale: int | None,
    fsp: int | None,
    length: int | None,
) -> ColumnType:
    ctype = src.lower()
    if dtype in _INTS:
        if ctype == "tinyint(1)":
            return ColumnType("boolean", source=src)
        return ColumnType(_INTS[dtype], unsigned="unsigned" in ctype, source=src)
    if dtype in ("decimal", "numeric"):
        return ColumnType("decimal", precision=precision, scale=scale or 0, source=src)
    if dtype == "float":
        return ColumnType("float32", source=src)
    if dtype in ("double", "real"):
        return ColumnType("float64", source=src)
    if dtype in ("char", "varchar"):
        return ColumnType(dtype, length=length, source=src)
    if dtype in _TEXTS:
        return ColumnType("text", source=src)
    if dtype in ("binary", "varbinary"):
        return ColumnType(dtype, length=length, source=src)
    if dtype in _BLOBS:
        return ColumnType("blob", source=src)
    if dtype in _SPATIAL:
        return ColumnType(
            "blob", source=src, note=f"spatial `{src}` carried as MySQL's internal binary form"
        )
    if dtype == "date":
        return ColumnType("date", source=src)
    if dtype in ("time", "datetime", "timestamp"):
        kind = {"time": "time", "datetime": "timestamp", "timestamp": "timestamptz"}[dtype]
        return ColumnType(kind, fsp=fsp or 0, source=src)
    if dtype == "year":
        return ColumnType("year", source=src)
    if dtype == "json":
        return ColumnType("json", source=src)
    if dtype in ("enum", "set"):
        return ColumnType(dtype, values=_members(src), source=src)
    if dtype == "bit":
        return ColumnType("bit", length=precision or 1, source=src)
    if dtype == "uuid":  # MariaDB 10.7+
        return ColumnType("uuid", source=src)
    return ColumnType("text", source=src, note=f"unknown type `{src}` carried as text")


def literal(value: str) -> str:
    """A string literal in MySQL's default syntax (backslash escapes on)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def render_type(ctype: ColumnType, where: str) -> TypeChoice:
    """The MySQL type for a canonical type; ``where`` is ``table.column``."""
    k = ctype.kind
    pg = ctype.engine == "postgres"
    if ctype.engine == "mysql" and ctype.source and k != "json":
        # same engine: the declared type, verbatim (MariaDB's json is longtext + a check)
        return TypeChoice(ctype.source)
    if k == "boolean":
        return TypeChoice("tinyint(1)")
    if k in _INT_SQL:
        base = _INT_SQL[k]
        if k == "int32" and ctype.source.lower().startswith("mediumint"):
            base = "mediumint"
        return TypeChoice(base + (" unsigned" if ctype.unsigned else ""))
    if k == "decimal":
        choice = _render_decimal(ctype, where)
        if pg and not choice.warning:
            return TypeChoice(choice.sql, f"{where}: numeric NaN and ±Infinity become NULL")
        return choice
    if k in ("float32", "float64"):
        nan = f"{where}: NaN and ±Infinity become NULL (MySQL has neither)"
        return TypeChoice("float" if k == "float32" else "double", nan if pg else None)
    if k in ("char", "binary"):
        n = ctype.length or 1
        var = "varchar" if k == "char" else "varbinary"
        return TypeChoice(f"{k}({n})" if n <= 255 else f"{var}({n})")
    if k == "varchar":
        # 16383 utf8mb4 characters fill the 65535-byte row limit
        m = ctype.length
        return TypeChoice(f"varchar({m})" if m and m <= 16383 else "longtext")
    if k == "text":
        return TypeChoice("longtext")
    if k == "varbinary":
        m = ctype.length
        return TypeChoice(f"varbinary({m})" if m and m <= 65532 else "longblob")
    if k == "blob":
        return TypeChoice("longblob")
    if k in ("time", "timestamp", "timestamptz"):
        return _render_temporal(ctype, where)
    if k in ("enum", "set"):
        values = ",".join(literal(v) for v in ctype.values)
        if not values:
            return TypeChoice("longtext", f"{where}: {k} without members carried as text")
        return TypeChoice(f"{k}({values})")
    if k == "bit":
        return TypeChoice(f"bit({min(64, max(1, ctype.length or 1))})")
    if k == "interval":
        return TypeChoice("varchar(64)", f"{where}: interval carried as PostgreSQL's text form")
    if k == "array":
        return TypeChoice("json", f"{where}: array carried as a JSON array")
    if k == "date" and pg:
        return TypeChoice("date", f"{where}: ±infinity dates become 9999-12-31 / 0001-01-01")
    simple = {"date": "date", "year": "year", "json": "json", "uuid": "char(36)"}
    if k in simple:
        return TypeChoice(simple[k])
    return TypeChoice("longtext", f"{where}: unknown type `{ctype.source}` carried as text")


def _render_temporal(ctype: ColumnType, where: str) -> TypeChoice:
    k = ctype.kind
    fsp = 6 if ctype.fsp is None else min(6, ctype.fsp)
    name = "time" if k == "time" else "datetime"
    sql = f"{name}({fsp})" if fsp else name
    if k == "time" and "with time zone" in ctype.source.lower():
        return TypeChoice(sql, f"{where}: time with time zone stored as UTC in a {sql}")
    if k == "timestamptz":
        return TypeChoice(
            sql, f"{where}: timestamptz stored as its UTC instant in a {sql} (zone dropped)"
        )
    if k == "timestamp" and ctype.engine == "postgres":
        return TypeChoice(
            sql, f"{where}: PostgreSQL ±infinity timestamps become 9999-12-31 / 0001-01-01"
        )
    return TypeChoice(sql)


def _render_decimal(ctype: ColumnType, where: str) -> TypeChoice:
    p, s = ctype.precision, ctype.scale or 0
    if p is None:
        return TypeChoice(
            "decimal(65,30)",
            f"{where}: unconstrained numeric stored as decimal(65,30); "
            "values beyond 35 integer or 30 fractional digits fail the load",
        )
    if p > 65 or s > 30:
        p2, s2 = min(p, 65), min(s, 30)
        return TypeChoice(
            f"decimal({p2},{s2})",
            f"{where}: numeric({p},{s}) is wider than MySQL allows; stored as "
            f"decimal({p2},{s2}), wider values fail the load",
        )
    return TypeChoice(f"decimal({p},{s})")


def key_columns(table: Table, types: dict[str, str]) -> list[str]:
    """MySQL cannot index a whole text or blob: such a primary key column of ``types`` (its
    declared types, changed in place) becomes varchar/varbinary(255), an index over one covers
    its first 255 characters; a warning for each."""
    warnings = []
    for name in table.primary_key:
        declared = types[name]
        sql = declared.lower()
        if sql.split("(")[0].strip() in LONG_TYPES:
            short = "varbinary" if "blob" in sql else "varchar"
            types[name] = f"{short.upper() if declared.isupper() else short}({KEY_CHARS})"
            warnings.append(
                f"{table.name}.{name}: {declared} primary key column stored as {types[name]}; "
                "longer values fail the load"
            )
    for group in (table.uniques, table.indexes):
        for i, idx in enumerate(group):
            lengths = list(idx.lengths) or [None] * len(idx.columns)
            changed = False
            for j, col in enumerate(idx.columns):
                declared = types.get(col, "").lower().split("(")[0].strip()
                if lengths[j] is None and declared in LONG_TYPES:
                    lengths[j] = KEY_CHARS
                    changed = True
                    warnings.append(
                        f"{table.name}: index `{idx.name}` covers the first {KEY_CHARS} "
                        f"characters of `{col}` (MySQL cannot index a whole {types[col]})"
                    )
            if changed:
                group[i] = Index(idx.name, idx.columns, idx.unique, tuple(lengths))
    return warnings
