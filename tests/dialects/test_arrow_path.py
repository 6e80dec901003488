"""The columnar path (connectorx / ADBC -> Arrow -> ADBC ingest) against the exact row path.

Each source engine gets a table of only the kinds the columnar path carries, with edge values,
and one key range holding values the row path converts (a MySQL zero date, SQLite values stored
with another type than declared, PostgreSQL infinities, a NUL character bound for PostgreSQL
text). The same table is migrated to PostgreSQL once on the columnar path and once on the row
path; the targets must be identical, the conversions counted alike, and only the key range with
the odd values may have left the columnar path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dmt.config import Endpoint, build_config
from dmt.run import execute
from tests.test_fidelity import Databases, read, run_sql

ROWS = 3_000  # three chunks of 1000
ODD = (1_200, 1_500, 1_700, 1_900)  # ids in chunk 1 holding values the row path converts

DDL = {
    "postgres": """CREATE TABLE plain (id integer PRIMARY KEY, b boolean, i16 smallint,
        i32 integer, i64 bigint, f8 double precision, c char(4), vc varchar(20), t text,
        bb bytea, dt date, ts timestamp(6))""",
    "mysql": """CREATE TABLE plain (id int PRIMARY KEY, i8 tinyint, i16 smallint, i32 int,
        i64 bigint, u32 int unsigned, f8 double, c char(4), vc varchar(20), t text, bb blob,
        dt date, ts datetime(6))""",
    "sqlite": """CREATE TABLE plain (id INTEGER PRIMARY KEY, b BOOLEAN, i16 SMALLINT,
        i32 INTEGER, i64 BIGINT, f8 REAL, vc VARCHAR(20), t TEXT, bb BLOB, dt DATE,
        ts DATETIME)""",
}

TEXTS = ["", "ünï😀", "tab\there", "line\nbreak\r\n", "back\\slash \\N", 'q\'uote "dq"', " pad "]


def _text(engine: str, s: str) -> str:
    if engine == "mysql":
        s = s.replace("\\", "\\\\")
    return "'" + s.replace("'", "''") + "'"


def _blob(engine: str, b: bytes) -> str:
    return {"postgres": f"'\\x{b.hex()}'::bytea", "mysql": f"x'{b.hex()}'"}.get(
        engine, f"x'{b.hex()}'"
    )


def row(engine: str, i: int) -> str:
    """One row's VALUES literal; ``i`` picks edge values, NULLs and the odd ones."""
    null = i % 11 == 0
    big = 9223372036854775807 if i % 2 else -9223372036854775808
    ints = ["NULL"] * 3 if null else [str((-1) ** i * (i % 32768)), str(i * 7919), str(big)]
    f8s = [1.7976931348623157e308, -0.0, 1 / 3, 5e-324, 1.234567890123e15]
    f8 = "NULL" if null else repr(f8s[i % 5] * (-1) ** i)
    c = "NULL" if null else _text(engine, f"c{i % 100}")
    vc = "NULL" if null else _text(engine, TEXTS[i % len(TEXTS)])
    t = "NULL" if null else _text(engine, TEXTS[(i + 3) % len(TEXTS)] * (1 + i % 50))
    by = "NULL" if null else _blob(engine, bytes([0, 255, i % 256]) * (i % 4))
    dt = "NULL" if null else f"'{1 + i % 9999:04d}-{1 + i % 12:02d}-{1 + i % 28:02d}'"
    ts = "NULL" if null else f"'2038-01-19 03:14:{i % 60:02d}.{i:06d}'"
    if engine == "postgres":
        b = "NULL" if null else ("true" if i % 2 else "false")
        if i in ODD:
            dt, ts = "'infinity'", "'-infinity'"
        return f"({i}, {b}, {', '.join(ints)}, {f8}, {c}, {vc}, {t}, {by}, {dt}, {ts})"
    if engine == "mysql":
        if i == ODD[0]:
            dt, ts = "'0000-00-00'", "'2020-00-00 00:00:00'"
        if i == ODD[1]:
            t = "'nul\\0byte'"
        i8 = "NULL" if null else str(-128 + i % 256)
        u32 = "NULL" if null else str(4294967295 - i)
        return f"({i}, {i8}, {', '.join(ints)}, {u32}, {f8}, {c}, {vc}, {t}, {by}, {dt}, {ts})"
    b = "NULL" if null else str(i % 2)
    if i == ODD[0]:
        # text in an integer column: SQLite's affinity turns '12' into an integer on insert,
        # full-width digits stay text (connectorx refuses them; the row path converts them)
        ints[0] = "'\uff11\uff12'"
    if i == ODD[1]:
        ts = "'2020-01-01T10:00:00'"  # another spelling than the one connectorx parses
    if i == ODD[2]:
        dt = "'2020-01-01 10:00:00'"  # a timestamp in a date column
    if i == ODD[3]:
        t = "x'6e756c006279'"  # a blob in a text column
    return f"({i}, {b}, {', '.join(ints)}, {f8}, {vc}, {t}, {by}, {dt}, {ts})"


