"""What dmt knows about each engine before any driver is imported: its name, the aliases a
config may use, the endpoint defaults, whether an endpoint is a file, and where its dialect
class lives. Config parsing and dialect lookup both read :data:`ENGINES`; nothing else names
an engine.

This module imports nothing of dmt but :mod:`dmt.errors`, and no driver.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from dmt.errors import ConfigError


@dataclass(frozen=True)
class Engine:
    """One engine's registry entry. A ``file`` engine's endpoint is a path; a server engine's
    is host, port, database and user, with the defaults below."""

    name: str
    label: str  # the name people write: in messages
    aliases: tuple[str, ...]
    dialect: str  # ``module:Class``, imported only when a dialect is built
    file: bool = False
    #: the endpoint is a SQLAlchemy URL, passed on whole (the generic dialect)
    url: bool = False
    port: int | None = None
    user: str | None = None
    schema: str | None = None


ENGINES: dict[str, Engine] = {
    e.name: e
    for e in (
        Engine(
            "postgres",
            "PostgreSQL",
            ("postgresql", "pg"),
            "dmt.dialects.postgres:PostgresDialect",
            port=5432,
            user="postgres",
            schema="public",
        ),
        Engine(
            "mysql",
            "MySQL",
            ("mariadb",),
            "dmt.dialects.mysql:MySQLDialect",
            port=3306,
            user="root",
        ),
        Engine("sqlite", "SQLite", ("sqlite3",), "dmt.dialects.sqlite:SQLiteDialect", file=True),
        Engine("duckdb", "DuckDB", ("duck",), "dmt.dialects.duckdb:DuckDBDialect", file=True),
        Engine(
            "generic",
            "SQLAlchemy",
            ("sqlalchemy",),
            "dmt.dialects.generic:GenericDialect",
            url=True,
        ),
    )
}

#: every name a config may use for an engine (lower case) -> the engine
ALIASES: dict[str, Engine] = {alias: e for e in ENGINES.values() for alias in (e.name, *e.aliases)}


def known_names() -> str:
    """The names a config may use, for error messages."""
    return ", ".join(sorted(ALIASES))


def lookup(name: str) -> Engine | None:
    """The engine an engine name or alias (any case) stands for, or None."""
    return ALIASES.get(name.lower())


def engine_for(name: str, key: str) -> Engine:
    """The engine ``name`` stands for; an unknown name fails naming ``key``, the closest
    known name and the list of known names."""
    engine = lookup(name)
    if engine is None:
        close = difflib.get_close_matches(name.lower(), list(ALIASES), n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        raise ConfigError(key, f"unknown engine `{name}`{hint} (known: {known_names()})")
    return engine
