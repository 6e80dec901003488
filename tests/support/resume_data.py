"""One dataset for the resume, signal and restart tests, created in any engine: integer,
composite and text keys (mixed case, non-ASCII), a table without a key, secondary indexes and a
foreign key."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conftest import MY, PG, _my_admin, _pg_admin, _unavailable

TABLES = ("ints", "pairs", "texts", "nokey")
INDEXES = {"ints": {"ints_v", "ints_n"}, "pairs": {"pairs_v"}, "texts": {"texts_v"}}
ROWS = {"ints": 24_000, "pairs": 10_000, "texts": 8_000, "nokey": 2_000}


def _md5(g: int) -> str:
    return hashlib.md5(str(g).encode()).hexdigest()


def dataset(scale: int = 1) -> dict[str, list[tuple[Any, ...]]]:
    """The same rows for every engine (``ROWS`` times ``scale``)."""
    base = dt.datetime(2020, 1, 1)
    return {
        "ints": [
            (
                g,
                _md5(g),
                (Decimal(g) / 7).quantize(Decimal("0.001")),
                base + dt.timedelta(seconds=g, microseconds=g),
            )
            for g in range(1, ROWS["ints"] * scale + 1)
        ],
        "pairs": [(g % 97, g, "p" * (g % 20)) for g in range(1, ROWS["pairs"] * scale + 1)],
        # mixed case and a non-ASCII letter: engines and collations order these differently
        "texts": [
            (("key-" if g % 2 else "Key-") + _md5(g) + ("ä" if g % 3 == 0 else "Z"), g)
            for g in range(1, ROWS["texts"] * scale + 1)
        ],
        "nokey": [(g % 100, f"row{g}") for g in range(1, ROWS["nokey"] * scale + 1)],
    }


DDL = {
    "postgres": [
        "CREATE TABLE ints (id bigint PRIMARY KEY, v varchar(40), n numeric(12,3), "
        "ts timestamp(6))",
        "CREATE TABLE pairs (a int, b bigint, v varchar(30), PRIMARY KEY (a, b), "
        "CONSTRAINT pairs_ints FOREIGN KEY (b) REFERENCES ints (id))",
        "CREATE TABLE texts (k varchar(60) PRIMARY KEY, v int)",
        "CREATE TABLE nokey (x int, y varchar(20))",
    ],
    "mysql": [
        "CREATE TABLE ints (id bigint PRIMARY KEY, v varchar(40), n decimal(12,3), "
        "ts datetime(6)) ENGINE=InnoDB",
        "CREATE TABLE pairs (a int, b bigint, v varchar(30), PRIMARY KEY (a, b), "
        "CONSTRAINT pairs_ints FOREIGN KEY (b) REFERENCES ints (id)) ENGINE=InnoDB",
        "CREATE TABLE texts (k varchar(60) PRIMARY KEY, v int) ENGINE=InnoDB",
        "CREATE TABLE nokey (x int, y varchar(20)) ENGINE=InnoDB",
    ],
    "sqlite": [
        "CREATE TABLE ints (id BIGINT PRIMARY KEY, v VARCHAR(40), n NUMERIC(12,3), ts TIMESTAMP)",
        "CREATE TABLE pairs (a INT, b BIGINT, v VARCHAR(30), PRIMARY KEY (a, b), "
        "CONSTRAINT pairs_ints FOREIGN KEY (b) REFERENCES ints (id))",
        "CREATE TABLE texts (k VARCHAR(60) PRIMARY KEY, v INT)",
        "CREATE TABLE nokey (x INT, y VARCHAR(20))",
    ],
    "duckdb": [
        "CREATE TABLE ints (id BIGINT PRIMARY KEY, v VARCHAR, n DECIMAL(12,3), ts TIMESTAMP)",
        "CREATE TABLE pairs (a INTEGER, b BIGINT, v VARCHAR, PRIMARY KEY (a, b), "
        "CONSTRAINT pairs_ints FOREIGN KEY (b) REFERENCES ints (id))",
        "CREATE TABLE texts (k VARCHAR PRIMARY KEY, v INTEGER)",
        "CREATE TABLE nokey (x INTEGER, y VARCHAR)",
    ],
}
INDEX_DDL = [
    "CREATE INDEX ints_v ON ints (v)",
    "CREATE INDEX ints_n ON ints (n)",
    "CREATE INDEX pairs_v ON pairs (v)",
    "CREATE INDEX texts_v ON texts (v)",
]


def fill(kind: str, db: str | Path, scale: int = 1) -> None:
    """Create and fill the source tables in ``db``."""
    data = dataset(scale)
    if kind == "postgres":
        import psycopg

        with psycopg.connect(dbname=str(db), **PG) as c:
            for sql in DDL["postgres"] + INDEX_DDL:
                c.execute(sql)
            with c.cursor() as cur:
                for t in TABLES:
                    with cur.copy(f"COPY {t} FROM STDIN") as cp:
                        for row in data[t]:
                            cp.write_row(row)
            c.execute("ANALYZE")
    elif kind == "mysql":
        import pymysql

        c = pymysql.connect(database=str(db), charset="utf8mb4", **MY)  # type: ignore[arg-type]
        try:
            with c.cursor() as cur:
                for sql in DDL["mysql"] + INDEX_DDL:
                    cur.execute(sql)
                for t in TABLES:
                    marks = ", ".join(["%s"] * len(data[t][0]))
                    rows = data[t]
                    for i in range(0, len(rows), 4000):
                        cur.executemany(f"INSERT INTO {t} VALUES ({marks})", rows[i : i + 4000])
            c.commit()
        finally:
            c.close()
    elif kind == "duckdb":
        _fill_duckdb(db, data)
    else:
        c2 = sqlite3.connect(db)
        try:
            for sql in DDL["sqlite"] + INDEX_DDL:
                c2.execute(sql)
            for t in TABLES:
                marks = ", ".join("?" * len(data[t][0]))
                rows = [tuple(_sqlite_value(v) for v in r) for r in data[t]]
                c2.executemany(f"INSERT INTO {t} VALUES ({marks})", rows)
            c2.commit()
        finally:
            c2.close()


def _fill_duckdb(db: str | Path, data: dict[str, list[tuple[Any, ...]]]) -> None:
    import duckdb
    import pyarrow as pa

    c = duckdb.connect(str(db))
    try:
        for sql in DDL["duckdb"] + INDEX_DDL:
            c.execute(sql)
        for t in TABLES:  # parents first: DuckDB checks the foreign key on every insert
            rows = data[t]
            batch = pa.table({f"c{i}": [r[i] for r in rows] for i in range(len(rows[0]))})
            c.register("batch", batch)
            c.execute(f"INSERT INTO {t} SELECT * FROM batch")
            c.unregister("batch")
    finally:
        c.close()


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.isoformat(" ")
    if isinstance(v, Decimal):
        return str(v)
    return v


@contextmanager
def fresh_db(kind: str, tmp: Path) -> Iterator[str]:
    """A new empty database (a file path for SQLite), dropped afterwards."""
    if kind in ("sqlite", "duckdb"):
        yield str(tmp / f"{uuid.uuid4().hex[:8]}.{kind}")
        return
    name = f"dmt_t_{uuid.uuid4().hex[:10]}"
    try:
        admin = _pg_admin() if kind == "postgres" else _my_admin()
    except Exception as exc:
        _unavailable(f"{kind} server", exc)
    try:
        if kind == "postgres":
            admin.execute(f'CREATE DATABASE "{name}"')
        else:
            with admin.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield name
    finally:
        if kind == "postgres":
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            with admin.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


def big_sqlite(path: Path, rows: int) -> Path:
    """A SQLite file with one integer-keyed table ``big`` (id, v, s) of ``rows`` rows."""
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, v INTEGER, s TEXT)")
    c.executemany("INSERT INTO big VALUES (?, ?, ?)", ((i, i * 7, f"r{i}") for i in range(rows)))
    c.commit()
    c.close()
    return path
