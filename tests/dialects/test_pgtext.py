"""The PostgreSQL -> MySQL text pass-through (``pg-text-load-data``): chosen only for columns whose
PostgreSQL text form reaches MySQL as the row path's value would; a chunk holding a value the row
path converts (±infinity, NaN) takes the row path; what MySQL cannot hold fails, never truncated.

Each copy is run twice, through the text path and through the row path, and the two MySQL
tables must be equal value for value (``repr``, so ``-0.0`` and trailing spaces count); the
source database has DateStyle ``SQL, DMY``, so the text path must not depend on ISO output.
"""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg
import pymysql
import pytest
import yaml

from dmt.config import build_config
from dmt.dialects.mysql import MySQLDialect
from dmt.errors import TransferError
from dmt.model.job import TableJob
from dmt.model.ranges import Chunk
from dmt.paths.pg_text import PgTextPath, choose_text, mysql_escapes
from dmt.report import RunResult
from dmt.run import execute, make_plan
from tests.conftest import MY, PG, endpoint
from tests.support.compare import assert_same_table

NASTY_TEXT = [
    "\f", "\v", "\\f", "\\v", "\\\f", "a\\\\f", "tab\there", "line\nbreak", "cr\rlf\r\n", "\\",
    "\\\\", "\\N", "N", "NULL", "\\0", "\\Z", "'quote\"", "😀 𝄞 ünï", "", " ", "trailing  ",
    "\b\x01\x1a\x7f", "é\\tnot a tab", "\\.", ".", "%s %% %",
]  # fmt: skip

TABLES = """
CREATE TABLE nasty (
  id integer PRIMARY KEY, b boolean, i16 smallint, i32 integer, i64 bigint,
  n numeric(30,10), nfree numeric, f4 real, f8 double precision,
  c char(5), vc varchar(40), t text, d date, ts timestamp(6), ts3 timestamp(3), "pct%" text
);
CREATE TABLE spiky (id bigint PRIMARY KEY, ts timestamp, d date, f8 double precision,
                    f4 real, n numeric(12,2), t text);
CREATE TABLE toolong (id int PRIMARY KEY, t text);
CREATE TABLE toowide (id int PRIMARY KEY, nfree numeric);
CREATE TABLE bc (id int PRIMARY KEY, d date);
CREATE TYPE mood AS ENUM ('ok', 'meh');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE nokey (id int, t text);
"""
#: one table `ex_<name>` each: (id int PRIMARY KEY, v <type>)
EXCLUDED = {
    "bytea": "bytea", "timestamptz": "timestamptz", "time": "time", "timetz": "timetz",
    "interval": "interval", "json": "json", "jsonb": "jsonb", "uuid": "uuid",
    "int_array": "int[]", "text_array": "varchar(3)[]", "money": "money", "inet": "inet",
    "point": "point", "enum": "mood", "domain": "posint", "bit": "bit(3)", "xml": "xml",
}  # fmt: skip


def _nasty_rows(c: psycopg.Connection[Any]) -> None:
    floats = [0.1, 1 / 3, 1e-300, 5e-324, 1.7976931348623157e308, 100000.0, 1e15, 1e16,
              123456789.123456789, -2.5e-7]  # fmt: skip
    # MySQL sends a FLOAT with 6 digits, so the comparison with the source stays within them;
    # the text and row paths are compared in full (CAST AS DOUBLE), here and in `spiky`
    reals = ["0.1", "3.4e38", "1.17549e-38", "123456", "-2.5", "1e-05"]
    nums = ["12345678901234567890.1234567890", "-0.0000000001", "0", "-99999999999999999999"]
    nfree = ["1.5", "12345678901234567890123456789012345.123456789012345678901234567890", "-0.5"]
    stamps = ["2000-01-01 00:00:00.000001", "1999-12-31 23:59:59.999999", "0001-01-01 00:00:00",
              "9999-12-31 23:59:59.999999", "1970-01-01 00:00:00.5", "2038-01-19 03:14:08"]  # fmt: skip
    dates = ["0001-01-01", "9999-12-31", "2000-02-29", "1000-01-01", "0999-12-31"]
    rows = []
    for i in range(1, 3001):
        text = NASTY_TEXT[i % len(NASTY_TEXT)] + (str(i) if i % 3 == 0 else "")
        rows.append(
            (i, i % 2 == 0, (i * 7) % 65536 - 32768, i * 1000003 - 2**31, i * 3_000_000_007,
             nums[i % len(nums)], nfree[i % len(nfree)], reals[i % len(reals)],
             floats[i % len(floats)], NASTY_TEXT[(i + 1) % len(NASTY_TEXT)][:5],
             text[:40], text * (i % 4), dates[i % len(dates)], stamps[i % len(stamps)],
             stamps[i % len(stamps)][:23], NASTY_TEXT[(i + 2) % len(NASTY_TEXT)])
        )  # fmt: skip
    rows.append((3001,) + (None,) * 15)  # NULL in every column
    rows.append((3002, False, 0, 0, 0, "0", "0", "0", "0", "", "", "", "2000-01-01",
                 "2000-01-01", "2000-01-01", ""))  # fmt: skip
    with c.cursor() as cur:
        cur.executemany(
            "INSERT INTO nasty VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "%s, %s)",
            rows,
        )


