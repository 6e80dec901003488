"""Shared fixtures: fresh PostgreSQL / MariaDB databases per test module, SQLite files.

A test that needs a server skips with a reason when the server is down, except under CI=true,
where it fails: CI must never pass by skipping the database tests.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_anthropic import FakeAnthropic

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
MY = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}
IN_CI = os.environ.get("CI", "").lower() == "true"
# Ray started by a test (and the dmt processes it starts) stays on the loopback: its address
# for "127.0.0.1" is then 127.0.0.1, not the machine's interface
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")


def _unavailable(what: str, exc: BaseException) -> None:
    msg = f"{what} is not reachable: {str(exc).strip().splitlines()[0] if str(exc) else exc!r}"
    if IN_CI:
        pytest.fail(msg + " (CI=true: database tests must run, not skip)")
    pytest.skip(msg)


def _pg_admin() -> Any:
    import psycopg

    return psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **PG)


def _my_admin() -> Any:
    import pymysql

    return pymysql.connect(autocommit=True, connect_timeout=5, **MY)  # type: ignore[arg-type]


def _pg_create(admin: Any, name: str) -> None:
    admin.execute(f'CREATE DATABASE "{name}"')


def _pg_drop(admin: Any, name: str) -> None:
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _my_create(admin: Any, name: str) -> None:
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")


def _my_drop(admin: Any, name: str) -> None:
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")


def _factory(what: str, connect: Any, create: Any, drop: Any) -> Iterator[Callable[[], str]]:
    """Yield a maker of fresh databases; every database it made is dropped afterwards."""
    try:
        admin = connect()
    except Exception as exc:
        _unavailable(what, exc)
    made: list[str] = []

    def make() -> str:
        name = f"dmt_t_{uuid.uuid4().hex[:10]}"
        create(admin, name)
        made.append(name)
        return name

    try:
        yield make
    finally:
        for name in made:
            drop(admin, name)
        admin.close()


@pytest.fixture(scope="module")
def pg_dbs() -> Iterator[Callable[[], str]]:
    """A factory of fresh PostgreSQL databases, all dropped when the module ends."""
    yield from _factory("PostgreSQL at 127.0.0.1:5432", _pg_admin, _pg_create, _pg_drop)


@pytest.fixture(scope="module")
def my_dbs() -> Iterator[Callable[[], str]]:
    """A factory of fresh MariaDB databases, all dropped when the module ends."""
    yield from _factory("MariaDB at 127.0.0.1:3306", _my_admin, _my_create, _my_drop)


@pytest.fixture(scope="module")
def pg_db(pg_dbs: Callable[[], str]) -> str:
    """A fresh PostgreSQL database for this module; dropped afterwards."""
    return pg_dbs()


@pytest.fixture(scope="module")
def my_db(my_dbs: Callable[[], str]) -> str:
    """A fresh MariaDB database for this module; dropped afterwards."""
    return my_dbs()


@pytest.fixture(scope="module")
def new_db(
    pg_dbs: Callable[[], str], my_dbs: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], dict[str, Any]]:
    """A maker of fresh, empty databases of an engine, as config endpoints."""
    tmp = tmp_path_factory.mktemp("dbs")

    def new(engine: str) -> dict[str, Any]:
        if engine == "postgres":
            return endpoint("postgres", pg_dbs())
        if engine == "mysql":
            return endpoint("mysql", my_dbs())
        return endpoint("sqlite", tmp / f"{uuid.uuid4().hex[:10]}.db")

    return new


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
    if kind in ("sqlite", "duckdb"):
        return {"type": kind, "path": str(db)}
    if kind == "postgres":
        return {"type": "postgres", "database": db, **PG}
    return {"type": "mysql", "database": db, **MY}
