"""The PostgreSQL -> PostgreSQL binary COPY pass-through: chosen only for types whose bytes mean
the same on both sides, exact across chunk and batch borders, empty ranges included."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from dmt.config import build_config
from dmt.run import execute
from tests.conftest import PG, endpoint


@pytest.fixture(scope="module")
def dbs(pg_db: str) -> tuple[str, str]:
    target = f"{pg_db}_dst"
    with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
        admin.execute(f'CREATE DATABASE "{target}"')
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as c:
        c.execute(
            "CREATE TABLE wide (id int PRIMARY KEY, s smallint, b bigint, ok boolean, r real, "
            "d double precision, n numeric(38,10), nu numeric, vc varchar(20), ch char(3), t text, "
            "by bytea, dt date, tm time(3), ts timestamp, tz timestamptz, iv interval, u uuid, "
            "j json, jb jsonb, arr int[]);"
            # 2999 rows with gaps: chunk and batch borders fall everywhere, one range is empty
            "INSERT INTO wide SELECT g, (g % 30000)::smallint, g::bigint * 3000000000, g % 2 = 0, "
            "g / 3.0, g / 7.0, g / 9.0, g::numeric / 11, 'vc' || g, 'c' || (g % 10), "
            "repeat(chr(1000 + g % 50), g % 40), decode(md5(g::text), 'hex'), "
            "date '1900-01-01' + g, time '12:34:56.789', timestamp '1960-01-01' + g * interval "
            "'1 day 1 second', timestamptz '2040-01-01 00:00:00+02' - g * interval '1 hour', "
            "g * interval '1 minute', md5(g::text)::uuid, json_build_object('k', g, 'ü', '🚀'), "
            "jsonb_build_object('z', g, 'a', null), ARRAY[g, NULL, -g] "
            "FROM generate_series(1, 3500) g WHERE g NOT BETWEEN 1200 AND 1700;"
            "INSERT INTO wide (id) VALUES (100000);"
            "UPDATE wide SET ts = 'infinity', tz = '-infinity', dt = 'infinity' WHERE id = 7;"
            "CREATE TABLE other (id int PRIMARY KEY, addr inet, p point, price money);"
            "INSERT INTO other SELECT g, '10.0.0.1', point(g, -g), g * 1000.25 FROM generate_series(1, 50) g;"
        )
    try:
        yield pg_db, target
    finally:
        with psycopg.connect(dbname="postgres", autocommit=True, **PG) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')


def _digest(db: str, table: str) -> tuple[int, str]:
    with psycopg.connect(dbname=db, **PG) as c:
        row = c.execute(
            f"SELECT count(*), md5(string_agg(t::text, '|' ORDER BY id)) FROM {table} t"
        ).fetchone()
    assert row is not None
    return row[0], row[1]


@pytest.mark.parametrize("chunk_size", [1000, 1001, 50_000])
def test_binary_pass_through_is_exact(
    dbs: tuple[str, str], tmp_path: Path, chunk_size: int
) -> None:
    src, dst = dbs
    cfg = build_config(
        {
            "source": endpoint("postgres", src),
            "target": endpoint("postgres", dst),
            "migration": {"state_dir": str(tmp_path / "s"), "chunk_size": chunk_size,
                          "include_tables": ["wide"], "max_memory_mb": 64,
                          "parallel_readers": 3},
        },
        tmp_path,
    )  # fmt: skip
    result = execute(cfg)
    assert [t.path for t in result.tables] == ["pg-binary-copy"]
    assert result.tables[0].rows == 3000
    assert _digest(src, "wide") == _digest(dst, "wide")


def test_types_without_a_safe_binary_form_take_the_row_path(
    dbs: tuple[str, str], tmp_path: Path
) -> None:
    src, dst = dbs
    cfg = build_config(
        {
            "source": endpoint("postgres", src),
            "target": endpoint("postgres", dst),
            "migration": {"state_dir": str(tmp_path / "s"), "include_tables": ["other"]},
        },
        tmp_path,
    )
    result = execute(cfg)
    assert [t.path for t in result.tables] == ["rows"]
    assert result.tables[0].rows == 50
    # money is read as numeric: exact, whatever the server's lc_monetary formatting
    with psycopg.connect(dbname=src, **PG) as c:
        want = c.execute("SELECT array_agg(price::numeric ORDER BY id) FROM other").fetchone()
    with psycopg.connect(dbname=dst, **PG) as c:
        got = c.execute("SELECT array_agg(price::numeric ORDER BY id) FROM other").fetchone()
    assert want == got and got is not None and got[0][-1] == Decimal("50012.50")


def test_stopping_mid_chunk_leaves_the_connection_usable(
    dbs: tuple[str, str], tmp_path: Path
) -> None:
    # Ctrl-C between two batches: the COPY is cancelled, so the connection answers the next
    # command (a COPY left running would look like a lost connection: exit 2, not 5)
    from dmt.dialects.base import get_dialect
    from dmt.model.job import TableJob
    from dmt.model.ranges import Chunk
    from dmt.paths.pg_binary import PgCopyPath
    from dmt.run import make_plan

    src, dst = dbs
    cfg = build_config(
        {"source": endpoint("postgres", src), "target": endpoint("postgres", dst),
         "migration": {"state_dir": str(tmp_path / "s"), "include_tables": ["wide"]}},
        tmp_path,
    )  # fmt: skip
    plan = make_plan(cfg)
    (table,) = plan.tables
    path = PgCopyPath(plan.source, plan.target)
    job = TableJob(table.source, table.target, table.source.primary_key)
    conn = get_dialect(cfg.source, "source").connect()
    try:
        batches = list(
            path.read(conn, job, Chunk("wide", 0, None, None), 100, 1 << 30, lambda: True)
        )
        assert [n for _, n, _, _ in batches] == [100]  # the first batch, then nothing
        assert conn.execute("SELECT count(*) FROM wide").fetchone() == (3000,)
    finally:
        conn.close()


def test_copy_out_reads_every_row_and_reports_server_errors(dbs: tuple[str, str]) -> None:
    # the libpq-level COPY reader: every row message once, in runs of `step`; an error the
    # server raises mid-stream arrives as psycopg's exception, and the connection recovers
    from dmt.paths.pg_copy import copy_out

    src, _ = dbs
    with psycopg.connect(dbname=src, **PG) as conn:
        sql = "COPY (SELECT g, %s FROM generate_series(1, 1000) g) TO STDOUT"
        runs = list(copy_out(conn, sql, ["x%y"], step=300))
        assert [len(r) for r in runs] == [300, 300, 300, 100]
        lines = [bytes(m) for r in runs for m in r]
        assert lines[0] == b"1\tx%y\n" and lines[-1] == b"1000\tx%y\n"
        bad = "COPY (SELECT 10 / (500 - g) FROM generate_series(1, 100000) g) TO STDOUT"
        with pytest.raises(psycopg.errors.DivisionByZero):
            list(copy_out(conn, bad, []))
        conn.rollback()
        with pytest.raises(psycopg.errors.UndefinedTable):
            list(copy_out(conn, "COPY missing_table TO STDOUT", []))
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM wide").fetchone() == (3000,)