@pytest.fixture(scope="module")
def src(pg_db: str) -> str:
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as c:
        c.execute(TABLES)
        for name, sql_type in EXCLUDED.items():
            c.execute(f"CREATE TABLE ex_{name} (id int PRIMARY KEY, v {sql_type})")
        _nasty_rows(c)
        c.execute(
            # 5000 rows, five chunks of 1000; only chunk 2 (2000, 3000] holds what MySQL lacks
            "INSERT INTO spiky SELECT g, timestamp '2001-02-03 04:05:06.789' + g * interval "
            "'1.000001 second', date '1990-01-01' + g, g / 7.0, g / 3.0, g / 9.0, 'row ' || g "
            "FROM generate_series(1, 5000) g;"
            "UPDATE spiky SET ts = 'infinity', f8 = 'NaN' WHERE id = 2500;"
            "UPDATE spiky SET f8 = '-0', f4 = '-0', n = '-0' WHERE id = 10;"
            "UPDATE spiky SET d = '-infinity', n = 'NaN', f4 = '-Infinity' WHERE id = 2600;"
            "UPDATE spiky SET ts = '-infinity', f8 = 'Infinity' WHERE id = 2999;"
            "INSERT INTO toolong VALUES (1, 'short'), (2, 'much too long for five');"
            "INSERT INTO toowide VALUES (1, 1), (2, 1e40);"
            "INSERT INTO bc VALUES (1, '2000-01-01'), (2, '0044-03-15 BC');"
            "INSERT INTO nokey VALUES (1, 'x');"
            # the text path must spell dates as the row path does, whatever the session says
            f"ALTER DATABASE \"{pg_db}\" SET DateStyle = 'SQL, DMY'"
        )
    return pg_db


def _config(
    src: str, dst: str, state: Path, tables: list[str], overrides: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "source": endpoint("postgres", src),
        "target": endpoint("mysql", dst),
        "migration": {"state_dir": str(state), "chunk_size": 1000, "include_tables": tables,
                      "validate": "count", "max_memory_mb": 64, "parallel_readers": 2},
        "ai": {"provider": "none"},
        "type_overrides": {"columns": overrides or {}},
    }  # fmt: skip


def _run(src: str, dst: str, tmp: Path, tables: list[str], *, text: bool, **kw: Any) -> RunResult:
    """Copy ``tables`` through the text path (as dmt.paths.choose picks it), or through the
    row path alone."""
    raw = _config(src, dst, tmp / f"state-{text}", tables, **kw)
    if not text:
        raw["migration"]["data_path"] = "rows"
    return execute(build_config(raw, tmp))


def _mysql_rows(db: str, table: str) -> list[tuple[str, ...]]:
    """Every row, every value as its repr; a FLOAT also as the double it holds."""
    conn = pymysql.connect(database=db, charset="utf8mb4", **MY)  # type: ignore[arg-type]
    extra = ", CAST(f4 AS DOUBLE)" if table in ("nasty", "spiky") else ""
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT *{extra} FROM `{table}` ORDER BY id")
            return [tuple(repr(v) for v in row) for row in cur.fetchall()]
    finally:
        conn.close()


@pytest.fixture
def two_targets(my_dbs: Callable[[], str]) -> tuple[str, str]:
    return my_dbs(), my_dbs()


