"""Validation that proves the copy, and honest exit codes for cron.

Checksum validation compares canonical values chunk by chunk along the source key, across
engines without false alarms, and names the first differing key range of each table: changed
values (which counts miss), missing rows and extra rows, with text keys in a target collation
that orders differently. A failed validation query exits 4 with a clear line. A failed table or
post-load object exits 3 naming it; partial success is never exit 0.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
import yaml

from tests.conftest import MY, PG, endpoint
from tests.support.killing import run_cli

PG_TYPES = """
CREATE TABLE typed (
  id int PRIMARY KEY, s smallint, b bigint, n numeric(14,4), r real, d double precision,
  t text, v varchar(50), ok boolean, ts timestamp(6), tz timestamptz, dd date, tm time(6),
  j jsonb, js json, u uuid, by bytea
);
INSERT INTO typed SELECT g, g % 300, g::bigint * 100000007, g / 3.0, g / 7.0, g / 11.0,
  'text ' || g || repeat('é', g % 5), CASE WHEN g % 9 = 0 THEN NULL ELSE 'v' || g END,
  g % 2 = 0, timestamp '2021-03-04 05:06:07.123456' + g * interval '1 hour',
  timestamptz '2021-03-04 05:06:07.5+02' + g * interval '1 minute', date '2000-01-01' + g,
  time '01:02:03.456789' + g * interval '1 second', jsonb_build_object('k', g, 'a', 'x'),
  json_build_object('z', g, 'a', g % 3)::json, md5(g::text)::uuid, decode(md5(g::text), 'hex')
FROM generate_series(1, 3000) g;
CREATE TABLE words (w varchar(40) PRIMARY KEY, n int);
INSERT INTO words SELECT CASE g % 4 WHEN 0 THEN 'apple' WHEN 1 THEN 'Apple' WHEN 2 THEN 'äpple'
  ELSE 'Zebra' END || '-' || g, g FROM generate_series(1, 3000) g;
"""


@pytest.fixture(scope="module")
def pg_to_mysql(pg_db: str, my_db: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A PostgreSQL database of many types, copied to MariaDB with checksum validation."""
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as c:
        c.execute(PG_TYPES)
    tmp = tmp_path_factory.mktemp("validate")
    raw = {
        "source": endpoint("postgres", pg_db),
        "target": endpoint("mysql", my_db),
        "migration": {"state_dir": str(tmp / "state"), "chunk_size": 1000,
                      "validate": "checksum"},
        "ai": {"provider": "none"},
    }  # fmt: skip
    path = tmp / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    r = run_cli("run", "-c", str(path))
    assert r.returncode == 0, r.stderr  # no false alarm across engines
    return path


def _mysql(db: str, *sql: str) -> None:
    c = pymysql.connect(database=db, autocommit=True, charset="utf8mb4", **MY)  # type: ignore[arg-type]
    try:
        with c.cursor() as cur:
            for s in sql:
                cur.execute(s)
    finally:
        c.close()


def _db(cfg: Path) -> str:
    return str(yaml.safe_load(cfg.read_text())["target"]["database"])


