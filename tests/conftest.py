"""Shared fixtures: fresh PostgreSQL / MariaDB databases per test module, SQLite files.

A test that needs a server skips with a reason when the server is down, except under CI=true,
where it fails: CI must never pass by skipping the database tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_anthropic import FakeAnthropic

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
MY = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(what: str, exc: BaseException) -> None:
    msg = f"{what} is not reachable: {str(exc).strip().splitlines()[0] if str(exc) else exc!r}"
    if IN_CI:
        pytest.fail(msg + " (CI=true: database tests must run, not skip)")
    pytest.skip(msg)


def _pg_admin() -> Any:
    import psycopg

    return psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **PG)


@pytest.fixture(scope="module")
def pg_db() -> Iterator[str]:
    """A fresh PostgreSQL database for this module; dropped afterwards."""
    try:
        admin = _pg_admin()
    except Exception as exc:
        _unavailable("PostgreSQL at 127.0.0.1:5432", exc)
    name = f"dmt_t_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _my_admin() -> Any:
    import pymysql

    return pymysql.connect(autocommit=True, connect_timeout=5, **MY)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def my_db() -> Iterator[str]:
    """A fresh MariaDB database for this module; dropped afterwards."""
    try:
        admin = _my_admin()
    except Exception as exc:
        _unavailable("MariaDB at 127.0.0.1:3306", exc)
    name = f"dmt_t_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield name
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture
def fake_anthropic() -> Iterator[FakeAnthropic]:
    """A running fake Messages API on 127.0.0.1; ``fake_anthropic.url`` is the ``ai.base_url``."""
    with FakeAnthropic() as server:
        yield server


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The StackOverflow-shaped sample database (read-only use)."""
    from dmt.sample import build

    path = tmp_path_factory.mktemp("sample") / "sample.db"
    build(path)
    return path


def endpoint(kind: str, db: str | Path) -> dict[str, Any]:
    """A config endpoint mapping for the test servers."""
    if kind == "sqlite":
        return {"type": "sqlite", "path": str(db)}
    if kind == "postgres":
        return {"type": "postgres", "database": db, **PG}
    return {"type": "mysql", "database": db, **MY}
