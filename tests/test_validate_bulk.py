"""Checksum validation's fast paths: Arrow reads on both sides compared column by column (bulk),
or a digest each server computes (PostgreSQL -> PostgreSQL).

A table of every kind the bulk path compares travels SQLite -> PostgreSQL -> MariaDB -> SQLite,
so each engine is once the source and once the target, and PostgreSQL -> PostgreSQL. Each copy
validates on its fast path alone; a changed value, a missing row and an extra row on each target are then found and named
as the exact path names them. A value the bulk path cannot compare exactly (a PostgreSQL
``infinity`` timestamp) sends its chunk, and only it, to the exact path, which finds it equal.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
import yaml

from tests.conftest import MY, PG, endpoint
from tests.support.killing import run_cli

ROWS = 3000
KINDS = {"sqlite": "sqlite", "pg": "postgres", "my": "mysql"}
DIRECTIONS = ["sqlite-pg", "pg-my", "my-sqlite", "pg-pg"]
#: the fast path each direction takes: one engine with the same types digests on the server
PATHS = {"pg-pg": "digest"}


def _sql(engine: str, db: str | Path, *sql: str) -> None:
    if engine == "pg":
        with psycopg.connect(dbname=str(db), autocommit=True, **PG) as c:  # type: ignore[arg-type]
            for s in sql:
                c.execute(s)  # type: ignore[arg-type]
    elif engine == "my":
        c = pymysql.connect(database=str(db), autocommit=True, charset="utf8mb4", **MY)  # type: ignore[arg-type]
        try:
            with c.cursor() as cur:
                for s in sql:
                    cur.execute(s)
        finally:
            c.close()
    else:
        lite = sqlite3.connect(db)
        try:
            for s in sql:
                lite.execute(s)
            lite.commit()
        finally:
            lite.close()


def _config(
    tmp: Path, name: str, src: tuple[str, Any], dst: tuple[str, Any], table: str = "t"
) -> Path:
    raw = {
        "source": endpoint(KINDS[src[0]], src[1]),
        "target": endpoint(KINDS[dst[0]], dst[1]),
        "migration": {"state_dir": str(tmp / f"state-{name}"), "chunk_size": 1000,
                      "validate": "checksum", "include_tables": [table]},
        "ai": {"provider": "none"},
    }  # fmt: skip
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def chain(
    pg_db: str, my_db: str, pg_dbs: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, str, Any]]:
    """direction -> (config, target engine, target database), each copy already validated."""
    tmp = tmp_path_factory.mktemp("bulk")
    src, last = tmp / "src.db", tmp / "last.db"
    _sql(
        "sqlite", src,
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, f REAL, s VARCHAR(20), x TEXT, "
        "d DATE, ts DATETIME, b BLOB)",
        "WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 3000) "
        "INSERT INTO t SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE i * 1000003 - 5 END, "
        "i / 7.0 - 100, 's' || i, CASE WHEN i % 5 = 0 THEN NULL ELSE 'tëxt ' || i || "
        "char(9) || '\\' END, date('2001-02-03', '+' || i || ' days'), "
        "datetime('2020-01-01 00:00:00', '+' || i || ' minutes') || '.123456', "
        "CASE WHEN i % 3 = 0 THEN NULL ELSE randomblob(8) END FROM g",
    )  # fmt: skip
    ends = {"sqlite-pg": (("sqlite", src), ("pg", pg_db)),
            "pg-my": (("pg", pg_db), ("my", my_db)),
            "my-sqlite": (("my", my_db), ("sqlite", last)),
            "pg-pg": (("pg", pg_db), ("pg", pg_dbs()))}  # fmt: skip
    out = {}
    for direction in DIRECTIONS:
        s, d = ends[direction]
        cfg = _config(tmp, direction, s, d)
        r = run_cli("run", "-c", str(cfg), "-v", "debug")
        assert r.returncode == 0, r.stderr
        path = PATHS.get(direction, "bulk")
        assert f"validate: `t` 3 chunk(s) on the {path} path" in r.stderr
        assert "on the exact path" not in r.stderr
        out[direction] = (cfg, d[0], d[1])
    return out


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_bulk_path_finds_changed_missing_and_extra_rows(
    chain: dict[str, tuple[Path, str, Any]], direction: str
) -> None:
    """Chunk bounds come from the source's row estimate: about every 1000 keys."""
    cfg, engine, db = chain[direction]
    _sql(engine, db, "UPDATE t SET s = 'changed' WHERE id = 1500")
    try:
        r = run_cli("validate", "-c", str(cfg), "--mode", "checksum", "-v", "debug")
        assert r.returncode == 4, r.stderr
        assert re.search(
            r"table `t`: content differs in chunk 1 \(\d+, \d+\]: 1 row\(s\) with different "
            r"values; first key \(1500\)\n", r.stderr
        )  # fmt: skip
        why = "the digests differ" if PATHS.get(direction) else "the bulk comparison differs"
        assert f"on the exact path ({why})" in r.stderr
        assert r.stderr.count("on the exact path") == 1  # chunk 0 was equal in bulk
    finally:
        _sql(engine, db, "UPDATE t SET s = 's1500' WHERE id = 1500")
    _sql(engine, db, "UPDATE t SET id = 5000 WHERE id = 2999")
    try:
        r = run_cli("validate", "-c", str(cfg), "--mode", "checksum", "--output-json")
        assert r.returncode == 4, r.stderr
        (found,) = json.loads(r.stdout)["tables"]
        assert re.fullmatch(
            r"table `t`: content differs in chunk 2 \(\d+, \+inf\]: 1 row\(s\) missing on the "
            r"target, 1 extra row\(s\) on the target; first key \(2999\)", found["mismatch"]
        )  # fmt: skip
    finally:
        _sql(engine, db, "UPDATE t SET id = 2999 WHERE id = 5000")
    _sql(engine, db, "UPDATE t SET n = n + 1 WHERE id = 100")
    try:
        r = run_cli("validate", "-c", str(cfg), "--mode", "checksum")
        assert r.returncode == 4
        assert re.search(
            r"table `t`: content differs in chunk 0 \(-inf, \d+\]: 1 row\(s\) with different "
            r"values; first key \(100\)\n", r.stderr
        )  # fmt: skip
    finally:
        _sql(engine, db, "UPDATE t SET n = n - 1 WHERE id = 100")
    assert run_cli("validate", "-c", str(cfg), "--mode", "checksum").returncode == 0


