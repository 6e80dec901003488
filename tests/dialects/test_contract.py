"""The dialect contract: one suite, run against every engine.

Every dialect must: connect (and refuse a wrong endpoint with ConnectError), quote any name,
create a table from the canonical model and reflect it back to the same canonical types,
load rows through its bulk path and stream them back exactly, plan key boundaries, give key
statistics and exact counts, delete by key range and by key list, list, empty and drop tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dmt.config import Endpoint
from dmt.dialects.base import Dialect, ValueCounters, get_dialect
from dmt.errors import ConnectError, TransferError
from dmt.model.schema import Column, ColumnType, Table
from dmt.validate.canonical import canonical_row
from tests.conftest import MY, PG

ENGINES = ["sqlite", "postgres", "mysql", "duckdb"]
#: engines whose strings have no declared length: a varchar(n) reflects back as text
LENGTHLESS = {"duckdb"}
NAME = 'Contract "Tbl" select'  # a reserved word, a space, a quote and mixed case

COLUMNS = [
    Column("id", ColumnType("int64"), nullable=False),
    Column("Name", ColumnType("varchar", length=40)),
    Column("amount", ColumnType("decimal", precision=12, scale=6)),  # SQLite: exact up to 15
    Column("ok", ColumnType("boolean")),
    Column("at", ColumnType("timestamp", fsp=6)),
    Column("blob", ColumnType("blob")),
]
ROWS = [
    (i, None if i % 7 == 0 else f"näme {i} 🚀", Decimal(i) / 8, i % 2 == 0,
     dt.datetime(2001, 2, 3, 4, 5, 6, i), bytes([i % 256, 0, 255]))
    for i in range(1, 251)
]  # fmt: skip


@pytest.fixture(params=ENGINES)
def dialect(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    pg_dbs: Callable[[], str],
    my_dbs: Callable[[], str],
) -> Iterator[Dialect]:
    kind = request.param
    if kind in ("sqlite", "duckdb"):
        ep = Endpoint(kind, path=str(tmp_path / f"c.{kind}"))
    elif kind == "postgres":
        ep = Endpoint("postgres", host=PG["host"], port=PG["port"], user=PG["user"],  # type: ignore[arg-type]
                      database=pg_dbs(), schema="public")  # fmt: skip
    else:
        ep = Endpoint("mysql", host=MY["host"], port=MY["port"], user=MY["user"],  # type: ignore[arg-type]
                      password="", database=my_dbs())  # fmt: skip
    yield get_dialect(ep, "target")


@pytest.fixture
def loaded(dialect: Dialect) -> Iterator[tuple[Dialect, Any, Table]]:
    table = Table(NAME, list(COLUMNS), primary_key=("id",))
    types = {c.name: dialect.render_type(c.type, f"{NAME}.{c.name}").sql for c in COLUMNS}
    conn = dialect.connect()
    cur = conn.cursor()
    for sql in dialect.create_table_sql(table, types):
        dialect.execute(cur, sql)
    cur.close()
    conn.commit()
    dialect.begin_load(conn)
    enc = dialect.encoders(table, ValueCounters())
    rows = [
        tuple(f(v) if f and v is not None else v for f, v in zip(enc, r, strict=True)) for r in ROWS
    ]
    assert dialect.write_rows(conn, table, rows) == len(ROWS)
    dialect.end_load(conn)
    try:
        yield dialect, conn, table
    finally:
        conn.close()


def _read(d: Dialect, conn: Any, table: Table, where: tuple[Any, Any] = (None, None)) -> list[Any]:
    lower, upper = where
    sql = d.select_sql(table, ("id",), lower is not None, upper is not None)
    params = [*(lower or ()), *(upper or ())]
    dec = d.decoders(table, ValueCounters())
    out = []
    with d.stream(conn, sql, params) as fetch:
        while batch := fetch(64):
            out += [
                tuple(f(v) if f and v is not None else v for f, v in zip(dec, r, strict=True))
                for r in batch
            ]
    return out


KINDS = [c.type.kind for c in COLUMNS]


def test_bulk_load_then_stream_back_exactly(loaded: tuple[Dialect, Any, Table]) -> None:
    d, conn, table = loaded
    got = _read(d, conn, table)
    assert [canonical_row(r, KINDS) for r in got] == [canonical_row(r, KINDS) for r in ROWS]
    assert d.count_rows(conn, NAME) == len(ROWS)
    assert NAME in d.existing_tables(conn)


def test_reflects_back_to_the_same_canonical_types(loaded: tuple[Dialect, Any, Table]) -> None:
    d, conn, _ = loaded
    (t,) = d.reflect(conn, lambda n: n == NAME).tables
    assert t.primary_key == ("id",)
    got = {c.name: (c.type.kind, c.type.length, c.type.precision, c.type.scale) for c in t.columns}
    for c in COLUMNS:
        kind, length, precision, scale = got[c.name]
        if c.type.kind == "varchar" and d.name in LENGTHLESS:
            assert kind == "text", c.name
            continue
        assert kind == c.type.kind, c.name
        if c.type.kind == "varchar":
            assert length == 40
        if c.type.kind == "decimal":
            assert (precision, scale) == (12, 6)


def test_keys_boundaries_and_stats(loaded: tuple[Dialect, Any, Table]) -> None:
    d, conn, table = loaded
    assert d.key_stats(conn, table, "id") == (1, 250, 250)
    bounds = d.key_boundaries(conn, table, ("id",), 100)
    assert [tuple(b) for b in bounds] == [(100,), (200,)]
    assert [r[0] for r in _read(d, conn, table, ((100,), (103,)))] == [101, 102, 103]


def test_delete_by_range_and_by_keys(loaded: tuple[Dialect, Any, Table]) -> None:
    d, conn, table = loaded
    assert d.delete_range(conn, table, ("id",), (10,), (20,)) == 10
    assert d.delete_keys(conn, table, ("id",), [(1,), (2,), (999,)]) == 2
    assert d.count_rows(conn, NAME) == 238
    cur = conn.cursor()
    for sql in d.truncate_tables_sql([NAME]):
        d.execute(cur, sql)
    conn.commit()
    assert d.count_rows(conn, NAME) == 0
    d.execute(cur, d.drop_table_sql(NAME))
    cur.close()
    conn.commit()
    assert NAME not in d.existing_tables(conn)


def test_a_duplicate_key_is_a_transfer_error(loaded: tuple[Dialect, Any, Table]) -> None:
    d, conn, table = loaded
    enc = d.encoders(table, ValueCounters())
    row = tuple(f(v) if f and v is not None else v for f, v in zip(enc, ROWS[0], strict=True))
    with pytest.raises(TransferError):
        d.write_rows(conn, table, [row])


@pytest.mark.parametrize("kind", ENGINES)
def test_an_unreachable_endpoint_is_a_connect_error(kind: str, tmp_path: Path) -> None:
    if kind in ("sqlite", "duckdb"):
        ep = Endpoint(kind, path=str(tmp_path / "missing" / "x.db"))
    else:
        ep = Endpoint(kind, host="127.0.0.1", port=1, user="u", password="pw-secret", database="d")
    with pytest.raises(ConnectError) as info:
        get_dialect(ep, "source").connect()
    assert info.value.exit_code == 2 and "pw-secret" not in str(info.value)
