"""Target modes on a real server: drop_recreate replaces, truncate empties and keeps,
append adds and checks the existing columns first; `dmt plan` says which."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dmt.config import build_config
from dmt.errors import ConfigError
from dmt.run import execute, make_plan
from tests.conftest import PG, endpoint


@pytest.fixture
def source(tmp_path: Path) -> Path:
    path = tmp_path / "src.db"
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT)")
    c.execute("CREATE TABLE child (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES parent (id))")
    c.executemany("INSERT INTO parent VALUES (?, ?)", [(1, "a"), (2, "b")])
    c.executemany("INSERT INTO child VALUES (?, ?)", [(1, 1), (2, 2)])
    c.commit()
    c.close()
    return path


def cfg(source: Path, pg_db: str, tmp: Path, mode: str, **extra: Any) -> Any:
    return build_config(
        {
            "source": endpoint("sqlite", source),
            "target": endpoint("postgres", pg_db),
            "migration": {"state_dir": str(tmp / "state"), "target_mode": mode, **extra},
            "ai": {"provider": "none"},
        }
    )


def count(pg_db: str, table: str) -> int:
    import psycopg

    with psycopg.connect(dbname=pg_db, **PG) as c:
        return int(c.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # type: ignore[index]


def test_modes(source: Path, pg_db: str, tmp_path: Path) -> None:
    first = cfg(source, pg_db, tmp_path, "drop_recreate")
    plan = make_plan(first).to_dict()
    assert plan["will_create"] == ["child", "parent"] and plan["will_drop"] == []
    assert execute(first).status == "success"
    again = make_plan(first).to_dict()
    assert again["will_drop"] == ["child", "parent"]  # foreign keys: dropped with CASCADE
    assert execute(first).status == "success"
    assert count(pg_db, "parent") == 2

    # truncate/append reload tables whose own foreign keys stay in force while tables load in
    # parallel, so this part runs on a copy made without them
    nofk = cfg(source, pg_db, tmp_path, "drop_recreate", create_foreign_keys=False)
    assert execute(nofk).status == "success"
    trunc = cfg(source, pg_db, tmp_path, "truncate")
    assert make_plan(trunc).to_dict()["will_empty"] == ["child", "parent"]
    assert execute(trunc).status == "success"
    assert (count(pg_db, "parent"), count(pg_db, "child")) == (2, 2)

    c = sqlite3.connect(source)
    c.execute("DELETE FROM child")
    c.execute("UPDATE parent SET id = id + 10")
    c.commit()
    c.close()
    app = cfg(source, pg_db, tmp_path, "append", include_tables=["parent"], validate="none")
    assert make_plan(app).to_dict()["will_append"] == ["parent"]
    assert execute(app).status == "success"
    assert count(pg_db, "parent") == 4


def test_append_checks_columns_first(source: Path, pg_db: str, tmp_path: Path) -> None:
    import psycopg

    with psycopg.connect(dbname=pg_db, **PG) as c:
        c.execute("DROP TABLE IF EXISTS parent CASCADE")
        c.execute("CREATE TABLE parent (id integer PRIMARY KEY, name date)")
    with pytest.raises(ConfigError, match=r"`parent.name` is date on the target, text on the"):
        execute(cfg(source, pg_db, tmp_path, "append", include_tables=["parent"]))
