"""DuckDB's fidelity table for tests/test_fidelity.py: every DuckDB type dmt maps, with edge
values, and the documented lossy results of copying it to the other engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DDL = """
CREATE TABLE fidelity (
  id INTEGER PRIMARY KEY,
  b BOOLEAN, i8 TINYINT, u8 UTINYINT, i16 SMALLINT, u16 USMALLINT, i32 INTEGER, u32 UINTEGER,
  i64 BIGINT, u64 UBIGINT, h HUGEINT, uh UHUGEINT, d38 DECIMAL(38,10), d4 DECIMAL(4,1),
  f4 FLOAT, f8 DOUBLE, vc VARCHAR, bl BLOB, dt DATE, tm TIME, ts TIMESTAMP, tstz TIMESTAMPTZ,
  iv INTERVAL, u UUID, j JSON, e ENUM('a', 'b', 'c d'), l INTEGER[],
  s STRUCT(a INTEGER, b VARCHAR), m MAP(VARCHAR, INTEGER)
)"""
ROWS = [
    "(1, true, -128, 0, -32768, 0, -2147483648, 0, -9223372036854775808, 0,"
    " -170141183460469231731687303715884105728, 0, -9999999999999999999999999999.9999999999,"
    " -999.9, -3.4e38, -1.7976931348623157e308, '', ''::BLOB, '0001-01-01', '00:00:00',"
    " '1969-12-31 23:59:59.999999', '1901-12-13 20:45:52+00', '1 year 2 months 3 days 04:05:06.5',"
    " '00000000-0000-0000-0000-000000000000', '{}', 'a', [], {'a': -1, 'b': ''}, MAP {})",
    "(2, false, 127, 255, 32767, 65535, 2147483647, 4294967295, 9223372036854775807,"
    " 18446744073709551615, 170141183460469231731687303715884105727,"
    " 340282366920938463463374607431768211455, 9999999999999999999999999999.9999999999, 999.9,"
    " 3.4e38, 1.7976931348623157e308, 'ünï😀', '\\x00\\xFF\\x00'::BLOB, '9999-12-31',"
    " '23:59:59.999999', '2038-01-19 03:14:08.000001', '2100-06-15 12:00:00.123456+05:30',"
    " '-1 day -00:00:01', 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11',"
    ' \'{"k": [1, "ü😀", {"z": null}], "a": 1.5}\', \'c d\', [1, NULL, 3],'
    " {'a': 2147483647, 'b': 'ü'}, MAP {'k': 1, 'z': NULL})",
    "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"
    " NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
    "(4, true, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'NaN', 'NaN', ' x ', repeat('ab', 35000)::BLOB,"
    " '1970-01-01', '12:00:00', 'infinity', '1970-01-01 00:00:00+00', '00:00:00',"
    " 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12', '[]', 'b', [-1], {'a': NULL, 'b': NULL}, MAP {})",
    "(5, false, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0.5, 0.5, 'Infinity', '-Infinity',"
    " 'line\nbreak\ttab', ''::BLOB, '2000-02-29', '00:00:00.000001', '-infinity',"
    " '2000-01-01 00:00:00.5-08:00', '1 month', NULL, '\"str\"', NULL, NULL, NULL, NULL)",
]

_NOT_FINITE = {"nan": None, "inf": None, "-inf": None}
#: (source, target, column) -> the source's canonical value -> the target's (docs/type-mapping.md)
LOSSY: dict[tuple[str, str, str], dict[str | None, str | None]] = {
    ("duckdb", "mysql", "f4"): _NOT_FINITE,
    ("duckdb", "mysql", "f8"): _NOT_FINITE,
    ("duckdb", "mysql", "ts"): {
        "infinity": "9999-12-31 23:59:59.999999",
        "-infinity": "0001-01-01 00:00:00.000000",
    },
    ("duckdb", "sqlite", "f4"): {"nan": None},
    ("duckdb", "sqlite", "f8"): {"nan": None},
}


def run_sql(path: str | Path, statements: list[str]) -> None:
    """Run raw SQL on a DuckDB file (test setup, not through dmt)."""
    import duckdb

    conn = duckdb.connect(str(path))
    try:
        for sql in statements:
            conn.execute(sql)
    finally:
        conn.close()


def endpoint(path: str | Path) -> dict[str, Any]:
    return {"type": "duckdb", "path": str(path)}
