"""Schemas shaped like the public sample databases: every row and every object the target can
hold arrives (issue 23). The Pagila-shaped PostgreSQL schema is in tests/support/pagila.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dmt.config import build_config
from dmt.run import execute
from tests.conftest import MY, PG, endpoint
from tests.support import chinook, employees, pagila
from tests.support.compare import assert_same_table

#: the tables dmt copies (partitions travel with their parent)
TABLES = [
    "actor", "address", "category", "city", "country", "customer", "film", "film_actor",
    "film_category", "inventory", "language", "payment", "promotion", "rental", "staff",
    "staff_contractor", "store",
]  # fmt: skip


#: each Pagila view (translated for another engine) and columns it must answer alike
VIEW_KEYS = {
    "customer_list": "id, name",
    "film_list": "fid, category",
    "sales_by_store": "store_id, CAST(total_sales * 100 AS INTEGER)",
    "rental_by_category": "category, CAST(total_sales * 100 AS INTEGER)",
}


def pg(db: str) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=PG["host"], port=PG["port"], user=PG["user"], dbname=db, autocommit=True
    )


def rows(db: str, sql: str) -> list[tuple[Any, ...]]:
    with pg(db) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture(scope="module")
def pagila_db(pg_dbs: Any) -> str:
    db = pg_dbs()
    with pg(db) as conn:
        pagila.build(conn)
    return str(db)


def migrate(src: str | dict[str, Any], target: dict[str, Any], tmp_path: Path) -> Any:
    """Copy with checksum validation; ``src`` a PostgreSQL database or an endpoint."""
    cfg = build_config(
        {
            "source": endpoint("postgres", src) if isinstance(src, str) else src,
            "target": target,
            "migration": {"state_dir": str(tmp_path / "state"), "validate": "checksum"},
        },
        tmp_path,
    )
    result = execute(cfg)
    assert result.status == "success"
    return cfg, result


def test_pagila_to_postgres_carries_every_object(
    pagila_db: str, pg_dbs: Any, tmp_path: Path
) -> None:
    dst = pg_dbs()
    cfg, result = migrate(pagila_db, endpoint("postgres", dst), tmp_path)
    assert sorted(t.name for t in result.tables) == TABLES
    for t in TABLES:
        assert_same_table(cfg.source, cfg.target, t)
    # the partitioned table and its partitions, each row once
    assert rows(dst, "SELECT pg_get_partkeydef('payment'::regclass)") == [("RANGE (payment_date)",)]
    for part in ("payment_p2022_01", "payment_p2022_02", "payment_p2022_03"):
        sql = f"SELECT count(*) FROM {part}"
        assert rows(dst, sql) == rows(pagila_db, sql)
    assert rows(dst, "SELECT count(*) FROM payment") == [(400,)]
    # the parent of an inheritance child holds only its own rows
    assert rows(dst, "SELECT count(*) FROM staff") == [(2,)]
    # types and domains, with their checks
    enum = "SELECT enum_range(NULL::mpaa_rating)::text"
    assert rows(dst, enum) == rows(pagila_db, enum) == [("{G,PG,PG-13,R,NC-17}",)]
    assert rows(dst, "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = 'film'::regclass AND attname IN ('rating', 'release_year') "
                "ORDER BY attname") == [("mpaa_rating",), ("year",)]  # fmt: skip
    with pytest.raises(psycopg.errors.CheckViolation), pg(dst) as conn:
        conn.execute("UPDATE film SET release_year = 1800 WHERE film_id = 2")
    # views and the materialized view answer the same rows; functions are callable
    for sql in (
        "SELECT * FROM customer_list ORDER BY id",
        "SELECT * FROM film_list ORDER BY fid, category",
        "SELECT * FROM sales_by_store ORDER BY store_id",
        "SELECT * FROM rental_by_category ORDER BY category",
        "SELECT inventory_in_stock(i) FROM generate_series(1, 300) i",
        "SELECT * FROM film_in_stock(5, 1)",
    ):
        assert rows(dst, sql) == rows(pagila_db, sql), sql
    assert rows(dst, "SELECT count(*) FROM rental_by_category") == [(5,)]
    # index methods, partial or not, and triggers: not fired by the load, firing after it
    assert rows(dst, "SELECT indexdef FROM pg_indexes WHERE indexname = 'film_fulltext_idx'") == [
        ("CREATE INDEX film_fulltext_idx ON public.film USING gist (fulltext)",)
    ]
    assert rows(dst, "SELECT fulltext::text FROM film WHERE film_id = 1") == [(pagila.MARKER,)]
    with pg(dst) as conn:
        conn.execute("UPDATE film SET title = 'NEW TITLE' WHERE film_id = 1")
        conn.execute("UPDATE actor SET first_name = 'X' WHERE actor_id = 1")
    fired = "SELECT fulltext @@ 'new & titl'::tsquery, fulltext @@ 'marker'::tsquery FROM film "
    assert rows(dst, fired + "WHERE film_id = 1") == [(True, False)]
    assert rows(dst, "SELECT last_update > now() - interval '1 minute' FROM actor "
                "WHERE actor_id = 1") == [(True,)]  # fmt: skip
    # composite and range types, the generated column, the exclusion constraint, comments
    for sql in (
        "SELECT promotion_id, discount::text, rating_band::text, days FROM promotion ORDER BY 1",
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'x'",
        "SELECT obj_description('promotion'::regclass), col_description('promotion'::regclass, 3)",
        "SELECT extname FROM pg_extension WHERE extname = 'btree_gist'",
    ):
        assert rows(dst, sql) == rows(pagila_db, sql), sql
    # sequences: serials keep their defaults, identities their options, all their values
    seqs = "SELECT * FROM pg_sequences ORDER BY sequencename"
    assert rows(dst, seqs) == rows(pagila_db, seqs)
    defaults = (
        "SELECT attrelid::regclass::text, attname, attidentity, "
        "pg_get_expr(adbin, adrelid) FROM pg_attribute LEFT JOIN pg_attrdef "
        "ON adrelid = attrelid AND adnum = attnum WHERE attnum > 0 AND attrelid IN "
        "(SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace AND "
        "relkind IN ('r', 'p')) ORDER BY 1, 2"
    )
    assert rows(dst, defaults) == rows(pagila_db, defaults)
    # the exclusion constraint holds (after the sequences were compared: it draws a value)
    with pytest.raises(psycopg.errors.ExclusionViolation), pg(dst) as conn:
        conn.execute("INSERT INTO promotion (store_id, during) SELECT store_id, during "
                     "FROM promotion WHERE promotion_id = 1")  # fmt: skip
    # a rerun (drop_recreate) finds the types in place and recreates everything else
    _, again = migrate(pagila_db, endpoint("postgres", dst), tmp_path)
    assert again.rows_transferred == result.rows_transferred
    assert rows(dst, "SELECT count(*) FROM payment") == [(400,)]


def test_pagila_to_sqlite_copies_each_row_once(pagila_db: str, tmp_path: Path) -> None:
    cfg, result = migrate(pagila_db, endpoint("sqlite", tmp_path / "pagila.db"), tmp_path)
    counts = {t.name: t.rows for t in result.tables}
    assert counts["payment"] == 400 and counts["staff"] == 2 and counts["staff_contractor"] == 1
    assert not any(name.startswith("payment_p") for name in counts)
    for t in TABLES:
        assert_same_table(cfg.source, cfg.target, t)
    dst = tmp_path / "pagila.db"
    for view, key in VIEW_KEYS.items():
        sql = f"SELECT {key} FROM {view} ORDER BY 1, 2"
        assert lite_rows(dst, sql) == rows(pagila_db, sql), view


def test_pagila_to_mysql_and_back_to_postgres(
    pagila_db: str, my_dbs: Any, pg_dbs: Any, tmp_path: Path
) -> None:
    mid, back = my_dbs(), pg_dbs()
    cfg, result = migrate(pagila_db, endpoint("mysql", mid), tmp_path / "there")
    assert {t.name: t.rows for t in result.tables}["payment"] == 400
    for t in TABLES:
        assert_same_table(cfg.source, cfg.target, t)
    for view, key in VIEW_KEYS.items():
        sql = f"SELECT {key} FROM {view} ORDER BY 1, 2"
        assert [tuple(r) for r in my_rows(mid, sql)] == rows(pagila_db, sql), view
    # translated defaults hold on MySQL: a new customer gets today's date
    conn = my(mid)
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO customer (store_id, first_name, last_name, address_id) "
                        "VALUES (1, 'New', 'Customer', 1)")  # fmt: skip
            cur.execute("SELECT create_date = CURRENT_DATE, activebool FROM customer "
                        "WHERE first_name = 'New'")  # fmt: skip
            assert cur.fetchall() == ((1, 1),)
            cur.execute("DELETE FROM customer WHERE first_name = 'New'")
    finally:
        conn.close()
    cfg2 = migrate(endpoint("mysql", mid), endpoint("postgres", back), tmp_path)[0]
    for t in TABLES:
        assert_same_table(cfg2.source, cfg2.target, t)


# ----------------------------------------------------------------------------- employees
def my(db: str) -> Any:
    import pymysql

    return pymysql.connect(
        host=MY["host"], port=MY["port"], user=MY["user"], password=MY["password"],
        database=db, autocommit=True,
    )  # fmt: skip


def my_rows(db: str, sql: str) -> list[tuple[Any, ...]]:
    conn = my(db)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return list(cur.fetchall())
    finally:
        conn.close()


@pytest.fixture(scope="module")
def employees_db(my_dbs: Any) -> str:
    db = my_dbs()
    conn = my(db)
    try:
        employees.build(conn)
    finally:
        conn.close()
    return str(db)


def test_employees_to_mysql_carries_every_object(
    employees_db: str, my_dbs: Any, tmp_path: Path
) -> None:
    src, dst = employees_db, my_dbs()
    cfg, result = migrate(endpoint("mysql", src), endpoint("mysql", dst), tmp_path)
    assert sorted(t.name for t in result.tables) == employees.TABLES
    for t in employees.TABLES:
        assert_same_table(cfg.source, cfg.target, t)
    same = [
        "SELECT emp_no, full_name FROM employees ORDER BY emp_no",  # the generated column
        "SELECT * FROM current_dept_emp ORDER BY emp_no, dept_no",  # a view over a view
        "SELECT tenure_years(hire_date) FROM employees ORDER BY emp_no",
        "SELECT PARTITION_NAME, PARTITION_DESCRIPTION, TABLE_ROWS > 0 FROM "
        "information_schema.PARTITIONS WHERE TABLE_SCHEMA = DATABASE() "
        "AND TABLE_NAME = 'salaries' ORDER BY PARTITION_ORDINAL_POSITION",
        "SELECT TABLE_NAME, TABLE_COMMENT FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME",
        "SELECT COLUMN_NAME, ORDINAL_POSITION, EXTRA FROM information_schema.COLUMNS "
        "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'employees' ORDER BY 2",
    ]
    for sql in same:
        assert my_rows(dst, sql) == my_rows(src, sql), sql
    assert my_rows(dst, "SELECT count(*) FROM audit_log") == [(15,)]  # the load fired nothing
    counter = [my_rows(db, "SHOW CREATE TABLE audit_log")[0][1].split("AUTO_INCREMENT=")[1][:3]
               for db in (src, dst)]  # fmt: skip
    assert counter[0] == counter[1] and int(counter[0].strip(" D")) > 16, counter
    conn = my(dst)
    try:
        with conn.cursor() as cur:
            cur.execute("UPDATE employees SET last_name = 'Changed' WHERE emp_no = 10001")
    finally:
        conn.close()
    assert my_rows(dst, "SELECT id, action FROM audit_log WHERE id > 15") == [
        (int(counter[0].strip(" D")), "update")
    ]
    assert my_rows(dst, "SELECT updated_at > '2020-01-01' FROM employees WHERE emp_no = 10001") == [
        (1,)
    ]


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_employees_to_other_engines_copies_each_row_once(
    kind: str, employees_db: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    dst = request.getfixturevalue("pg_dbs")() if kind == "postgres" else tmp_path / "emp.db"
    cfg, result = migrate(endpoint("mysql", employees_db), endpoint(kind, dst), tmp_path)
    assert {t.name: t.rows for t in result.tables}["salaries"] == 3000  # partitioned: one table
    for t in employees.TABLES:
        assert_same_table(cfg.source, cfg.target, t)
    sql = "SELECT emp_no, dept_no FROM current_dept_emp ORDER BY 1, 2"  # a view over a view
    got = rows(str(dst), sql) if kind == "postgres" else lite_rows(Path(dst), sql)
    assert got == [tuple(r) for r in my_rows(employees_db, sql)]


# ----------------------------------------------------------------------------- chinook
def lite_rows(path: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def chinook_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chinook") / "chinook.db"
    chinook.build(path)
    return path


def test_chinook_to_sqlite_carries_every_object(chinook_db: Path, tmp_path: Path) -> None:
    dst = tmp_path / "copy.db"
    cfg = migrate(endpoint("sqlite", chinook_db), endpoint("sqlite", dst), tmp_path)[0]
    for t in chinook.TABLES:
        assert_same_table(cfg.source, cfg.target, t)
    # tables (STRICT, WITHOUT ROWID, generated column), views, triggers and the partial and
    # expression indexes as the source wrote them; the plain index as dmt spells it
    schema = (
        "SELECT type, name, tbl_name, CASE name WHEN 'ifk_track_album_id' THEN NULL ELSE sql END "
        "FROM sqlite_master ORDER BY type, name"
    )
    assert lite_rows(dst, schema) == lite_rows(chinook_db, schema)
    for sql in (
        "SELECT * FROM customer_spend ORDER BY customer_id",
        "SELECT track_id, seconds FROM track ORDER BY track_id",
        "SELECT seq FROM sqlite_sequence WHERE name = 'track'",
        "SELECT count(*) FROM sales_log",  # the trigger did not fire during the load
    ):
        assert lite_rows(dst, sql) == lite_rows(chinook_db, sql), sql
    conn = sqlite3.connect(dst)
    with conn:
        conn.execute("INSERT INTO invoice VALUES (999, 1, '2022-01-01 00:00:00', 1)")
        conn.execute("INSERT INTO track (name, media_type_id, milliseconds, unit_price) "
                     "VALUES ('new', 1, 1000, 1)")  # fmt: skip
    conn.close()
    assert lite_rows(dst, "SELECT invoice_id FROM sales_log") == [(999,)]
    assert lite_rows(dst, "SELECT max(track_id) FROM track") == [(401,)]


@pytest.mark.parametrize("kind", ["postgres", "mysql"])
def test_chinook_to_servers_copies_each_row_once(
    kind: str, chinook_db: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    dst = request.getfixturevalue("pg_dbs" if kind == "postgres" else "my_dbs")()
    cfg = migrate(endpoint("sqlite", chinook_db), endpoint(kind, dst), tmp_path)[0]
    for t in chinook.TABLES:
        assert_same_table(cfg.source, cfg.target, t)
    sql = "SELECT customer_id, last_name FROM customer_spend ORDER BY 1"  # a view over a view
    got = rows(dst, sql) if kind == "postgres" else [tuple(r) for r in my_rows(dst, sql)]
    assert got == lite_rows(chinook_db, sql)
