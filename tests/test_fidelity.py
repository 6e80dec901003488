"""The fidelity matrix: for each engine a table with every type dmt maps, filled with edge
values, migrated in all sixteen directions and compared value by value.

Both sides are read through dmt's own dialects (reflection + decoders) and compared in the
canonical form of :mod:`dmt.validate.canonical`, using the *source* column's kind for both sides. The
documented lossy mappings (docs/type-mapping.md) are applied to the expected side, so a lossy
step that gives anything but its documented result fails.

Every copy is also validated in ``checksum`` mode, which must accept the documented conversions
as equal and must find one value changed on the target afterwards.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dmt.checks import validate_target
from dmt.config import Endpoint, build_config
from dmt.dialects.base import ValueCounters, get_dialect
from dmt.errors import ValidationMismatch
from dmt.run import execute
from dmt.validate.canonical import canonical
from tests.conftest import MY, PG, endpoint
from tests.support import duckdb_fidelity

#: the three server and file engines the other matrices (constraints, collations, ...) share
ENGINES = ["postgres", "mysql", "sqlite"]
DIRECTIONS = [(s, t) for s in ENGINES for t in ENGINES]
#: every engine: the fidelity matrix's sixteen directions
ALL_ENGINES = [*ENGINES, "duckdb"]
ALL_DIRECTIONS = [(s, t) for s in ALL_ENGINES for t in ALL_ENGINES]

PG_DDL = """
CREATE TABLE fidelity (
  id integer PRIMARY KEY,
  b boolean, i16 smallint, i32 integer, i64 bigint,
  d38 numeric(38,10), dfree numeric, f4 real, f8 double precision,
  c char(5), vc varchar(20), t text, by bytea,
  dt date, tm time(6), ts timestamp(6), tstz timestamptz(6),
  iv interval, u uuid, j jsonb, arr integer[]
)"""
PG_ROWS = [
    "(1, true, -32768, -2147483648, -9223372036854775808, -9999999999999999999999999999.9999999999,"
    " -12345678901234567890.123456789, -3.4e38, -1.7976931348623157e308, 'a', '', '', '',"
    " '0001-01-01', '00:00:00', '1969-12-31 23:59:59.999999', '1901-12-13 20:45:52+00',"
    " '1 year 2 mons 3 days 04:05:06.5', '00000000-0000-0000-0000-000000000000', '{}', '{}')",
    "(2, false, 32767, 2147483647, 9223372036854775807, 9999999999999999999999999999.9999999999,"
    " 0.000000000000000000000000000001, 3.4e38, 1.7976931348623157e308, 'abcde',"
    " 'ünï😀', repeat('x', 5000), '\\x00ff00', '9999-12-31', '23:59:59.999999',"
    " '2038-01-19 03:14:08.000001', '2100-06-15 12:00:00.123456+05:30', '-1 day -00:00:01',"
    ' \'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11\', \'{"k": [1, "ü😀", {"z": null}], "a": 1.5}\','
    " '{1,NULL,3}')",
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL)",
    "(4, true, 0, 0, 0, 0, 0, 'NaN', 'NaN', ' ', ' x ', 'line\nbreak\ttab', decode(repeat('ab',"
    " 70000), 'hex'), '1970-01-01', '12:00:00', 'infinity', '1970-01-01 00:00:00+00', '0',"
    " 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '[]', '{-1}')",
    "(5, false, 1, 1, 1, 0.5, -1, 'Infinity', '-Infinity', 'q', 'q''uote\\\\', 'x', '\\x', "
    " '2000-02-29', '00:00:00.000001', '-infinity', '2000-01-01 00:00:00.5-08:00', '1 mon',"
    " NULL, '\"str\"', NULL)",
]

MY_DDL = """
CREATE TABLE fidelity (
  id int PRIMARY KEY,
  b tinyint(1), i8 tinyint, u8 tinyint unsigned, i16 smallint, u16 smallint unsigned,
  i24 mediumint, u24 mediumint unsigned, i32 int, u32 int unsigned, i64 bigint,
  u64 bigint unsigned, d38 decimal(38,10), d65 decimal(65,30), f4 float, f8 double,
  c char(5), vc varchar(20), tt tinytext, mt mediumtext, lt longtext, bin binary(4),
  vb varbinary(10), bl blob, lb longblob, dt date, tm time(6), dtm datetime(6),
  ts timestamp(6) NULL, j json, e enum('a','b','c d'), st set('x','y'), yr year
)"""
MY_ROWS = [
    "(1, 1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0,"
    " -9999999999999999999999999999.9999999999, -99999999999999999999999999999999999.999999999999999999999999999999,"
    " -3.40282e38, -1.7976931348623157e308, 'a', '', '', '', '', 'ab', '', '', '',"
    " '1000-01-01', '00:00:00', '1000-01-01 00:00:00', '1970-01-01 00:00:01', '{}', 'a', '', 1901)",
    "(2, 0, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295,"
    " 9223372036854775807, 18446744073709551615, 9999999999999999999999999999.9999999999,"
    " 0.000000000000000000000000000001, 3.40282e38, 1.7976931348623157e308, 'abcde', 'ünï😀',"
    " 'x', REPEAT('m', 70000), REPEAT('l', 100000), X'00FF0001', X'00', X'FF00', REPEAT(X'AB', 70000),"
    " '9999-12-31', '23:59:59.999999', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999',"
    ' \'{"k": [1, "ü😀", {"z": null}], "a": 1.5}\', \'c d\', \'x,y\', 2155)',
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "(4, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ' ', ' x ', 'a\\nb\\tc\\\\', '', '', '',"
    " '', '', '', '1969-12-31', '12:00:00', '1969-12-31 23:59:59.999999', '2000-01-01 00:00:00.5',"
    " '[]', 'b', 'y', 2000)",
]

SQLITE_DDL = """
CREATE TABLE fidelity (
  id INTEGER PRIMARY KEY,
  b BOOLEAN, ti TINYINT, si SMALLINT, i INT(5), bi BIGINT, n NUMBER, d DECIMAL(10,2),
  dp DOUBLE PRECISION, r REAL, vc VARCHAR(20), t TEXT, bl BLOB, dt DATE, dtm DATETIME,
  untyped
)"""
SQLITE_ROWS = [
    "(1, 1, -128, -32768, -2147483648, -9223372036854775808, -1.5, -99999999.99,"
    " -1.7976931348623157e308, -1e-300, '', '', X'', '0001-01-01', '1969-12-31 23:59:59.999999', 'x')",
    "(2, 0, 127, 32767, 2147483647, 9223372036854775807, 12345678901234, 99999999.99,"
    " 1.7976931348623157e308, 2.5, 'ünï😀', 'multi\nline', X'00FF00', '9999-12-31',"
    " '2038-01-19 03:14:08.000001', 5)",
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "(4, 0, 0, 0, 0, 0, 0, 0, 0, 0, ' ', 'q''uote', zeroblob(70000), '2000-02-29',"
    " '2000-01-01 00:00:00', '')",
]

#: the documented lossy results (docs/type-mapping.md): (source, target, column) -> mapping of
#: the source's canonical value to the target's
LOSSY: dict[tuple[str, str, str], dict[str | None, str | None]] = {
    ("postgres", "mysql", "f4"): {"nan": None, "inf": None, "-inf": None},
    ("postgres", "mysql", "f8"): {"nan": None, "inf": None, "-inf": None},
    ("postgres", "mysql", "ts"): {
        "infinity": "9999-12-31 23:59:59.999999",
        "-infinity": "0001-01-01 00:00:00.000000",
    },
    ("postgres", "sqlite", "f4"): {"nan": None},
    ("postgres", "sqlite", "f8"): {"nan": None},
    **duckdb_fidelity.LOSSY,
}

#: an integer column of each source table, changed on the target to prove checksum sees it
CHANGED = {"postgres": "i32", "mysql": "i32", "sqlite": "i", "duckdb": "i32"}

# ---------------------------------------------------------------------------------- databases


class Databases:
    """Fresh, empty databases of each engine."""

    def __init__(self, pg: Callable[[], str], my: Callable[[], str], tmp: Path) -> None:
        self.pg, self.my, self.tmp = pg, my, tmp

    def new(self, engine: str) -> dict[str, Any]:
        if engine == "postgres":
            return endpoint("postgres", self.pg())
        if engine == "mysql":
            return endpoint("mysql", self.my())
        if engine == "duckdb":
            return duckdb_fidelity.endpoint(self.tmp / f"{uuid.uuid4().hex[:10]}.duckdb")
        return endpoint("sqlite", self.tmp / f"{uuid.uuid4().hex[:10]}.db")


@pytest.fixture(scope="module")
def dbs(
    pg_dbs: Callable[[], str], my_dbs: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Databases:
    return Databases(pg_dbs, my_dbs, tmp_path_factory.mktemp("fidelity"))


def run_sql(ep: dict[str, Any], statements: list[str]) -> None:
    """Run raw SQL on an endpoint (test setup, not through dmt)."""
    if ep["type"] == "duckdb":
        duckdb_fidelity.run_sql(ep["path"], statements)
    elif ep["type"] == "sqlite":
        c = sqlite3.connect(ep["path"])
        for sql in statements:
            c.execute(sql)
        c.commit()
        c.close()
    elif ep["type"] == "postgres":
        import psycopg

        with psycopg.connect(dbname=ep["database"], **PG) as pc:
            for sql in statements:
                pc.execute(sql)
    else:
        import pymysql

        mc = pymysql.connect(database=ep["database"], charset="utf8mb4", **MY)  # type: ignore[arg-type]
        with mc.cursor() as cur:
            cur.execute("SET SESSION sql_mode = 'STRICT_ALL_TABLES', time_zone = '+00:00'")
            for sql in statements:
                cur.execute(sql)
        mc.commit()
        mc.close()


def read(
    ep: Endpoint, table: str, kinds: list[str] | None = None
) -> tuple[list[str], list[str], list]:
    """(column names, kinds used, canonical rows by id) through dmt's dialect; ``kinds``
    default to the table's own."""
    d = get_dialect(ep, "source")
    conn = d.connect()
    try:
        t = d.reflect(conn, table.__eq__).tables[0]
        decs = d.decoders(t, ValueCounters())
        use = kinds or [c.type.kind for c in t.columns]
        rows = []
        with d.stream(conn, d.select_sql(t, t.primary_key, False, False), []) as fetch:
            while batch := fetch(100):
                rows.extend(batch)
        out = []
        for r in rows:
            vals = [f(v) if f and v is not None else v for f, v in zip(decs, r, strict=True)]
            out.append(tuple(canonical(v, k) for v, k in zip(vals, use, strict=True)))
        return t.column_names, use, out
    finally:
        conn.close()


