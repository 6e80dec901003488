"""The type-mapping table of docs/type-mapping.md, computed from the mapping code itself
(tests/test_type_mapping_doc.py keeps the document equal to it): each dialect's sample
declared types, as reflection reads them, rendered for every target."""

from __future__ import annotations

from dmt.config import Endpoint
from dmt.dialects.base import DIALECTS, Dialect, get_dialect
from dmt.model.schema import ColumnType


def _dialect(engine: str) -> Dialect:
    return get_dialect(Endpoint(engine=engine, path="x.db", database="x"), "target")


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


def _cell(ct: ColumnType, target: Dialect) -> str:
    choice = target.render_type(ct, "t.c")
    lossy = bool(choice.warning) or bool(ct.note and ct.engine != target.name)
    sql = f"`{choice.sql}`" if choice.sql else "(untyped)"
    return sql + (" *" if lossy else "")


def rows() -> list[tuple[str, ...]]:
    """(source, declared, canonical, then one cell per target) rows; a lossy target type is
    marked with a trailing ``*`` (its warning is in the table below the mapping)."""
    dialects = [_dialect(e) for e in DIALECTS]
    out = []
    for source in dialects:
        for declared in source.sample_types:
            ct = source.declared_type(declared)
            cells = [source.name, f"`{declared}`" if declared else "(untyped)", _describe(ct)]
            out.append(tuple(cells + [_cell(ct, target) for target in dialects]))
    return out


def markdown() -> str:
    titles = [_dialect(e).title for e in DIALECTS]
    lines = [
        "| source | declared type | canonical | " + " | ".join(titles) + " |",
        "|---|---|---" + "|---" * len(titles) + "|",
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows()]
    return "\n".join(lines)
