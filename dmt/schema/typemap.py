"""The type-mapping table of docs/type-mapping.md, computed from the mapping code itself
(tests/test_type_mapping_doc.py keeps the document equal to it)."""

from __future__ import annotations

from dmt.config import Endpoint
from dmt.dialects.base import Dialect, get_dialect
from dmt.schema.model import ColumnType

#: (source engine, declared type) examples: every type the issue names
EXAMPLES: list[tuple[str, str]] = [
    ("postgres", "boolean"), ("postgres", "smallint"), ("postgres", "integer"),
    ("postgres", "bigint"), ("postgres", "numeric(38,10)"), ("postgres", "numeric"),
    ("postgres", "real"), ("postgres", "double precision"), ("postgres", "character(5)"),
    ("postgres", "character varying(20)"), ("postgres", "text"), ("postgres", "bytea"),
    ("postgres", "date"), ("postgres", "time(6) without time zone"),
    ("postgres", "timestamp(6) without time zone"), ("postgres", "timestamp(6) with time zone"),
    ("postgres", "interval"), ("postgres", "uuid"), ("postgres", "json"), ("postgres", "jsonb"),
    ("postgres", "integer[]"),
    ("mysql", "tinyint(1)"), ("mysql", "tinyint"), ("mysql", "tinyint unsigned"),
    ("mysql", "smallint unsigned"), ("mysql", "mediumint unsigned"), ("mysql", "int unsigned"),
    ("mysql", "bigint"), ("mysql", "bigint unsigned"), ("mysql", "decimal(65,30)"),
    ("mysql", "float"), ("mysql", "double"), ("mysql", "char(5)"), ("mysql", "varchar(20)"),
    ("mysql", "tinytext"), ("mysql", "mediumtext"), ("mysql", "longtext"),
    ("mysql", "binary(4)"), ("mysql", "varbinary(10)"), ("mysql", "blob"),
    ("mysql", "date"), ("mysql", "time(6)"), ("mysql", "datetime(6)"),
    ("mysql", "timestamp(6)"), ("mysql", "year"), ("mysql", "json"),
    ("mysql", "enum('a','b')"), ("mysql", "set('x','y')"), ("mysql", "bit(8)"),
    ("sqlite", ""), ("sqlite", "INTEGER"), ("sqlite", "INT(5)"), ("sqlite", "TINYINT"),
    ("sqlite", "SMALLINT"), ("sqlite", "BOOLEAN"), ("sqlite", "REAL"),
    ("sqlite", "DOUBLE PRECISION"), ("sqlite", "NUMBER"), ("sqlite", "DECIMAL(10,2)"),
    ("sqlite", "VARCHAR(20)"), ("sqlite", "TEXT"), ("sqlite", "BLOB"), ("sqlite", "DATE"),
    ("sqlite", "DATETIME"), ("sqlite", "JSON"),
]  # fmt: skip

TARGETS = ("postgres", "mysql", "sqlite")


def source_type(engine: str, declared: str) -> ColumnType:
    """The canonical type reflection gives ``declared`` on ``engine``."""
    if engine == "postgres":
        from dmt.dialects.postgres import canonical_type as pg

        return pg(declared)
    if engine == "mysql":
        from dmt.dialects.mysql import canonical_type as my

        base = declared.split("(")[0].split(" ")[0]
        nums = declared[declared.find("(") + 1 : declared.find(")")] if "(" in declared else ""
        parts = [int(x) for x in nums.split(",")] if nums and nums[0].isdigit() else []
        if base in ("decimal", "numeric"):
            return my(base, declared, precision=parts[0], scale=parts[1])
        if base in ("char", "varchar", "binary", "varbinary"):
            return my(base, declared, length=parts[0])
        if base in ("time", "datetime", "timestamp"):
            return my(base, declared, fsp=parts[0] if parts else 0)
        if base == "bit":
            return my(base, declared, precision=parts[0])
        return my(base, declared)
    from dmt.dialects.sqlite import canonical_type as lite

    return lite(declared)


def _describe(t: ColumnType) -> str:
    out = t.kind
    if t.unsigned:
        out += " unsigned"
    if t.kind == "decimal":
        out += f"({t.precision},{t.scale})" if t.precision is not None else " (any)"
    elif t.length and t.kind in ("char", "varchar", "binary", "varbinary"):
        out += f"({t.length})"
    elif t.fsp is not None and t.kind in ("time", "timestamp", "timestamptz"):
        out += f"({t.fsp})"
    return out


def _dialect(engine: str) -> Dialect:
    return get_dialect(Endpoint(engine=engine, path="x.db", database="x"), "target")


def rows() -> list[tuple[str, ...]]:
    """(source, declared, canonical, PostgreSQL, MySQL, SQLite) cells; a lossy target type is
    marked with a trailing ``*`` (its warning is in the table below the mapping)."""
    dialects = {e: _dialect(e) for e in TARGETS}
    out = []
    for engine, declared in EXAMPLES:
        ct = source_type(engine, declared)
        cells = [engine, f"`{declared}`" if declared else "(untyped)", _describe(ct)]
        for target in TARGETS:
            choice = dialects[target].render_type(ct, "t.c")
            lossy = bool(choice.warning) or bool(ct.note and ct.engine != target)
            sql = f"`{choice.sql}`" if choice.sql else "(untyped)"
            cells.append(sql + (" *" if lossy else ""))
        out.append(tuple(cells))
    return out


def markdown() -> str:
    lines = [
        "| source | declared type | canonical | PostgreSQL | MySQL/MariaDB | SQLite |",
        "|---|---|---|---|---|---|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows()]
    return "\n".join(lines)
