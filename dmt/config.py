"""YAML -> one frozen, validated :class:`Config`. Every key, its default and its bounds live here.

``${env:NAME}`` and ``${file:path}`` are expanded per scalar after YAML parsing (never by text
substitution). Every error is one :class:`~dmt.errors.ConfigError` line naming the key path,
the value and what is allowed.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from dmt.errors import ConfigError, DmtIOError
from dmt.settings import (
    KNOBS,
    TABLES_IN_FLIGHT,
    default_memory_mb,
    default_readers,
    default_writers,
)

ENGINE_ALIASES = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "pg": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "sqlite3": "sqlite",
}
DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}
DEFAULT_AI_MODEL = "claude-haiku-4-5"


@dataclass(frozen=True)
class Opt:
    """One config key: default, kind and bounds, and the sentence the reference prints."""

    default: Any
    kind: str  # int | bool | str | choice | duration | globs | path | mb
    doc: str
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()


MIGRATION_OPTIONS: dict[str, Opt] = {
    "workers": Opt(4, "int", "tables copied at once", *TABLES_IN_FLIGHT),
    "chunk_size": Opt(
        50_000,
        "int",
        KNOBS["chunk_size"].meaning,
        KNOBS["chunk_size"].low,
        KNOBS["chunk_size"].high,
    ),
    "parallel_readers": Opt(
        None,
        "int",
        "concurrent key-range readers per large table; default: half the default writers, at "
        "least 1",
        KNOBS["parallel_readers"].low,
        KNOBS["parallel_readers"].high,
    ),
    "read_ahead_buffers": Opt(
        8,
        "int",
        KNOBS["read_ahead_buffers"].meaning,
        KNOBS["read_ahead_buffers"].low,
        KNOBS["read_ahead_buffers"].high,
    ),
    "write_ahead_writers": Opt(
        None,
        "int",
        "writer threads in the DynamicWriterPool; default: the CPU count, between 2 and 4",
        KNOBS["writers"].low,
        KNOBS["writers"].high,
    ),
    "max_memory_mb": Opt(
        None,
        "mb",
        "memory budget for batches in flight; default: 1/8 of available, at most 128",
        64,
        1 << 20,
    ),
    "target_mode": Opt(
        "drop_recreate",
        "choice",
        "what to do with existing target tables",
        choices=("drop_recreate", "truncate", "append"),
    ),
    "include_tables": Opt((), "globs", "copy only tables matching these globs (default: all)"),
    "exclude_tables": Opt((), "globs", "skip tables matching these globs"),
    "create_indexes": Opt(True, "bool", "create secondary indexes and unique constraints"),
    "create_foreign_keys": Opt(True, "bool", "create foreign keys after the load"),
    "validate": Opt(
        "count", "choice", "check after the load", choices=("count", "checksum", "none")
    ),
    "identifier_case": Opt(
        "preserve",
        "choice",
        "keep names as they are, or fold to lower case",
        choices=("preserve", "lower"),
    ),
    "zero_dates": Opt(
        "null",
        "choice",
        "MySQL zero dates become NULL, or fail the run",
        choices=("null", "error"),
    ),
    "nul_bytes": Opt(
        "error",
        "choice",
        "NUL bytes in text bound for PostgreSQL: fail, or strip them",
        choices=("error", "strip"),
    ),
    "chunk_size_at": Opt(
        "table",
        "choice",
        "runtime chunk_size changes: `table` at the next table start; `chunk` at the next "
        "key range read (a larger chunk_size reads consecutive planned ranges as one)",
        choices=("table", "chunk"),
    ),
    "data_path": Opt(
        "auto",
        "choice",
        "how rows move: `auto` the fastest exact path per table; "
        "`no_columnar` never the Arrow path; `rows` every table on the exact row path",
        choices=("auto", "no_columnar", "rows"),
    ),
    "ai_adjust": Opt(False, "bool", "tune writers and chunk size while running"),
    "ai_adjust_interval": Opt(30.0, "duration", "seconds between adjustment decisions", 1, 3600),
    "state_dir": Opt("~/.dmt", "path", "folder of the state store (state.db)"),
}

AI_OPTIONS: dict[str, Opt] = {
    "provider": Opt(
        "claude", "choice", "claude, or none for rules only", choices=("claude", "none")
    ),
    "api_key": Opt(None, "str", "Anthropic API key; usually ${env:DMT_AI_API_KEY}"),
    "model": Opt(DEFAULT_AI_MODEL, "str", "Claude model used for decisions"),
    "base_url": Opt(None, "str", "Messages API base URL (a proxy or a test server)"),
    "timeout": Opt(10.0, "duration", "seconds per API call; no SDK retries", 0.1, 300),
    "cache_ttl": Opt(60.0, "duration", "reuse a decision for this long", 0, 3600),
    "min_call_interval": Opt(30.0, "duration", "at least this long between API calls", 0, 3600),
    "breaker_failures": Opt(3, "int", "consecutive failures that open the circuit breaker", 1, 100),
    "breaker_reset": Opt(300.0, "duration", "seconds before an open breaker tries again", 1, 86400),
}

ENDPOINT_KEYS = ("type", "host", "port", "database", "user", "password", "schema", "path", "url")
TOP_KEYS = ("source", "target", "migration", "ai", "type_overrides")


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
        if self.engine == "sqlite":
            return f"sqlite:{self.path}"
        user = f"{self.user}@" if self.user else ""
        return f"{self.engine}://{user}{self.host}:{self.port}/{self.database}"


@dataclass(frozen=True)
class MigrationConfig:
    """The ``migration:`` section."""

    workers: int
    chunk_size: int
    parallel_readers: int
    read_ahead_buffers: int
    write_ahead_writers: int
    max_memory_mb: int
    target_mode: str
    include_tables: tuple[str, ...]
    exclude_tables: tuple[str, ...]
    create_indexes: bool
    create_foreign_keys: bool
    validate: str
    identifier_case: str
    zero_dates: str
    nul_bytes: str
    chunk_size_at: str
    ai_adjust: bool
    ai_adjust_interval: float
    state_dir: Path
    data_path: str = "auto"  # auto | no_columnar | rows (dmt.paths.choose)

    def selects(self, table: str) -> bool:
        """Whether ``table`` passes include_tables / exclude_tables."""
        if self.include_tables and not any(
            fnmatch.fnmatchcase(table, g) for g in self.include_tables
        ):
            return False
        return not any(fnmatch.fnmatchcase(table, g) for g in self.exclude_tables)


@dataclass(frozen=True)
class AIConfig:
    """The ``ai:`` section. ``api_key`` never appears in repr."""

    provider: str
    api_key: str | None = field(repr=False)
    model: str
    base_url: str | None
    timeout: float
    cache_ttl: float
    min_call_interval: float
    breaker_failures: int
    breaker_reset: float


@dataclass(frozen=True)
class TypeOverrides:
    """User-forced target types: per ``table.column``, or per source type name."""

    columns: Mapping[str, str] = field(default_factory=dict)
    types: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """The whole validated configuration, built once by :func:`load_config`."""

    source: Endpoint
    target: Endpoint
    migration: MigrationConfig
    ai: AIConfig
    type_overrides: TypeOverrides = field(default_factory=TypeOverrides)

    def secrets(self) -> list[str]:
        """Every secret value in this config, for log redaction."""
        values = [self.source.password, self.target.password, self.ai.api_key]
        return [v for v in values if v]


# ---------------------------------------------------------------------------------- parsing

_REF = re.compile(r"\$\{(env|file):([^}]*)\}")


def _expand(value: Any, key: str, base_dir: Path) -> Any:
    """Expand ``${env:X}`` and ``${file:path}`` in every scalar string, recursively."""
    if isinstance(value, dict):
        return {k: _expand(v, f"{key}.{k}" if key else str(k), base_dir) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, f"{key}[{i}]", base_dir) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def sub(m: re.Match[str]) -> str:
        kind, name = m.group(1), m.group(2).strip()
        if kind == "env":
            if name not in os.environ:
                raise ConfigError(key, f"environment variable `{name}` is not set")
            return os.environ[name]
        path = (base_dir / os.path.expanduser(name)).resolve()
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(key, f"cannot read file `{name}` ({exc.strerror})") from None

    return _REF.sub(sub, value)


def _did_you_mean(key: str, known: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean `{close[0]}`?" if close else ""
    return f"unknown key `{key}`{hint} (known: {', '.join(known)})"


def _check_keys(section: Mapping[str, Any], known: tuple[str, ...] | list[str], path: str) -> None:
    for k in section:
        if k not in known:
            raise ConfigError(f"{path}.{k}" if path else str(k), _did_you_mean(str(k), known))


def parse_duration(value: Any, key: str) -> float:
    """``30s``, ``2m``, ``1h``, ``500ms`` or a plain number of seconds."""
    if isinstance(value, bool):
        raise ConfigError(key, f"`{value}` is not a duration (use 30s, 2m, 1h or seconds)")
    if isinstance(value, int | float):
        return float(value)
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*", str(value))
    if not m:
        raise ConfigError(key, f"`{value}` is not a duration (use 30s, 2m, 1h or seconds)")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]
    return float(m.group(1)) * scale


def _coerce(opt: Opt, value: Any, key: str) -> Any:
    if opt.kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(key, f"`{value}` is not a boolean (use true or false)")
        return value
    if opt.kind in ("int", "mb"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, f"`{value}` is not a whole number")
        out: Any = value
    elif opt.kind == "duration":
        out = parse_duration(value, key)
    elif opt.kind == "choice":
        if value not in opt.choices:
            raise ConfigError(key, f"`{value}` is not one of {', '.join(opt.choices)}")
        return value
    elif opt.kind == "globs":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(key, f"`{value}` is not a list of table-name globs")
        return tuple(value)
    elif opt.kind == "path":
        if not isinstance(value, str) or not value:
            raise ConfigError(key, f"`{value}` is not a folder path")
        return Path(os.path.expanduser(value))
    else:
        if value is not None and not isinstance(value, str):
            raise ConfigError(key, f"`{value}` is not a string")
        return value
    if opt.min is not None and out < opt.min:
        raise ConfigError(key, f"{value} is below the minimum {_num(opt.min)}")
    if opt.max is not None and out > opt.max:
        raise ConfigError(key, f"{value} is above the maximum {_num(opt.max)}")
    return out


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _section(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigError(name, f"must be a mapping of keys, not `{value}`")
    return value


def _options(section: Mapping[str, Any], opts: dict[str, Opt], path: str) -> dict[str, Any]:
    _check_keys(section, list(opts), path)
    out = {}
    for name, opt in opts.items():
        key = f"{path}.{name}"
        if section.get(name) is not None:
            out[name] = _coerce(opt, section[name], key)
        elif opt.kind == "path":
            out[name] = Path(os.path.expanduser(opt.default))
        else:
            out[name] = opt.default
    return out


def _parse_url(url: str, key: str) -> dict[str, Any]:
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0].lower()
    if scheme not in ENGINE_ALIASES:
        raise ConfigError(key, f"unknown engine `{scheme}` in url (known: {_engine_list()})")
    engine = ENGINE_ALIASES[scheme]
    if engine == "sqlite":
        path = url.split(":", 1)[1]
        path = (
            path[3:]
            if path.startswith("///")
            else path.lstrip("/")
            if path.startswith("//")
            else path
        )
        return {"type": engine, "path": unquote(path)}
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(key, "the port in the url is not a number") from None
    query = parse_qs(parts.query)
    return {
        "type": engine,
        "host": parts.hostname,
        "port": port,
        "database": unquote(parts.path.lstrip("/")) or None,
        "user": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "schema": query.get("schema", [None])[0],
    }


def _engine_list() -> str:
    return ", ".join(sorted(ENGINE_ALIASES))


def _endpoint(raw: Mapping[str, Any], side: str, base_dir: Path) -> Endpoint:
    if side not in raw or raw[side] is None:
        raise ConfigError(side, "missing section (needs at least `type`, or a `url`)")
    sec = _section(raw, side)
    _check_keys(sec, ENDPOINT_KEYS, side)
    values = dict(sec)
    if values.get("url"):
        if not isinstance(values["url"], str):
            raise ConfigError(f"{side}.url", "must be a string")
        from_url = _parse_url(values.pop("url"), f"{side}.url")
        values = {**from_url, **{k: v for k, v in values.items() if v is not None}}
    kind = values.get("type")
    if kind is None:
        raise ConfigError(f"{side}.type", f"missing (one of {_engine_list()})")
    engine = ENGINE_ALIASES.get(str(kind).lower())
    if engine is None:
        close = difflib.get_close_matches(str(kind).lower(), list(ENGINE_ALIASES), n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        raise ConfigError(
            f"{side}.type", f"unknown engine `{kind}`{hint} (known: {_engine_list()})"
        )
    for name in ("host", "database", "user", "password", "schema", "path"):
        v = values.get(name)
        if v is not None and not isinstance(v, str | int):
            raise ConfigError(f"{side}.{name}", f"`{v}` is not a string")
        if v is not None:
            values[name] = str(v)
    if engine == "sqlite":
        if not values.get("path"):
            raise ConfigError(f"{side}.path", "missing: a SQLite endpoint needs the file path")
        path = values["path"]
        if path != ":memory:":
            path = str((base_dir / os.path.expanduser(path)).resolve())
        return Endpoint(engine="sqlite", path=path)
    port = values.get("port", DEFAULT_PORTS[engine])
    if port is None:
        port = DEFAULT_PORTS[engine]
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(f"{side}.port", f"`{port}` is not a port number (1-65535)")
    if not values.get("database"):
        raise ConfigError(f"{side}.database", f"missing: a {engine} endpoint needs a database")
    schema = values.get("schema") or ("public" if engine == "postgres" else None)
    return Endpoint(
        engine=engine,
        host=values.get("host") or "127.0.0.1",
        port=port,
        database=values["database"],
        user=values.get("user") or ("postgres" if engine == "postgres" else "root"),
        password=values.get("password"),
        schema=schema,
    )


def _type_overrides(raw: Mapping[str, Any]) -> TypeOverrides:
    sec = _section(raw, "type_overrides")
    _check_keys(sec, ("columns", "types"), "type_overrides")
    out: dict[str, dict[str, str]] = {}
    for part in ("columns", "types"):
        m = sec.get(part) or {}
        if not isinstance(m, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in m.items()
        ):
            raise ConfigError(f"type_overrides.{part}", "must map names to target type strings")
        if part == "columns":
            for k in m:
                if "." not in k:
                    raise ConfigError(
                        f"type_overrides.columns.{k}", "must be written `table.column`"
                    )
        out[part] = {k.lower() if part == "types" else k: v for k, v in m.items()}
    return TypeOverrides(columns=out["columns"], types=out["types"])


def build_config(raw: Any, base_dir: Path | None = None) -> Config:
    """Validate a parsed YAML document into a :class:`Config`."""
    base_dir = base_dir or Path.cwd()
    if not isinstance(raw, dict):
        raise ConfigError("", "the config file must be a YAML mapping with `source` and `target`")
    _check_keys(raw, TOP_KEYS, "")
    raw = _expand(raw, "", base_dir)
    migration = _options(_section(raw, "migration"), MIGRATION_OPTIONS, "migration")
    if migration["max_memory_mb"] is None:
        migration["max_memory_mb"] = default_memory_mb()
    if migration["write_ahead_writers"] is None:
        migration["write_ahead_writers"] = default_writers()
    if migration["parallel_readers"] is None:
        migration["parallel_readers"] = default_readers()
    ai_raw = dict(_section(raw, "ai"))
    if ai_raw.get("provider") is None and os.environ.get("DMT_AI_PROVIDER"):
        ai_raw["provider"] = os.environ["DMT_AI_PROVIDER"].strip().lower()
    if ai_raw.get("api_key") is None and os.environ.get("DMT_AI_API_KEY"):
        ai_raw["api_key"] = os.environ["DMT_AI_API_KEY"]
    ai = _options(ai_raw, AI_OPTIONS, "ai")
    source = _endpoint(raw, "source", base_dir)
    target = _endpoint(raw, "target", base_dir)
    if source == target:
        raise ConfigError("target", "is the same database as the source")
    return Config(
        source=source,
        target=target,
        migration=MigrationConfig(**migration),
        ai=AIConfig(**ai),
        type_overrides=_type_overrides(raw),
    )


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML config file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            "", f"config file `{p}` does not exist (create one with `dmt init`)"
        ) from None
    except OSError as exc:
        raise DmtIOError(f"cannot read config file `{p}`: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError("", f"`{p}` is not valid YAML{where}: {problem}") from None
    return build_config(raw, p.parent.resolve())


def reference_rows() -> list[tuple[str, str, str, str]]:
    """(key, default, bounds, meaning) for every option: the README's config reference."""
    rows = []
    sections: list[tuple[str, dict[str, Opt]]] = [
        ("migration", MIGRATION_OPTIONS),
        ("ai", AI_OPTIONS),
    ]
    for sec, opts in sections:
        for name, opt in opts.items():
            bounds = (
                " / ".join(opt.choices)
                if opt.choices
                else f"{_num(opt.min)}–{_num(opt.max)}"
                if opt.min is not None and opt.max is not None
                else ""
            )
            default = "" if opt.default is None else str(opt.default)
            if isinstance(opt.default, bool):
                default = str(opt.default).lower()
            elif isinstance(opt.default, tuple):
                default = "[]"
            elif opt.kind == "duration":
                default = f"{_num(opt.default)}s"
            rows.append((f"{sec}.{name}", default, bounds, opt.doc))
    return rows