def test_every_safe_type_arrives_as_the_row_path_delivers_it(
    src: str, two_targets: tuple[str, str], tmp_path: Path
) -> None:
    text_db, rows_db = two_targets
    got = _run(src, text_db, tmp_path, ["nasty"], text=True)
    want = _run(src, rows_db, tmp_path, ["nasty"], text=False)
    assert [t.path for t in got.tables] == ["pg-text-load-data"]
    assert [t.path for t in want.tables] == ["rows"]
    assert got.tables[0].rows == want.tables[0].rows == 3002
    assert got.value_conversions == want.value_conversions == {}
    text_rows, row_rows = _mysql_rows(text_db, "nasty"), _mysql_rows(rows_db, "nasty")
    assert len(text_rows) == 3002
    for a, b in zip(text_rows, row_rows, strict=True):
        assert a == b
    cfg = build_config(_config(src, text_db, tmp_path, ["nasty"]), tmp_path)
    assert_same_table(cfg.source, cfg.target, "nasty")
    # the escapes MySQL reads differently, as stored bytes
    conn = pymysql.connect(database=text_db, charset="utf8mb4", **MY)  # type: ignore[arg-type]
    with conn.cursor() as cur:
        cur.execute("SELECT DISTINCT HEX(`pct%`) FROM nasty WHERE id BETWEEN 1 AND 100")
        stored = {bytes.fromhex(h).decode() for (h,) in cur.fetchall()}
    conn.close()
    assert set(NASTY_TEXT) <= stored


