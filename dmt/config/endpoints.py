"""The ``source:`` and ``target:`` sections: fields or a ``url``, engine names and defaults
from the engine registry (:mod:`dmt.dialects.registry`)."""

from __future__ import annotations

import os
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

    def describe(self) -> str:
        """A display string safe for logs and JSON: no password, ever."""
        engine = lookup(self.engine)
        if engine is not None and engine.file:
            return f"{self.engine}:{self.path}"
        user = f"{self.user}@" if self.user else ""
        return f"{self.engine}://{user}{self.host}:{self.port}/{self.database}"


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
    if values.get("url"):
        if not isinstance(values["url"], str):
            raise ConfigError(f"{side}.url", "must be a string")
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


def _file_endpoint(engine: Engine, values: dict[str, Any], side: str, base_dir: Path) -> Endpoint:
    if not values.get("path"):
        raise ConfigError(f"{side}.path", f"missing: a {engine.label} endpoint needs the file path")
    path = values["path"]
    if path != ":memory:":
        path = str((base_dir / os.path.expanduser(path)).resolve())
    return Endpoint(engine=engine.name, path=path)
