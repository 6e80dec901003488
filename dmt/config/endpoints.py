"""The ``source:`` and ``target:`` sections: fields or a ``url``, engine names and defaults
from the engine registry (:mod:`dmt.dialects.registry`).

A url whose scheme names a hand-tuned engine (``postgresql+psycopg://``, ``mysql://``,
``sqlite:///``) is split into that engine's fields; any other url, or any url with
``type: generic``, is kept whole for the generic (SQLAlchemy) dialect."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from dmt.config.options import check_keys
from dmt.dialects.registry import Engine, engine_for, known_names, lookup
from dmt.errors import ConfigError

ENDPOINT_KEYS = ("type", "host", "port", "database", "user", "password", "schema", "path", "url")
DEFAULT_HOST = "127.0.0.1"


@dataclass(frozen=True)
class Endpoint:
    """Where to connect. ``password`` never appears in repr or :meth:`describe`."""

    engine: str
    host: str | None = None
    port: int | None = None
    database: str | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    schema: str | None = None
    path: str | None = None
    #: a SQLAlchemy URL (the generic dialect); may hold a password, so never shown as is
    url: str | None = field(default=None, repr=False)

    def describe(self) -> str:
        """A display string safe for logs and JSON: no password, ever."""
        engine = lookup(self.engine)
        if engine is not None and engine.url:
            from dmt.dialects.generic.connection import hide_password  # generic only

            return f"{self.engine}:{hide_password(self.url or '')}"
        if engine is not None and engine.file:
            return f"{self.engine}:{self.path}"
        user = f"{self.user}@" if self.user else ""
        return f"{self.engine}://{user}{self.host}:{self.port}/{self.database}"


#: ``dialect[+driver]://``: the head of a SQLAlchemy URL
_URL_HEAD = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)(\+[A-Za-z0-9_]+)?://")
#: endpoint keys a SQLAlchemy URL endpoint takes besides ``url`` and ``type``
URL_KEYS = ("password", "schema")


def url_scheme(url: str) -> str | None:
    """The dialect name of a url (``mssql`` in ``mssql+pyodbc://…``), lower case; None when
    ``url`` does not start like a url."""
    m = _URL_HEAD.match(url)
    return m.group(1).lower() if m else None


def parse_url(url: str, key: str) -> dict[str, Any]:
    """The endpoint fields a url gives: ``engine://user:pw@host:port/db?schema=s``, or
    ``engine:path`` / ``engine:///relative/path`` for a file engine."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0].lower()
    engine = lookup(scheme)
    if engine is None:
        raise ConfigError(key, f"unknown engine `{scheme}` in url (known: {known_names()})")
    if engine.file:
        path = url.split(":", 1)[1]
        path = (
            path[3:]
            if path.startswith("///")
            else path.lstrip("/")
            if path.startswith("//")
            else path
        )
        return {"type": engine.name, "path": unquote(path)}
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(key, "the port in the url is not a number") from None
    query = parse_qs(parts.query)
    return {
        "type": engine.name,
        "host": parts.hostname,
        "port": port,
        "database": unquote(parts.path.lstrip("/")) or None,
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "schema": query.get("schema", [None])[0],
    }


def read_endpoint(raw: Mapping[str, Any], side: str, base_dir: Path) -> Endpoint:
    """The validated endpoint of ``side`` (``source`` or ``target``); a file path is resolved
    against ``base_dir`` (the config file's folder)."""
    if side not in raw or raw[side] is None:
        raise ConfigError(side, "missing section (needs at least `type`, or a `url`)")
    sec = raw[side] or {}
    if not isinstance(sec, dict):
        raise ConfigError(side, f"must be a mapping of keys, not `{sec}`")
    check_keys(sec, ENDPOINT_KEYS, side)
    values = dict(sec)
    kind = values.get("type")
    forced = engine_for(str(kind), f"{side}.type") if kind is not None else None
    if forced is not None and forced.url:
        return _url_endpoint(forced, values, side)
    if values.get("url"):
        if not isinstance(values["url"], str):
            raise ConfigError(f"{side}.url", "must be a string")
        scheme = url_scheme(values["url"])
        if forced is None and scheme is not None and lookup(scheme) is None:
            return _url_endpoint(engine_for("generic", f"{side}.type"), values, side)
        from_url = parse_url(values.pop("url"), f"{side}.url")
        values = {**from_url, **{k: v for k, v in values.items() if v is not None}}
    kind = values.get("type")
    if kind is None:
        raise ConfigError(f"{side}.type", f"missing (one of {known_names()})")
    engine = engine_for(str(kind), f"{side}.type")
    for name in ("host", "database", "user", "password", "schema", "path"):
        v = values.get(name)
        if v is not None and not isinstance(v, str | int):
            raise ConfigError(f"{side}.{name}", f"`{v}` is not a string")
        if v is not None:
            values[name] = str(v)
    if engine.file:
        return _file_endpoint(engine, values, side, base_dir)
    port = values.get("port")
    if port is None:
        port = engine.port
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(f"{side}.port", f"`{port}` is not a port number (1-65535)")
    if not values.get("database"):
        raise ConfigError(f"{side}.database", f"missing: a {engine.name} endpoint needs a database")
    return Endpoint(
        engine=engine.name,
        host=values.get("host") or DEFAULT_HOST,
        port=port,
        database=values["database"],
        user=values.get("user") or engine.user,
        password=values.get("password"),
        schema=values.get("schema") or engine.schema,
    )


def _url_endpoint(engine: Engine, values: dict[str, Any], side: str) -> Endpoint:
    """An endpoint that is one SQLAlchemy URL; ``password`` (e.g. ``${env:X}``) replaces the
    url's own, ``schema`` names the schema to read or write (default: the connection's)."""
    url = values.get("url")
    if not url:
        raise ConfigError(
            f"{side}.url",
            f"missing: a {engine.name} endpoint needs a SQLAlchemy URL "
            "(`dialect+driver://user@host/database`)",
        )
    if not isinstance(url, str) or url_scheme(url) is None:
        raise ConfigError(
            f"{side}.url", "is not a URL: expected `dialect+driver://user@host/database`"
        )
    for name in ENDPOINT_KEYS:
        if name not in ("url", "type", *URL_KEYS) and values.get(name) is not None:
            raise ConfigError(
                f"{side}.{name}", f"not used with a {engine.name} url: put it in `{side}.url`"
            )
    for name in URL_KEYS:
        v = values.get(name)
        if v is not None and not isinstance(v, str | int):
            raise ConfigError(f"{side}.{name}", "is not a string")
    password, schema = values.get("password"), values.get("schema")
    password = None if password is None else str(password)
    from dmt.dialects.generic.connection import check_url  # SQLAlchemy: generic endpoints only

    check_url(url, password, f"{side}.url")
    return Endpoint(
        engine=engine.name,
        url=url,
        password=password,
        schema=None if schema is None else str(schema),
    )


def _file_endpoint(engine: Engine, values: dict[str, Any], side: str, base_dir: Path) -> Endpoint:
    if not values.get("path"):
        raise ConfigError(f"{side}.path", f"missing: a {engine.label} endpoint needs the file path")
    path = values["path"]
    if path != ":memory:":
        path = str((base_dir / os.path.expanduser(path)).resolve())
    return Endpoint(engine=engine.name, path=path)
