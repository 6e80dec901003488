"""The frozen sections of a :class:`Config`. Each field is one config key, declared once with
its default, bounds and meaning (:func:`~dmt.config.options.option`); the runtime knobs take
their bounds and meaning from :mod:`dmt.settings`."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dmt.config.endpoints import Endpoint
from dmt.config.options import option
from dmt.settings import (
    KNOBS,
    TABLES_IN_FLIGHT,
    default_memory_mb,
    default_readers,
    default_writers,
)

DEFAULT_AI_MODEL = "claude-haiku-4-5"
_CHUNK, _READERS, _BUFFERS, _WRITERS = (
    KNOBS[k] for k in ("chunk_size", "parallel_readers", "read_ahead_buffers", "writers")
)


@dataclass(frozen=True)
class MigrationConfig:
    """The ``migration:`` section."""

    tables_in_flight: int = option(
        4, "int", "tables copied at once", *TABLES_IN_FLIGHT, key="workers"
    )
    chunk_size: int = option(50_000, "int", _CHUNK.meaning, _CHUNK.low, _CHUNK.high)
    parallel_readers: int = option(
        None, "int", "concurrent key-range readers per large table; default: half the default "
        "writers, at least 1", _READERS.low, _READERS.high, factory=default_readers,
    )  # fmt: skip
    read_ahead_buffers: int = option(8, "int", _BUFFERS.meaning, _BUFFERS.low, _BUFFERS.high)
    write_ahead_writers: int = option(
        None, "int", "writer threads in the DynamicWriterPool; default: the CPU count, between "
        "2 and 4", _WRITERS.low, _WRITERS.high, factory=default_writers,
    )  # fmt: skip
    max_memory_mb: int = option(
        None, "mb", "memory budget for batches in flight; default: 1/8 of available, at most "
        "128", 64, 1 << 20, factory=default_memory_mb,
    )  # fmt: skip
    target_mode: str = option(
        "drop_recreate", "choice", "what to do with existing target tables",
        choices=("drop_recreate", "truncate", "append"),
    )  # fmt: skip
    include_tables: tuple[str, ...] = option(
        (), "globs", "copy only tables matching these globs (default: all)"
    )
    exclude_tables: tuple[str, ...] = option((), "globs", "skip tables matching these globs")
    create_indexes: bool = option(True, "bool", "create secondary indexes and unique constraints")
    create_foreign_keys: bool = option(True, "bool", "create foreign keys after the load")
    validate: str = option(
        "count", "choice", "check after the load", choices=("count", "checksum", "none")
    )
    identifier_case: str = option(
        "preserve", "choice", "keep names as they are, or fold to lower case",
        choices=("preserve", "lower"),
    )  # fmt: skip
    zero_dates: str = option(
        "null", "choice", "MySQL zero dates become NULL, or fail the run",
        choices=("null", "error"),
    )  # fmt: skip
    nul_bytes: str = option(
        "error", "choice", "NUL bytes in text bound for PostgreSQL: fail, or strip them",
        choices=("error", "strip"),
    )  # fmt: skip
    chunk_size_at: str = option(
        "table", "choice", "runtime chunk_size changes: `table` at the next table start; "
        "`chunk` at the next key range read (a larger chunk_size reads consecutive planned "
        "ranges as one)", choices=("table", "chunk"),
    )  # fmt: skip
    data_path: str = option(
        "auto", "choice", "how rows move: `auto` picks the fastest exact path per table; "
        "`no_columnar` never uses the columnar (Arrow) path; `rows` puts every table on the "
        "exact row path", choices=("auto", "no_columnar", "rows"),
    )  # fmt: skip
    consistency: str = option(
        "snapshot", "choice", "`snapshot`: every reader of the run (and the source side of "
        "validation) reads one moment of the source, so a copy of a live database is a copy "
        "of one moment of it; `none`: each reader reads whatever is committed when it reads",
        choices=("snapshot", "none"),
    )  # fmt: skip
    executor: str = option(
        "threads", "choice", "where key ranges are copied: `threads` of this process, or `ray` "
        "tasks on a Ray cluster (section `ray`; needs `pip install \"dmt[ray]\"`)",
        choices=("threads", "ray"),
    )  # fmt: skip
    ai_adjust: bool = option(False, "bool", "tune writers and chunk size while running")
    ai_adjust_interval: float = option(
        30.0, "duration", "seconds between adjustment decisions", 1, 3600
    )
    learn: bool = option(
        True,
        "bool",
        "start each table at the writers and chunk size learned from earlier "
        "copies of it (or of tables like it) kept in the state store; `dmt history --learned`",
    )
    metrics_port: int | None = option(
        None, "int", "serve live Prometheus metrics on this port during the run (as "
        "`--metrics-port`); default: none", 1, 65535,
    )  # fmt: skip
    metrics_host: str = option(
        "127.0.0.1", "str", "address the metrics port listens on (0.0.0.0: every interface)"
    )
    stall_timeout: float = option(
        300.0, "duration", "no batch committed for this long (or 10 times the slowest batch "
        "seen, if longer): the stuck query is named, cancelled and its chunk copied again",
        0.5, 86400,
    )  # fmt: skip
    statement_timeout: float = option(
        3600.0, "duration", "longest single statement after the copy (index, foreign key, "
        "sequence, validation query); 0: no limit", 0, 604800,
    )  # fmt: skip
    # option() returns a dataclasses.field: the Path is made per instance
    state_dir: Path = option("~/.dmt", "path", "folder of the state store (state.db)")  # noqa: RUF009

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

    provider: str = option(
        "claude", "choice", "claude, or none for rules only", choices=("claude", "none")
    )
    api_key: str | None = option(
        None, "str", "Anthropic API key; usually ${env:DMT_AI_API_KEY}", repr=False
    )
    model: str = option(DEFAULT_AI_MODEL, "str", "Claude model used for decisions")
    base_url: str | None = option(None, "str", "Messages API base URL (a proxy or a test server)")
    timeout: float = option(10.0, "duration", "seconds per API call; no SDK retries", 0.1, 300)
    cache_ttl: float = option(60.0, "duration", "reuse a decision for this long", 0, 3600)
    min_call_interval: float = option(
        30.0, "duration", "at least this long between API calls", 0, 3600
    )
    breaker_failures: int = option(
        3, "int", "consecutive failures that open the circuit breaker", 1, 100
    )
    breaker_reset: float = option(
        300.0, "duration", "seconds before an open breaker tries again", 1, 86400
    )


@dataclass(frozen=True)
class RayConfig:
    """The ``ray:`` section, read when ``migration.executor`` is ``ray``."""

    address: str = option(
        "auto", "str", "the Ray cluster: `auto` (the one `ray start` made, or RAY_ADDRESS), "
        "`local` (a private one on this machine for the run), `ray://host:port` (Ray Client) "
        "or the head's `host:port`",
    )  # fmt: skip
    range_retries: int = option(
        3, "int", "times a key range whose task failed or whose node died is copied again "
        "(as a resume: its rows are removed from the target first)", 0, 100,
    )  # fmt: skip


@dataclass(frozen=True)
class TypeOverrides:
    """User-forced target types: per ``table.column``, or per source type name."""

    columns: Mapping[str, str] = field(default_factory=dict)
    types: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    """The whole validated configuration, built once by :func:`~dmt.config.load_config`."""

    source: Endpoint
    target: Endpoint
    migration: MigrationConfig
    ai: AIConfig
    type_overrides: TypeOverrides = field(default_factory=TypeOverrides)
    ray: RayConfig = field(default_factory=RayConfig)

    def secrets(self) -> list[str]:
        """Every secret value in this config, for log redaction."""
        values = [self.source.password, self.target.password, self.ai.api_key]
        return [v for v in values if v]