def test_value_the_bulk_path_cannot_compare_takes_the_exact_path(
    pg_db: str, tmp_path: Path
) -> None:
    """PostgreSQL ``infinity`` reaches SQLite as that text: the source's guard column flags
    its chunk, which the exact path finds equal; the other chunks stay on the bulk path."""
    _sql(
        "pg", pg_db,
        "CREATE TABLE inf (id int PRIMARY KEY, ts timestamp, v text)",
        "INSERT INTO inf SELECT g, timestamp '2020-01-01' + g * interval '1 minute', 'v' || g "
        "FROM generate_series(1, 3000) g",
        "UPDATE inf SET ts = 'infinity' WHERE id = 1500",
    )  # fmt: skip
    cfg = _config(tmp_path, "inf", ("pg", pg_db), ("sqlite", tmp_path / "inf.db"), "inf")
    assert run_cli("run", "-c", str(cfg)).returncode == 0
    r = run_cli("validate", "-c", str(cfg), "--mode", "checksum", "-v", "debug")
    assert r.returncode == 0, r.stderr
    assert (
        "validate: `inf` chunk 1 (1000, 2000] on the exact path (a value on the source the row "
        "path converts)" in r.stderr
    )
    assert r.stderr.count("on the exact path") == 1
    assert "validate: `inf` 3 chunk(s) on the bulk path" in r.stderr


PG_TYPED = """
CREATE TABLE typed (id bigint PRIMARY KEY, n numeric(14,4), f double precision, r real,
  j jsonb, js json, tz timestamptz, iv interval, u uuid, a int[], by bytea, tx text);
INSERT INTO typed SELECT g, g / 3.0, CASE g % 50 WHEN 0 THEN 'NaN' WHEN 1 THEN '-Infinity'
  WHEN 2 THEN '-0' ELSE g / 7.0 END, g / 11.0, jsonb_build_object('k', g, 'a', 'x'),
  json_build_object('z', g, 'a', g % 3)::json, timestamptz '2021-03-04 05:06:07.5+02'
  + g * interval '1 minute', g * interval '1 day 1 second', md5(g::text)::uuid,
  ARRAY[g, NULL, -g], decode(md5(g::text), 'hex'), 'é' || g FROM generate_series(1, 3000) g;
"""


def test_digest_path_over_many_types(pg_dbs: Any, tmp_path: Path) -> None:
    """Between two PostgreSQL databases the servers digest the chunks (numeric, NaN, -0,
    jsonb, json, timestamptz, interval, arrays ...) and nothing falls back; a changed jsonb
    value is then named by the exact path."""
    src, dst = pg_dbs(), pg_dbs()
    _sql("pg", src, PG_TYPED)
    cfg = _config(tmp_path, "typed", ("pg", src), ("pg", dst), "typed")
    r = run_cli("run", "-c", str(cfg), "-v", "debug")
    assert r.returncode == 0, r.stderr
    assert "validate: `typed` 3 chunk(s) on the digest path" in r.stderr
    assert "on the exact path" not in r.stderr
    _sql("pg", dst, "UPDATE typed SET j = j || '{\"k\": 0}' WHERE id = 2500")
    r = run_cli("validate", "-c", str(cfg), "--mode", "checksum")
    assert r.returncode == 4
    assert re.search(
        r"table `typed`: content differs in chunk 2 \(\d+, \+inf\]: 1 row\(s\) with "
        r"different values; first key \(2500\)\n", r.stderr
    )  # fmt: skip
