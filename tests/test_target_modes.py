"""Target modes on a real server: drop_recreate replaces, truncate empties and keeps,
append adds and checks the existing columns first; `dmt plan` says which. Truncate, append,
a key collision on append and an existing table that does not fit run on every target engine."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from dmt.config import build_config
from dmt.errors import ConfigError
from dmt.run import execute, make_plan
from tests.conftest import PG, endpoint
from tests.support.compare import table_rows
from tests.support.killing import run_cli
from tests.test_fidelity import run_sql


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


# ------------------------------------------------------------- every target engine

ITEMS = [(1, "a", 1.5), (2, "b", None), (3, "c", -2.0)]


def items_source(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    c = sqlite3.connect(path)
    c.execute("DROP TABLE IF EXISTS item")
    c.execute("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT, price REAL)")
    c.executemany("INSERT INTO item VALUES (?, ?, ?)", rows)
    c.commit()
    c.close()
    return path


def mode_config(tmp: Path, source: Path, target: dict[str, Any], mode: str, **extra: Any) -> Path:
    raw = {
        "source": endpoint("sqlite", source),
        "target": target,
        "migration": {"state_dir": str(tmp / "state"), "target_mode": mode, **extra},
        "ai": {"provider": "none"},
    }
    path = tmp / f"{mode}-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run_path(cfg: Path) -> Any:
    """A run in this process (the failures go through the CLI, for their exit codes)."""
    return execute(build_config(yaml.safe_load(cfg.read_text())))


def target_rows(cfg: Path) -> list[tuple[str | None, ...]]:
    return table_rows(build_config(yaml.safe_load(cfg.read_text())).target, "item")[1]


@pytest.mark.parametrize("engine", ["postgres", "mysql", "sqlite"])
def test_truncate_and_append_on_every_target(
    engine: str, new_db: Callable[[str], dict[str, Any]], tmp_path: Path
) -> None:
    src = items_source(tmp_path / "src.db", ITEMS)
    target = new_db(engine)
    first = mode_config(tmp_path, src, target, "drop_recreate")
    assert run_path(first).status == "success"
    want = table_rows(build_config(yaml.safe_load(first.read_text())).source, "item")[1]

    # truncate: the rows the target gained or changed since are gone, no row twice
    run_sql(target, ["INSERT INTO item VALUES (99, 'left over', 0)",
                     "UPDATE item SET name = 'changed' WHERE id = 1"])  # fmt: skip
    trunc = mode_config(tmp_path, src, target, "truncate", validate="checksum")
    assert run_path(trunc).status == "success"
    assert target_rows(trunc) == want

    # append: new source rows land beside the ones already there
    items_source(src, [(4, "d", 4.0), (5, "e", None)])
    app = mode_config(tmp_path, src, target, "append", validate="none")
    assert run_path(app).status == "success"
    assert [row[0] for row in target_rows(app)] == ["1", "2", "3", "4", "5"]

    # appending the same keys again collides: the table fails (exit 3), nothing is added
    r = run_cli("run", "-c", str(app))
    assert r.returncode == 3, r.stderr
    assert "Traceback" not in r.stderr
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith("error: table `item`"), line
    assert [row[0] for row in target_rows(app)] == ["1", "2", "3", "4", "5"]


@pytest.mark.parametrize("mode", ["truncate", "append"])
@pytest.mark.parametrize("engine", ["postgres", "mysql", "sqlite"])
def test_incompatible_existing_table_is_a_config_error(
    engine: str, mode: str, new_db: Callable[[str], dict[str, Any]], tmp_path: Path
) -> None:
    src = items_source(tmp_path / "src.db", ITEMS)
    target = new_db(engine)
    run_sql(target, ["CREATE TABLE item (id int PRIMARY KEY, name date)",
                     "INSERT INTO item VALUES (7, NULL)"])  # fmt: skip
    cfg = mode_config(tmp_path, src, target, mode)
    r = run_cli("run", "-c", str(cfg))
    assert r.returncode == 1, r.stderr
    (line,) = [x for x in r.stderr.splitlines() if x.startswith("error:")]
    assert line == (
        f"error: migration.target_mode: {mode}: existing target tables do not fit the source: "
        "`item.name` is date on the target, text on the source; `item` lacks column `price`"
    )
    assert target_rows(cfg) == [("7", None)]  # nothing was touched