@pytest.fixture(scope="module")
def dbs(
    pg_dbs: Callable[[], str], my_dbs: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Databases:
    return Databases(pg_dbs, my_dbs, tmp_path_factory.mktemp("arrow"))


def fill(dbs: Databases, engine: str) -> dict[str, Any]:
    ep = dbs.new(engine)
    values = [row(engine, i) for i in range(1, ROWS + 1)]
    inserts = [
        f"INSERT INTO plain VALUES {', '.join(values[k : k + 500])}" for k in range(0, ROWS, 500)
    ]
    run_sql(ep, [DDL[engine], *inserts])
    return ep


# PostgreSQL -> PostgreSQL takes the binary pass-through when every type is the same on both
# sides: a widened column puts the table on the columnar path (its ADBC reader) instead
WIDEN = {"type_overrides": {"columns": {"plain.i16": "integer", "keylast.v": "varchar(64)"}}}


def migrate(src: dict[str, Any], dst: dict[str, Any], state: Path, data_path: str = "auto") -> Any:
    cfg = build_config(
        {
            **(WIDEN if src["type"] == "postgres" else {}),
            "source": src,
            "target": dst,
            "migration": {
                "state_dir": str(state),
                "chunk_size": 1000,
                "validate": "count",
                "nul_bytes": "strip",
                "data_path": data_path,
                # connectorx reads on connections of its own, outside a run's snapshot
                "consistency": "none",
            },
            "ai": {"provider": "none"},
        }
    )
    return cfg, execute(cfg)


@pytest.mark.parametrize("engine", ["postgres", "mysql", "sqlite"])
def test_columnar_path_lands_what_the_row_path_lands(
    engine: str, dbs: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    src = fill(dbs, engine)
    caplog.set_level(logging.DEBUG, logger="dmt.pipeline")
    cfg, columnar = migrate(src, dbs.new("postgres"), tmp_path / "a")
    assert columnar.status == "success"
    (table,) = columnar.tables
    assert table.path.startswith("arrow"), table.path
    assert table.rows == ROWS
    fallbacks = [r.getMessage() for r in caplog.records if "take the row path" in r.getMessage()]
    assert fallbacks, "the odd values should have sent a key range to the row path"
    assert all("chunk 1 " in m for m in fallbacks), fallbacks

    cfg_rows, rows = migrate(src, dbs.new("postgres"), tmp_path / "b", "no_columnar")
    assert rows.status == "success"
    assert not rows.tables[0].path.startswith("arrow")

    names, kinds, want = read(cfg_rows.target, "plain")
    got_names, _, got = read(cfg.target, "plain", kinds)
    assert got_names == names
    assert len(got) == len(want) == ROWS
    for w, g in zip(want, got, strict=True):
        assert g == w, f"id={w[0]}: row path {w!r}, columnar {g!r}"
    assert columnar.value_conversions == rows.value_conversions
    if engine != "postgres":  # PostgreSQL keeps its infinities: nothing to convert
        assert columnar.value_conversions, "the odd values are counted conversions"
    if engine == "sqlite":  # no guard term for integers: connectorx's refusal sends it over
        assert columnar.value_conversions.get("sqlite_text->int16") == 1


def test_columnar_path_only_for_kinds_it_carries(dbs: Databases, tmp_path: Path) -> None:
    src = dbs.new("postgres")
    run_sql(src, ["CREATE TABLE odd (id integer PRIMARY KEY, n numeric(10,2), ts timestamptz)",
                  "INSERT INTO odd VALUES (1, 1.5, now())",
                  "CREATE TABLE textkey (k text PRIMARY KEY, v integer)",
                  "INSERT INTO textkey VALUES ('a', 1)",
                  "CREATE TABLE keylast (v text, id bigint PRIMARY KEY)",
                  "INSERT INTO keylast SELECT md5(i::text), 10 * i FROM generate_series(1, 2500) i",
                  ])  # fmt: skip
    cfg, result = migrate(src, dbs.new("postgres"), tmp_path)
    assert result.status == "success"
    assert {t.name: t.path for t in result.tables} == {
        "keylast": "arrow (adbc -> adbc ingest)",
        "odd": "pg-binary-copy",
        "textkey": "pg-binary-copy",
    }
    _, _, want = read(cfg.source, "keylast")
    _, _, got = read(cfg.target, "keylast")
    assert got == want and len(got) == 2500


def test_connectorx_calls_do_not_grow_with_the_number_of_key_ranges(
    dbs: Databases, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every connectorx call leaks ~43 KB and three threads in connectorx 0.4.6: once the row
    # width is known, consecutive planned ranges are read as one of at least RANGE_BATCHES
    # batches (min_range_rows), each query streaming RANGE_BATCHES of them, so six 1,000-row
    # ranges of narrow rows cost a few streamed queries, plus a small first batch per reader
    import connectorx

    calls: list[str] = []
    real = connectorx.read_sql

    def counting(conn: Any, query: Any, **kw: Any) -> Any:
        calls.append(kw.get("return_type", ""))
        return real(conn, query, **kw)

    monkeypatch.setattr(connectorx, "read_sql", counting)
    src = dbs.new("sqlite")
    numbers = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000)"
    run_sql(src, [DDL["sqlite"], f"{numbers} INSERT INTO plain (id, t) SELECT i, hex(i) FROM n"])
    _, result = migrate(src, dbs.new("postgres"), tmp_path)
    assert result.tables[0].path.startswith("arrow") and result.tables[0].rows == 6000
    streams = calls.count("arrow_stream")
    # (one stream per reader's first range, then the rest in one range: a query of exactly
    # its LIMIT of rows at the open end of the table takes one more, empty, query)
    assert 1 <= streams <= 4 and len(calls) - streams <= 2, calls


def _sqlite_raw(path: str) -> list[tuple[Any, ...]]:
    """Every value of ``plain`` with its storage class, as SQLite holds it."""
    import sqlite3

    c = sqlite3.connect(path)
    try:
        cols = [r[1] for r in c.execute("PRAGMA table_info(plain)")]
        exprs = ", ".join(f'"{n}", typeof("{n}")' for n in cols)
        return c.execute(f"SELECT {exprs} FROM plain ORDER BY 1").fetchall()
    finally:
        c.close()


def _mysql_raw(ep: Endpoint) -> list[tuple[Any, ...]]:
    """Every value of ``plain`` as MariaDB holds it (raw, no dmt decoding)."""
    import pymysql

    conn = pymysql.connect(
        host=ep.host, port=ep.port or 3306, user=ep.user, password=ep.password or "",
        database=ep.database, charset="utf8mb4",
    )  # fmt: skip
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT * FROM plain ORDER BY 1")
            return list(cur.fetchall())
    finally:
        conn.close()


def _raw(ep: Endpoint) -> list[tuple[Any, ...]]:
    """Every value of ``plain`` as the target holds it (with its storage class in SQLite)."""
    if ep.path is not None:
        return _sqlite_raw(ep.path)
    return _mysql_raw(ep)


# PostgreSQL -> MySQL takes the text pass-through (PostgreSQL's own COPY text), not this path
@pytest.mark.parametrize(
    ("engine", "target", "path"),
    [
        ("postgres", "sqlite", "arrow (adbc -> adbc ingest)"),
        ("mysql", "sqlite", "arrow (connectorx -> adbc ingest)"),
        ("sqlite", "sqlite", "arrow (connectorx -> adbc ingest)"),
        ("mysql", "mysql", "arrow (connectorx -> load data)"),
        ("sqlite", "mysql", "arrow (connectorx -> load data)"),
    ],
    ids=["postgres->sqlite", "mysql->sqlite", "sqlite->sqlite", "mysql->mysql", "sqlite->mysql"],
)
def test_columnar_path_lands_what_the_row_path_lands_into_sqlite_and_mysql(
    engine: str, target: str, path: str, dbs: Databases, tmp_path: Path
) -> None:
    src = fill(dbs, engine)
    cfg, columnar = migrate(src, dbs.new(target), tmp_path / "a")
    assert columnar.status == "success"
    (table,) = columnar.tables
    assert table.path == path, table.path
    assert table.rows == ROWS

    cfg_rows, rows = migrate(src, dbs.new(target), tmp_path / "b", "no_columnar")
    assert rows.status == "success"
    assert not rows.tables[0].path.startswith("arrow")

    want, got = _raw(cfg_rows.target), _raw(cfg.target)
    assert len(got) == len(want) == ROWS
    for w, g in zip(want, got, strict=True):
        assert g == w, f"id={w[0]}: row path {w!r}, columnar {g!r}"
    assert columnar.value_conversions == rows.value_conversions


def test_writes_to_one_sqlite_file_take_turns(tmp_path: Path) -> None:
    # ADBC's SQLite and Python's are two libraries that cannot see each other's locks: every
    # dialect of the same file hands out the same lock, other files and engines do not lock
    from dmt.config import Endpoint
    from dmt.dialects.base import get_dialect

    def lite(name: str) -> Any:
        return get_dialect(Endpoint("sqlite", path=str(tmp_path / name)), "target")

    a, b, other = lite("t.db"), lite("t.db"), lite("u.db")
    assert a.exclusive_writes() is b.exclusive_writes()
    assert a.exclusive_writes() is not other.exclusive_writes()
    held = a.exclusive_writes()
    with held:
        import threading

        got: list[bool] = []
        t = threading.Thread(target=lambda: got.append(b.exclusive_writes().acquire(timeout=0.2)))
        t.start()
        t.join()
        assert got == [False], "a second writer of the same file must wait"
    pg = get_dialect(Endpoint("postgres", host="127.0.0.1", port=5432, database="x"), "target")
    with pg.exclusive_writes(), pg.exclusive_writes():
        pass  # the server arbitrates: no lock
