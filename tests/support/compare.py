"""Read whole tables through dmt's dialects and compare them value by value, canonically."""

from __future__ import annotations

from typing import Any

from dmt.config import Endpoint
from dmt.dialects.base import ValueCounters, get_dialect
from dmt.validate.canonical import canonical_row


def table_rows(ep: Endpoint, table: str) -> tuple[list[str], list[tuple[str | None, ...]]]:
    """(column kinds, canonical rows ordered by every column) of one table."""
    d = get_dialect(ep, "source")
    conn = d.connect()
    try:
        schema = d.reflect(conn, lambda n: n == table)
        assert schema.tables, f"table {table} not found on {ep.describe()}"
        t = schema.tables[0]
        kinds = [c.type.kind for c in t.columns]
        decs = d.decoders(t, ValueCounters())
        sql = d.select_sql(t, (), False, False)
        rows: list[Any] = []
        with d.stream(conn, sql, []) as fetch:
            while batch := fetch(5000):
                rows.extend(batch)
        out = []
        for r in rows:
            vals = [f(v) if f and v is not None else v for f, v in zip(decs, r, strict=True)]
            out.append(canonical_row(tuple(vals), kinds))
        out.sort(key=lambda row: tuple("" if v is None else v for v in row))
        return kinds, out
    finally:
        conn.close()


def assert_same_table(
    src: Endpoint, dst: Endpoint, table: str, dst_table: str | None = None
) -> int:
    """Every row of ``table`` is on the target exactly once, value for value."""
    _, a = table_rows(src, table)
    _, b = table_rows(dst, dst_table or table)
    assert len(a) == len(b), f"{table}: {len(a)} source rows, {len(b)} target rows"
    for i, (x, y) in enumerate(zip(a, b, strict=True)):
        assert x == y, f"{table}: row {i} differs:\n  source {x}\n  target {y}"
    return len(a)