SOURCES: dict[str, tuple[str, list[str]]] = {
    "postgres": (PG_DDL, PG_ROWS),
    "mysql": (MY_DDL, MY_ROWS),
    "sqlite": (SQLITE_DDL, SQLITE_ROWS),
    "duckdb": (duckdb_fidelity.DDL, duckdb_fidelity.ROWS),
}


@pytest.fixture(scope="module")
def sources(dbs: Databases) -> dict[str, dict[str, Any]]:
    """One filled fidelity table per engine."""
    out = {}
    for engine, (ddl, rows) in SOURCES.items():
        ep = dbs.new(engine)
        run_sql(ep, [ddl, *(f"INSERT INTO fidelity VALUES {r}" for r in rows)])
        out[engine] = ep
    return out


def config(src: dict[str, Any], dst: dict[str, Any], state: Path) -> Any:
    return build_config(
        {
            "source": src,
            "target": dst,
            "migration": {"state_dir": str(state), "chunk_size": 1000, "validate": "checksum"},
            "ai": {"provider": "none"},
        }
    )


@pytest.mark.parametrize(
    ("src", "dst"), ALL_DIRECTIONS, ids=[f"{s}->{t}" for s, t in ALL_DIRECTIONS]
)
def test_every_value_survives(
    src: str, dst: str, sources: dict[str, dict[str, Any]], dbs: Databases, tmp_path: Path
) -> None:
    target = dbs.new(dst)
    cfg = config(sources[src], target, tmp_path)
    result = execute(cfg)
    assert result.status == "success"  # the checksum validation of the run passed
    names, kinds, want = read(cfg.source, "fidelity")
    got_names, _, got = read(cfg.target, "fidelity", kinds)
    assert got_names == names
    assert len(got) == len(want) == len(SOURCES[src][1])
    for row_w, row_g in zip(want, got, strict=True):
        for name, w, g in zip(names, row_w, row_g, strict=True):
            expected = LOSSY.get((src, dst, name), {}).get(w, w)
            assert g == expected, f"{src}->{dst} id={row_w[0]} column {name}: {w!r} became {g!r}"

    # a real difference is found: a value the copy converted lossily (NaN -> NULL, id 4)
    # changed on the target, then one it carried exactly (id 2); the first in key order is named
    if (src, dst, "f8") in LOSSY:
        run_sql(target, ["UPDATE fidelity SET f8 = 1 WHERE id = 4"])
        with pytest.raises(ValidationMismatch, match=r"different values; first key \(4\)"):
            validate_target(cfg, "checksum")
    run_sql(target, [f"UPDATE fidelity SET {CHANGED[src]} = 7 WHERE id = 2"])
    with pytest.raises(ValidationMismatch, match=r"table `fidelity`: .*first key \(2\)"):
        validate_target(cfg, "checksum")