def test_a_chunk_with_values_the_row_path_converts_takes_the_row_path(
    src: str, two_targets: tuple[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text_db, rows_db = two_targets
    caplog.set_level(logging.DEBUG, logger="dmt")
    got = _run(src, text_db, tmp_path, ["spiky"], text=True)
    fell_back = [r.getMessage() for r in caplog.records if "row path (" in r.getMessage()]
    want = _run(src, rows_db, tmp_path, ["spiky"], text=False)
    assert [t.path for t in got.tables] == ["pg-text-load-data"]
    assert got.tables[0].rows == 5000
    # one chunk of five fell back, and said why
    assert len(fell_back) == 1 and "chunk 2 (2000, 3000]" in fell_back[0], fell_back
    assert got.value_conversions == want.value_conversions == {
        "infinity->max_timestamp": 1, "-infinity->min_timestamp": 1,
        "-infinity->min_date": 1, "nonfinite_float->null": 3, "nonfinite_decimal->null": 1,
    }  # fmt: skip
    assert _mysql_rows(text_db, "spiky") == _mysql_rows(rows_db, "spiky")
    conn = pymysql.connect(database=text_db, **MY)  # type: ignore[arg-type]
    with conn.cursor() as cur:
        cur.execute("SELECT id, ts, d, f8, f4, n FROM spiky WHERE id IN (2500, 2600, 2999)")
        by_id = {r[0]: r[1:] for r in cur.fetchall()}
    conn.close()
    assert str(by_id[2500][0]) == "9999-12-31 23:59:59.999999" and by_id[2500][2] is None
    assert str(by_id[2600][1]) == "0001-01-01" and by_id[2600][3:] == (None, None)
    assert str(by_id[2999][0]) == "0001-01-01 00:00:00" and by_id[2999][2] is None


def test_target_without_local_infile_takes_the_row_path(
    src: str, my_dbs: Callable[[], str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="dmt")
    db = my_dbs()
    with mock.patch.object(MySQLDialect, "local_infile_usable", return_value=False):
        result = _run(src, db, tmp_path, ["spiky"], text=True)
    assert result.tables[0].rows == 5000
    reasons = [
        r.getMessage() for r in caplog.records if "refuses LOAD DATA LOCAL" in r.getMessage()
    ]
    assert len(reasons) == 5  # every chunk
    assert result.value_conversions["nonfinite_float->null"] == 3


@pytest.mark.parametrize(
    ("table", "overrides", "message"),
    [
        ("toolong", {"toolong.t": "varchar(5)"}, "1265: Data truncated for column 't' at row 2"),
        ("toowide", {}, "1264: Out of range value for column 'nfree' at row 2"),
    ],
    ids=["text-too-long", "numeric-too-wide"],
)
def test_a_value_mysql_cannot_hold_fails_the_run(
    src: str, my_dbs: Callable[[], str], tmp_path: Path, table: str, overrides: dict[str, str],
    message: str,
) -> None:  # fmt: skip
    db = my_dbs()
    raw = _config(src, db, tmp_path / "state", [table], overrides=overrides)
    plan = make_plan(build_config(raw, tmp_path))
    assert isinstance(choose_text(plan.source, plan.target, plan.tables[0]), PgTextPath)
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    r = subprocess.run(
        [sys.executable, "-m", "dmt", "run", "-c", str(cfg_path), "--output-json"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert r.returncode == 3, r.stderr
    out = json.loads(r.stdout)
    assert out["exit_code"] == 3
    assert f"`{table}`" in out["error"] and message in out["error"], out["error"]
    assert _mysql_rows(db, table) == []  # the batch was rolled back, nothing truncated


def test_values_the_row_path_cannot_read_fail_the_same_way(
    src: str, my_dbs: Callable[[], str], tmp_path: Path
) -> None:
    errors = []
    for text in (True, False):
        with pytest.raises(TransferError) as info:
            _run(src, my_dbs(), tmp_path, ["bc"], text=text)
        errors.append(str(info.value))
    assert errors[0] == errors[1] and "`bc`" in errors[0]


def _plans(src: str, dst: str, tmp: Path, tables: list[str], **kw: Any) -> dict[str, Any]:
    plan = make_plan(build_config(_config(src, dst, tmp, tables, **kw), tmp))
    return {p.source.name: (plan.source, plan.target, p) for p in plan.tables}


@pytest.fixture(scope="module")
def excluded_plans(
    src: str, my_db: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    return _plans(src, my_db, tmp_path_factory.mktemp("ex"), [f"ex_{n}" for n in EXCLUDED])


@pytest.mark.parametrize("name", list(EXCLUDED))
def test_a_column_without_an_exact_text_form_is_not_chosen(
    excluded_plans: dict[str, Any], name: str
) -> None:
    assert choose_text(*excluded_plans[f"ex_{name}"]) is None


def test_which_tables_are_chosen(
    src: str, my_db: str, pg_dbs: Callable[[], str], tmp_path: Path
) -> None:
    plans = _plans(src, my_db, tmp_path, ["nasty", "spiky", "nokey", "toolong"])
    assert isinstance(choose_text(*plans["nasty"]), PgTextPath)
    assert isinstance(choose_text(*plans["spiky"]), PgTextPath)
    assert choose_text(*plans["nokey"]) is None  # no primary key
    # a float or timestamp spelled into a column that keeps the spelling: not the same value
    for col in ("spiky.f8", "spiky.ts"):
        forced = _plans(src, my_db, tmp_path, ["spiky"], overrides={col: "varchar(64)"})
        assert choose_text(*forced["spiky"]) is None, col
    # PostgreSQL -> PostgreSQL is the binary path's business
    pg = build_config(
        {"source": endpoint("postgres", src), "target": endpoint("postgres", pg_dbs()),
         "migration": {"state_dir": str(tmp_path / "pg"), "include_tables": ["nasty"]}},
        tmp_path,
    )  # fmt: skip
    p = make_plan(pg)
    assert choose_text(p.source, p.target, p.tables[0]) is None


def test_stopping_mid_chunk_cancels_the_copy(src: str, my_db: str, tmp_path: Path) -> None:
    s, t, plan = _plans(src, my_db, tmp_path, ["spiky"])["spiky"]
    path = choose_text(s, t, plan)
    assert isinstance(path, PgTextPath)
    job = TableJob(plan.source, plan.target, plan.source.primary_key)
    conn = s.connect()
    try:
        batches = list(
            path.read(conn, job, Chunk("spiky", 0, (3000,), None), 500, 1 << 20, lambda: True)
        )
        assert [n for _, n, _, _ in batches] == [500]  # the first batch, then nothing
        assert conn.execute("SELECT count(*) FROM spiky").fetchone() == (5000,)
    finally:
        conn.close()


# ------------------------------------------------------------------ the escape rewrite


def _pg_escape(s: str) -> bytes:
    """A field as PostgreSQL's text COPY writes it."""
    table = {"\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
             "\v": "\\v"}  # fmt: skip
    return "".join(table.get(ch, ch) for ch in s).encode()


def _mysql_unescape(field: bytes) -> bytes:
    """A field as LOAD DATA ... ESCAPED BY '\\\\' reads it."""
    known = {b"0": b"\0", b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"Z": b"\x1a"}
    out, i = bytearray(), 0
    while i < len(field):
        if field[i : i + 1] == b"\\" and i + 1 < len(field):
            nxt = field[i + 1 : i + 2]
            out += known.get(nxt, nxt)
            i += 2
        else:
            out += field[i : i + 1]
            i += 1
    return bytes(out)


def test_mysql_escapes() -> None:
    assert mysql_escapes(b"a\\fb\\vc\n") == b"a\x0cb\x0bc\n"
    assert mysql_escapes(b"\\\\f\\\\v\\\\\\f") == b"\\\\f\\\\v\\\\\x0c"
    assert mysql_escapes(b"\\t\\n\\r\\b\\N") == b"\\t\\n\\r\\b\\N"
    plain = b"nothing to do\n"
    assert mysql_escapes(plain) is plain
    rng = random.Random(7)
    alphabet = "\\fvbnrtN0Z\f\v\b\n\r\t x😀"
    for _ in range(2000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert _mysql_unescape(mysql_escapes(_pg_escape(s))) == s.encode(), repr(s)