def test_checksum_equal_across_engines(pg_to_mysql: Path) -> None:
    r = run_cli("validate", "-c", str(pg_to_mysql), "--mode", "checksum", "--output-json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["mode"] == "checksum"
    assert {t["table"]: (t["source_rows"], t["target_rows"]) for t in out["tables"]} == {
        "typed": (3000, 3000),
        "words": (3000, 3000),
    }
    assert all(t["chunks"] >= 3 and t["mismatch"] is None for t in out["tables"])


def test_checksum_finds_what_counts_miss(pg_to_mysql: Path) -> None:
    db = _db(pg_to_mysql)
    _mysql(db, "UPDATE typed SET tz = tz + INTERVAL 1 SECOND WHERE id = 1500")
    try:
        assert run_cli("validate", "-c", str(pg_to_mysql), "--mode", "count").returncode == 0
        r = run_cli("validate", "-c", str(pg_to_mysql), "--mode", "checksum")
        assert r.returncode == 4
        assert (
            "table `typed`: content differs in chunk 1 (1000, 2000]: 1 row(s) with different "
            "values; first key (1500)" in r.stderr
        )
        assert "words" not in r.stderr
    finally:
        _mysql(db, "UPDATE typed SET tz = tz - INTERVAL 1 SECOND WHERE id = 1500")


def test_checksum_finds_missing_and_extra_rows_by_key_range(pg_to_mysql: Path) -> None:
    db = _db(pg_to_mysql)
    _mysql(
        db,
        "CREATE TABLE saved AS SELECT * FROM words WHERE w = 'Apple-1001'",
        "DELETE FROM words WHERE w = 'Apple-1001'",
        "DELETE FROM typed WHERE id = 2999",
    )
    try:
        r = run_cli("validate", "-c", str(pg_to_mysql), "--mode", "checksum", "--output-json")
        assert r.returncode == 4
        out = json.loads(r.stdout)
        found = {t["table"]: t["mismatch"] for t in out["tables"]}
        assert found["typed"] == (
            "table `typed`: content differs in chunk 2 (2000, +inf]: 1 row(s) missing on the "
            "target; first key (2999)"
        )
        assert "row(s) missing on the target; first key ('Apple-1001')" in found["words"]
        _mysql(
            db, "INSERT INTO words SELECT * FROM saved", "INSERT INTO words VALUES ('Apple-0', 1)"
        )
        r = run_cli("validate", "-c", str(pg_to_mysql), "--mode", "checksum")
        assert r.returncode == 4
        assert (
            "1 row(s) on the target are not in the source; first extra key ('Apple-0')" in r.stderr
        )
        assert "table `words`: content differs in chunk " in r.stderr
    finally:
        _mysql(db, "DROP TABLE IF EXISTS saved", "DELETE FROM words WHERE w = 'Apple-0'")
        _mysql(db, "INSERT IGNORE INTO typed SELECT * FROM typed WHERE 0")  # keep the schema


def test_failed_validation_query_exits_4(pg_db: str, tmp_path: Path) -> None:
    src = tmp_path / "src.db"
    _sqlite_source(
        src,
        "CREATE TABLE broken (id INTEGER PRIMARY KEY, v TEXT)",
        "INSERT INTO broken VALUES (1, 'a'), (2, 'b')",
    )
    cfg = _config(tmp_path, src, endpoint("postgres", pg_db))
    assert run_cli("run", "-c", str(cfg)).returncode == 0
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as c:
        c.execute("ALTER TABLE broken DROP COLUMN v")
    r = run_cli("validate", "-c", str(cfg), "--mode", "checksum")
    assert r.returncode == 4
    assert (
        "error: validation could not finish: table `broken`: reading chunks on the target "
        'failed: column "v" does not exist' in r.stderr
    )


def _sqlite_source(path: Path, *sql: str) -> None:
    c = sqlite3.connect(path)
    try:
        for s in sql:
            c.execute(s)
        c.commit()
    finally:
        c.close()


def _config(tmp: Path, source: Path, target: dict[str, Any], **migration: Any) -> Path:
    raw = {
        "source": endpoint("sqlite", source),
        "target": target,
        "migration": {"state_dir": str(tmp / "state"), "chunk_size": 1000, **migration},
    }
    path = tmp / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_post_load_foreign_key_failure_exits_3_naming_it(pg_db: str, tmp_path: Path) -> None:
    src = tmp_path / "src.db"
    _sqlite_source(
        src,
        "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
        "CREATE TABLE child (id INTEGER PRIMARY KEY, pid INT, "
        "CONSTRAINT child_parent FOREIGN KEY (pid) REFERENCES parent (id))",
        "INSERT INTO parent VALUES (1), (2)",
        "INSERT INTO child VALUES (1, 1), (2, 2), (3, 99)",  # 99: an orphan
    )
    cfg = _config(tmp_path, src, endpoint("postgres", pg_db))
    r = run_cli("run", "-c", str(cfg), "--output-json")
    assert r.returncode == 3
    # (SQLite keeps no foreign key names: dmt names it after its column)
    assert "error: 1 post-load object(s) failed: foreign key `pid` on `child`:" in r.stderr
    out = json.loads(r.stdout)
    assert (out["status"], out["exit_code"]) == ("failed", 3)
    assert "foreign key `pid` on `child`" in out["error"]
    hist = json.loads(
        run_cli("history", "--state-dir", str(tmp_path / "state"), "--output-json").stdout
    )
    assert [(h["status"], h["phase"]) for h in hist["runs"]] == [("failed", "finalize")]
    # the orphan fixed on the source side is not enough by itself: resume retries the FK
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as c:
        c.execute("INSERT INTO parent VALUES (99)")
    r = run_cli("resume", "-c", str(cfg))
    assert r.returncode == 4  # now the FK exists, and validation sees the extra parent row
    assert "table `parent`: 2 rows in the source, 3 in the target" in r.stderr


def test_failed_table_exits_3_naming_table_and_range(pg_db: str, tmp_path: Path) -> None:
    src = tmp_path / "src.db"
    _sqlite_source(
        src,
        "CREATE TABLE narrow (id INTEGER PRIMARY KEY, code VARCHAR(5))",
        "INSERT INTO narrow VALUES (1, 'abc'), (2, 'far too long for five')",
    )
    cfg = _config(tmp_path, src, endpoint("postgres", pg_db))
    r = run_cli("run", "-c", str(cfg))
    assert r.returncode == 3
    assert "error: table `narrow` chunk 0 (-inf, +inf]:" in r.stderr


def test_append_onto_extra_rows_is_a_mismatch(pg_db: str, tmp_path: Path) -> None:
    src = tmp_path / "src.db"
    _sqlite_source(
        src,
        "CREATE TABLE extra (id INTEGER PRIMARY KEY, v TEXT)",
        "INSERT INTO extra VALUES (1, 'a'), (2, 'b')",
    )
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as c:
        c.execute("CREATE TABLE extra (id bigint PRIMARY KEY, v text)")
        c.execute("INSERT INTO extra VALUES (500, 'left over')")
    for mode, line in (
        ("count", "table `extra`: 2 rows in the source, 3 in the target"),
        ("checksum", "table `extra`: content differs in chunk 0 (-inf, +inf]: 1 extra row(s)"),
    ):
        with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as c:
            c.execute("DELETE FROM extra WHERE id < 500")
        cfg = _config(tmp_path, src, endpoint("postgres", pg_db), target_mode="append",
                      validate=mode)  # fmt: skip
        r = run_cli("run", "-c", str(cfg))
        assert r.returncode == 4, r.stderr
        assert line in r.stderr
