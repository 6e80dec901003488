"""Connections of the generic dialect: a SQLAlchemy engine built from the endpoint's URL, and
the DB-API shape (``cursor()``, ``commit()``, ``rollback()``, ``close()``) the rest of dmt
uses, over a SQLAlchemy ``Connection`` so that every statement goes through SQLAlchemy.

Bad input fails as a ConfigError naming the config key: a URL SQLAlchemy cannot parse, a
dialect it does not know (with the closest known name), a driver that is not installed (with
the ``pip install`` that brings it). The URL's password never appears in a message.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Sequence
from typing import Any

from dmt.config import Endpoint
from dmt.errors import ConfigError

#: the pip package of a driver module SQLAlchemy's dialects import
DRIVER_PACKAGES = {
    "pyodbc": "pyodbc",
    "pymssql": "pymssql",
    "oracledb": "oracledb",
    "cx_Oracle": "cx_Oracle",
    "psycopg2": "psycopg2-binary",
    "psycopg": "psycopg[binary]",
    "asyncpg": "asyncpg",
    "pg8000": "pg8000",
    "MySQLdb": "mysqlclient",
    "pymysql": "pymysql",
    "mysql": "mysql-connector-python",
    "mariadb": "mariadb",
    "duckdb": "duckdb",
}
#: the pip package of a SQLAlchemy dialect that does not ship with SQLAlchemy
DIALECT_PACKAGES = {
    "snowflake": "snowflake-sqlalchemy",
    "cockroachdb": "sqlalchemy-cockroachdb",
    "duckdb": "duckdb-engine",
    "redshift": "sqlalchemy-redshift",
    "redshift+psycopg2": "sqlalchemy-redshift",
    "bigquery": "sqlalchemy-bigquery",
    "trino": "trino",
    "databricks": "databricks-sqlalchemy",
    "clickhouse": "clickhouse-sqlalchemy",
    "db2": "ibm-db-sa",
    "ibm_db_sa": "ibm-db-sa",
    "hana": "sqlalchemy-hana",
    "firebird": "sqlalchemy-firebird",
    "sybase": "sqlalchemy-sybase",
    "access": "sqlalchemy-access",
    "teradatasql": "teradatasqlalchemy",
}
#: the dialects SQLAlchemy itself ships
BUILT_IN = ("postgresql", "mysql", "mariadb", "sqlite", "mssql", "oracle")
#: create_engine() options that select a dialect's native bulk path
BULK_OPTIONS: dict[str, dict[str, Any]] = {"mssql+pyodbc": {"fast_executemany": True}}
#: per driver module, what every new connection of it gets (``module:function`` taking the
#: driver's connection): psycopg raises on PostgreSQL's ±infinity dates, so they load as text
DRIVER_SETUP = {"psycopg": "dmt.dialects.postgres.values:register_infinity_loaders"}


def hide_password(url: str) -> str:
    """``url`` with its password replaced by ``***`` (SQLAlchemy's own rendering); a url
    SQLAlchemy cannot parse shows its scheme only."""
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except (sa_exc.ArgumentError, ValueError):
        return url.split("://", 1)[0] + "://***"


def check_url(url: str, password: str | None, key: str) -> Any:
    """The SQLAlchemy URL of an endpoint (``password`` replacing the url's own), once its
    dialect and driver are known to load; a ConfigError naming ``key`` for each bad input.
    Never connects."""
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc

    try:
        parsed = sa.engine.make_url(url)
    except (sa_exc.ArgumentError, ValueError) as exc:
        raise ConfigError(key, f"not a SQLAlchemy URL ({_safe(exc)})") from None
    if password is not None:
        parsed = parsed.set(password=password)
    try:
        dialect = parsed.get_dialect()
    except sa_exc.NoSuchModuleError:
        raise ConfigError(key, _unknown_dialect(parsed.drivername)) from None
    except ImportError as exc:
        raise ConfigError(key, _missing(parsed.drivername, exc)) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise ConfigError(key, _missing(parsed.drivername, exc)) from None
    return parsed


def make_engine(endpoint: Endpoint, side: str) -> Any:
    """The SQLAlchemy engine of a URL endpoint (no pooling: dmt opens and closes connections
    itself). Never connects; a ConfigError names ``<side>.url`` for every bad input."""
    import sqlalchemy as sa
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.pool import NullPool

    key = f"{side}.url"
    url = check_url(endpoint.url or "", endpoint.password, key)
    options = BULK_OPTIONS.get(url.drivername, {})
    try:
        engine = sa.create_engine(url, poolclass=NullPool, **options)
    except ImportError as exc:
        raise ConfigError(key, _missing(url.drivername, exc)) from None
    except (sa_exc.ArgumentError, TypeError) as exc:
        raise ConfigError(key, f"SQLAlchemy rejects the url: {_safe(exc)}") from None
    setup = DRIVER_SETUP.get(engine.dialect.driver)
    if setup is not None:
        module, func = setup.split(":")
        hook = getattr(importlib.import_module(module), func)
        sa.event.listen(engine, "connect", lambda dbapi_conn, _record: hook(dbapi_conn))
    return engine


def _safe(exc: BaseException) -> str:
    """An exception's first line; SQLAlchemy's URL errors name parts, never the password."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _unknown_dialect(drivername: str) -> str:
    name = drivername.split("+", 1)[0]
    package = DIALECT_PACKAGES.get(drivername) or DIALECT_PACKAGES.get(name)
    if package:
        return f"the SQLAlchemy dialect `{drivername}` is not installed: pip install {package}"
    if name in BUILT_IN:
        return f"SQLAlchemy's `{name}` dialect has no driver `{drivername.split('+', 1)[1]}`"
    close = difflib.get_close_matches(name, [*BUILT_IN, *DIALECT_PACKAGES], n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"no SQLAlchemy dialect `{name}`{hint} (install the package that provides it)"


def _missing(drivername: str, exc: ImportError) -> str:
    module = (exc.name or str(exc).split("'")[1] if "'" in str(exc) else exc.name) or "?"
    top = module.split(".")[0]
    package = DRIVER_PACKAGES.get(top, top)
    return (
        f"the driver of `{drivername}` is not installed (no module `{top}`): pip install {package}"
    )


class GenericCursor:
    """A DB-API cursor over :meth:`sqlalchemy.engine.Connection.exec_driver_sql`: dmt's SQL
    text with positional parameters goes to the driver unchanged, through SQLAlchemy's
    transaction and error handling."""

    def __init__(self, conn: GenericConnection) -> None:
        self._conn = conn
        self._result: Any = None
        self.rowcount = -1

    def execute(self, sql: str, params: Sequence[Any] = (), stream: bool = False) -> Any:
        options = {"stream_results": True} if stream else None
        self._result = self._conn.sa.exec_driver_sql(
            *self._conn.bind(sql, params), execution_options=options
        )
        self.rowcount = self._result.rowcount
        return self

    @property
    def description(self) -> Any:
        return self._result.cursor.description if self._result is not None else None

    def fetchone(self) -> Any:
        row = self._result.fetchone()
        return None if row is None else tuple(row)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._result.fetchall()]

    def fetchmany(self, n: int) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in self._result.fetchmany(n)]

    def close(self) -> None:
        if self._result is not None:
            self._result.close()
            self._result = None

    def __enter__(self) -> GenericCursor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GenericConnection:
    """A SQLAlchemy ``Connection`` in the DB-API shape dmt's layers use. ``lent`` (the run's
    snapshot connection): commit and rollback keep its transaction, close gives it back."""

    def __init__(self, sa_conn: Any, paramstyle: str) -> None:
        self.sa = sa_conn
        self.paramstyle = paramstyle
        self.pool: Any = None  # the SnapshotPool lending this connection, if any

    def bind(self, sql: str, params: Sequence[Any]) -> tuple[str, Any]:
        """``sql`` (positional ``?`` or ``%s`` marks) and its parameters as the driver takes
        them; a driver of named or numbered marks gets ``:p0``, ``:p1`` ... / ``:1`` ... /
        ``$1`` ... in place of each ``?``."""
        params = tuple(params)
        if self.paramstyle not in ("named", "numeric", "numeric_dollar") or not params:
            return sql, params
        parts = sql.split("?")
        out, values = [parts[0]], {}
        for i, part in enumerate(parts[1:]):
            mark = {"named": f":p{i}", "numeric": f":{i + 1}"}.get(self.paramstyle, f"${i + 1}")
            out.append(mark + part)
            values[f"p{i}"] = params[i]
        if self.paramstyle != "named":
            return "".join(out), params
        return "".join(out), values

    def bind_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> tuple[str, Any]:
        """:meth:`bind` for an executemany of ``rows``."""
        if self.paramstyle not in ("named", "numeric", "numeric_dollar") or not rows:
            return sql, [tuple(r) for r in rows]
        text, first = self.bind(sql, rows[0])
        if isinstance(first, dict):
            keys = list(first)
            return text, [dict(zip(keys, r, strict=True)) for r in rows]
        return text, [tuple(r) for r in rows]

    def cursor(self) -> GenericCursor:
        return GenericCursor(self)

    def commit(self) -> None:
        if self.pool is None:
            self.sa.commit()

    def rollback(self) -> None:
        if self.pool is None:
            self.sa.rollback()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.give(self)
        else:
            self.really_close()

    def really_close(self) -> None:
        self.sa.close()
