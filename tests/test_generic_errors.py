"""The generic dialect's bad input and edges: a URL SQLAlchemy cannot parse, a dialect or a
driver that is not installed (one line naming `pip install …`, exit 1), a server that does not
answer (exit 2), a password that never shows, types reflection does not know (carried as
their text, with a warning), and which urls go to which dialect."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dmt.config import build_config
from dmt.errors import ConfigError
from dmt.run import execute
from tests.conftest import PG, endpoint
from tests.test_cli import dmt, write_config

SECRET = "s3cret-Pw"


def _run_with(tmp_path: Path, source: dict[str, Any], *args: str, **env: str) -> Any:
    cfg = write_config(
        tmp_path / "c.yaml",
        {
            "source": source,
            "target": endpoint("sqlite", tmp_path / "t.db"),
            "migration": {"state_dir": str(tmp_path / "state"), "validate": "count"},
            "ai": {"provider": "none"},
        },
    )
    return dmt("run", "-c", str(cfg), *args, env=env)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            f"mssql+pyodbc://sa:{SECRET}@db.example/x?driver=ODBC+Driver+18",
            "error: source.url: the driver of `mssql+pyodbc` is not installed (no module "
            "`pyodbc`): pip install pyodbc",
        ),
        (
            f"snowflake://u:{SECRET}@account/db",
            "error: source.url: the SQLAlchemy dialect `snowflake` is not installed: "
            "pip install snowflake-sqlalchemy",
        ),
        (
            f"postgress://u:{SECRET}@h/db",
            "error: source.url: no SQLAlchemy dialect `postgress`; did you mean `postgresql`? "
            "(install the package that provides it)",
        ),
        (
            f"postgresql+psycopg://u:{SECRET}@h:port/db",
            "error: source.url: not a SQLAlchemy URL (invalid literal for int() with base 10: "
            "'port')",
        ),
        (
            "not a url",
            "error: source.url: is not a URL: expected `dialect+driver://user@host/database`",
        ),
    ],
    ids=["missing-driver", "missing-dialect", "typo", "bad-port", "not-a-url"],
)
def test_a_bad_url_is_one_line_and_exit_1(tmp_path: Path, url: str, message: str) -> None:
    r = _run_with(tmp_path, {"type": "generic", "url": url})
    assert r.returncode == 1
    assert r.stderr.strip() == message
    assert SECRET not in r.stderr + r.stdout


def test_an_unknown_scheme_is_generic(tmp_path: Path) -> None:
    r = _run_with(tmp_path, {"url": f"mssql+pyodbc://sa:{SECRET}@db.example/x"})
    assert r.returncode == 1 and "pip install pyodbc" in r.stderr


def test_a_server_that_does_not_answer_is_exit_2_without_the_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:9/x"
    r = _run_with(
        tmp_path, {"type": "generic", "url": url, "password": "${env:DMT_T_PW}"},
        "--output-json", DMT_T_PW=SECRET,
    )  # fmt: skip
    assert r.returncode == 2
    out = json.loads(r.stdout)
    assert "generic:postgresql+psycopg://postgres@127.0.0.1:9/x" in out["error"]
    assert SECRET not in r.stdout + r.stderr


def test_an_env_password_works_and_is_never_written(pg_db: str, tmp_path: Path) -> None:
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as c:
        c.execute("CREATE TABLE one (id int PRIMARY KEY, v text)")
        c.execute("INSERT INTO one VALUES (1, 'a')")
    url = f"postgresql+psycopg://{PG['user']}@{PG['host']}:{PG['port']}/{pg_db}"
    r = _run_with(
        tmp_path, {"type": "generic", "url": url, "password": "${env:DMT_T_PW}"},
        "--output-json", "--verbosity", "debug", DMT_T_PW=SECRET,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["rows_transferred"] == 1
    assert f"connecting to generic:{url} and" in r.stderr  # the password is not in the url
    state = b"".join(p.read_bytes() for p in (tmp_path / "state").iterdir() if p.is_file())
    assert SECRET.encode() not in state
    assert SECRET not in r.stdout + r.stderr


def test_types_reflection_does_not_know_are_carried_as_text(pg_db: str, tmp_path: Path) -> None:
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as c:
        c.execute("CREATE TABLE odd (id int PRIMARY KEY, p point, r int4range, m money)")
        c.execute("INSERT INTO odd VALUES (1, '(1,2)', '[1,5)', 12.5)")
    url = f"postgresql+psycopg://{PG['user']}@{PG['host']}:{PG['port']}/{pg_db}"
    cfg = build_config(
        {
            "source": {"type": "generic", "url": url},
            "target": endpoint("sqlite", tmp_path / "odd.db"),
            "migration": {"state_dir": str(tmp_path / "st"), "include_tables": ["odd"]},
            "ai": {"provider": "none"},
        }
    )
    result = execute(cfg)
    assert result.status == "success"
    warned = " ".join(result.warnings)
    for declared in ("POINT", "INT4RANGE", "MONEY"):
        assert f"`{declared}` carried as its text form" in warned
    with sqlite3.connect(tmp_path / "odd.db") as conn:
        assert conn.execute("SELECT p, r, m FROM odd").fetchall() == [("(1,2)", "[1,5)", "$12.50")]
    conn.close()


def test_urls_go_to_the_hand_tuned_engine_unless_generic_is_forced(tmp_path: Path) -> None:
    def source(ep: dict[str, Any]) -> Any:
        raw = {"source": ep, "target": endpoint("sqlite", tmp_path / "t.db")}
        return build_config(raw).source

    assert source({"url": "postgresql+psycopg://u@h/db"}).engine == "postgres"
    assert source({"url": "mysql+pymysql://u@h/db"}).engine == "mysql"
    assert source({"url": f"sqlite:///{tmp_path}/a.db"}).engine == "sqlite"
    forced = source({"url": "postgresql+psycopg://u:pw@h/db", "type": "generic"})
    assert forced.engine == "generic" and forced.url == "postgresql+psycopg://u:pw@h/db"
    assert forced.describe() == "generic:postgresql+psycopg://u:***@h/db"
    assert "pw" not in repr(forced)
    with pytest.raises(ConfigError, match=r"source.host: not used with a generic url"):
        source({"url": "sqlite:///x.db", "type": "generic", "host": "h"})
    with pytest.raises(ConfigError, match=r"source.url: missing: a generic endpoint needs"):
        source({"type": "generic"})
