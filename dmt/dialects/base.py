"""The one small protocol every engine implements, and the registry that finds them.

A dialect knows its driver, its SQL spelling and its type mapping; nothing of the pipeline or
the monitor. Drivers are imported inside :meth:`Dialect.connect`, so ``dmt --help`` and a
SQLite-only run never import psycopg or PyMySQL. Driver exceptions are translated here, once,
into :mod:`dmt.errors`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import importlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from dmt.config import Endpoint, MigrationConfig
from dmt.errors import ConfigError
from dmt.schema.model import Check, Column, ColumnType, ForeignKey, Index, Schema, Table

log = logging.getLogger("dmt")

Row = tuple[Any, ...]
Converter = Callable[[Any], Any]
Fetch = Callable[[int], list[Row]]


@dataclass(frozen=True)
class TypeChoice:
    """A rendered target type and, when the mapping is lossy, why."""

    sql: str
    warning: str | None = None


@dataclass(frozen=True)
class ValueOptions:
    """How a dialect treats values with no exact counterpart (``migration.zero_dates`` and
    ``migration.nul_bytes``); built from the config by :func:`value_options`."""

    zero_dates: str = "null"  # null | error: MySQL zero dates read as NULL, or fail the table
    nul_bytes: str = "error"  # error | strip: NUL in text bound for PostgreSQL


@dataclass
class ValueCounters:
    """Values converted on the way, by reason (e.g. ``zero_date->null``): the run summary.

    Readers and writers of several threads count into one instance, hence the lock."""

    counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.counts[reason] = self.counts.get(reason, 0) + n


def format_timedelta(v: dt.timedelta, pad_hours: bool = False) -> str:
    """``[-]H:MM:SS[.ffffff]`` (hours may exceed 24; two digits at least with ``pad_hours``):
    the TIME literal MySQL reads, and the text SQLite stores."""
    us = abs(v.days * 86_400_000_000 + v.seconds * 1_000_000 + v.microseconds)
    sign = "-" if v < dt.timedelta(0) else ""
    secs, frac = divmod(us, 1_000_000)
    h, rest = divmod(secs, 3600)
    hours = f"{h:02d}" if pad_hours else str(h)
    text = f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{text}.{frac:06d}" if frac else text


class Dialect:
    """Base class: one subclass per engine overrides only its differences.

    Capabilities (class attributes) are what the rest of dmt may branch on; nothing outside
    ``dialects/`` branches on the engine name.
    """

    name: ClassVar[str] = ""
    #: the ``paramstyle`` placeholder for one bound value
    placeholder: ClassVar[str] = "%s"
    max_identifier_length: ClassVar[int] = 63
    #: identifiers compared by bytes (PostgreSQL) or characters (MySQL)
    identifier_length_in_bytes: ClassVar[bool] = False
    transactional_ddl: ClassVar[bool] = False
    supports_schemas: ClassVar[bool] = False
    max_bind_params: ClassVar[int] = 65535
    #: a native bulk path exists (COPY, LOAD DATA); otherwise batched INSERTs
    supports_bulk_load: ClassVar[bool] = False
    #: the largest precision of an exact decimal
    max_decimal_precision: ClassVar[int] = 65
    #: foreign keys and checks must be declared in CREATE TABLE (SQLite cannot ALTER them in)
    inline_constraints: ClassVar[bool] = False
    #: ``Foo`` and ``foo`` name the same table or column
    case_insensitive_names: ClassVar[bool] = True
    #: an index may cover a prefix of a column (MySQL ``KEY (name(10))``)
    supports_prefix_indexes: ClassVar[bool] = False

    def __init__(self, endpoint: Endpoint, side: str, options: ValueOptions | None = None) -> None:
        self.endpoint = endpoint
        self.side = side  # "source" or "target", for messages
        self.options = options or ValueOptions()

    # ------------------------------------------------------------------ connections
    def connect(self) -> Any:
        """A new DB-API connection (autocommit off). Raises ConnectError."""
        raise NotImplementedError

    def server_version(self, conn: Any) -> str:
        raise NotImplementedError

    def ping(self, conn: Any) -> None:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        cur.fetchall()
        cur.close()

    # ------------------------------------------------------------------ SQL spelling
    #
    # SQL text dmt builds is always executed with a parameter tuple (possibly empty) through
    # :meth:`execute`, so with a ``%s`` paramstyle every literal ``%`` in it is doubled: in
    # quoted names, string literals and expressions alike (psycopg and PyMySQL both merge
    # parameters, and un-double ``%%``, whenever a tuple is passed, even an empty one).

    def sql_text(self, text: str) -> str:
        """``text`` made safe for this driver's parameter merging."""
        return text.replace("%", "%%") if self.placeholder == "%s" else text

    def quote(self, ident: str) -> str:
        return self.sql_text('"' + ident.replace('"', '""') + '"')

    def literal(self, value: str) -> str:
        """A string literal."""
        return self.sql_text("'" + value.replace("'", "''") + "'")

    def execute(self, cur: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run dmt-built SQL; always with a tuple, so ``%%`` means ``%`` consistently."""
        return cur.execute(sql, tuple(params))

    def qualified(self, table: str) -> str:
        """The table name as it appears in SQL, schema-qualified where the engine has schemas."""
        if self.supports_schemas and self.endpoint.schema:
            return f"{self.quote(self.endpoint.schema)}.{self.quote(table)}"
        return self.quote(table)

    def column_list(self, names: Sequence[str]) -> str:
        return ", ".join(self.quote(n) for n in names)

    # ------------------------------------------------------------------ schema
    def reflect(self, conn: Any, select: Callable[[str], bool]) -> Schema:
        """Every base table that ``select`` accepts, in the engine-neutral model."""
        raise NotImplementedError

    def render_type(self, ctype: ColumnType, where: str) -> TypeChoice:
        """The target SQL type for a canonical type; ``where`` is ``table.column``."""
        raise NotImplementedError

    def render_default(self, col: Column, sql_type: str) -> str | None:
        """The target spelling of a portable default (see :class:`Column`)."""
        from dmt.schema.expr import is_string, unquote

        d = col.default
        if d is None or col.autoincrement:
            return None
        if col.type.kind == "boolean" and d in ("TRUE", "FALSE", "0", "1", "'t'", "'f'"):
            return self.bool_literal(d in ("TRUE", "1", "'t'"))
        if d in ("TRUE", "FALSE"):
            return "1" if d == "TRUE" else "0"
        if is_string(d):
            return self.literal(unquote(d))
        if d.startswith("CURRENT_"):
            return self.now_default(d, col.type)
        return d

    def bool_literal(self, value: bool) -> str:
        return "1" if value else "0"

    def now_default(self, which: str, ctype: ColumnType) -> str:
        """``CURRENT_TIMESTAMP`` / ``CURRENT_DATE`` / ``CURRENT_TIME`` as a column default."""
        return which

    def column_ddl(self, col: Column, sql_type: str, in_pk: bool, single_pk: bool) -> str:
        parts = (
            [self.quote(col.name), self.sql_text(sql_type)] if sql_type else [self.quote(col.name)]
        )
        if col.default is not None and not col.autoincrement:
            parts.append(f"DEFAULT {col.default}")
        if not col.nullable or in_pk:
            parts.append("NOT NULL")
        return " ".join(parts)

    def create_table_sql(self, table: Table, types: dict[str, str]) -> list[str]:
        """CREATE TABLE with columns and primary key only (indexes come after the load);
        with :attr:`inline_constraints`, also its foreign keys and checks.

        ``table`` is a target table: its defaults and checks are already in this dialect's
        spelling (see :func:`dmt.schema.translate.translate`)."""
        single_pk = len(table.primary_key) == 1
        cols = [
            self.column_ddl(c, types[c.name], c.name in table.primary_key, single_pk)
            for c in table.columns
        ]
        if table.primary_key and not self._pk_inline(table, types):
            cols.append(f"PRIMARY KEY ({self.column_list(table.primary_key)})")
        if self.inline_constraints:
            cols += [self._fk_clause(fk) for fk in table.foreign_keys]
            cols += [self._check_clause(ck) for ck in table.checks]
        return [f"CREATE TABLE {self.qualified(table.name)} (\n  " + ",\n  ".join(cols) + "\n)"]

    def _fk_clause(self, fk: ForeignKey) -> str:
        name = f"CONSTRAINT {self.quote(fk.name)} " if fk.name else ""
        sql = (
            f"{name}FOREIGN KEY ({self.column_list(fk.columns)}) "
            f"REFERENCES {self.qualified(fk.ref_table)} ({self.column_list(fk.ref_columns)})"
        )
        if fk.on_delete:
            sql += f" ON DELETE {fk.on_delete}"
        if fk.on_update:
            sql += f" ON UPDATE {fk.on_update}"
        return sql

    def _check_clause(self, check: Check) -> str:
        name = f"CONSTRAINT {self.quote(check.name)} " if check.name else ""
        return f"{name}CHECK ({check.sqltext})"

    def adapt_table(self, table: Table, types: dict[str, str]) -> list[str]:
        """Adjust a planned target table to this engine's limits (in place); return a warning
        for every lossy adjustment. The base drops MySQL index prefix lengths."""
        warnings = []
        if not self.supports_prefix_indexes:
            for group in (table.uniques, table.indexes):
                for i, idx in enumerate(group):
                    if any(idx.lengths):
                        group[i] = replace(idx, lengths=())
                        warnings.append(
                            f"{table.name}: index `{idx.name}` covered column prefixes; "
                            "it covers the whole columns on the target"
                        )
        return warnings

    def _pk_inline(self, table: Table, types: dict[str, str]) -> bool:
        """Whether column_ddl already declared the primary key (SQLite rowid aliases)."""
        return False

    def drop_table_sql(self, name: str) -> str:
        return f"DROP TABLE IF EXISTS {self.qualified(name)}"

    def truncate_sql(self, name: str) -> str:
        return f"TRUNCATE TABLE {self.qualified(name)}"

    def truncate_tables_sql(self, names: Sequence[str]) -> list[str]:
        """Statements emptying all of ``names`` (tables referencing each other included)."""
        return [self.truncate_sql(n) for n in names]

    def existing_tables(self, conn: Any) -> set[str]:
        raise NotImplementedError

    # ------------------------------------------------------------------ reading
    def decoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        """Per column: driver value -> canonical Python value (None = already canonical)."""
        return [None] * len(table.columns)

    def select_sql(self, table: Table, key: Sequence[str], lower: bool, upper: bool) -> str:
        """SELECT all columns with an optional exclusive lower / inclusive upper key bound."""
        where = []
        if lower:
            where.append(self._row_compare(key, ">"))
        if upper:
            where.append(self._row_compare(key, "<="))
        cols = ", ".join(self.select_expr(c) for c in table.columns)
        sql = f"SELECT {cols} FROM {self.qualified(table.name)}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if key:
            sql += f" ORDER BY {self.column_list(key)}"
        return sql

    def select_expr(self, col: Column) -> str:
        """How a column is read: the column itself, unless the driver cannot return it exactly."""
        return self.quote(col.name)

    def _row_compare(self, key: Sequence[str], op: str) -> str:
        if len(key) == 1:
            return f"{self.quote(key[0])} {op} {self.placeholder}"
        marks = ", ".join([self.placeholder] * len(key))
        return f"({self.column_list(key)}) {op} ({marks})"

    @contextlib.contextmanager
    def stream(self, conn: Any, sql: str, params: Sequence[Any]) -> Iterator[Fetch]:
        """Run ``sql`` without materialising its result; yield its ``fetchmany(n)``."""
        cur = conn.cursor()
        try:
            self.execute(cur, sql, params)
            yield cur.fetchmany
        finally:
            cur.close()
            conn.commit()

    def key_boundaries(self, conn: Any, table: Table, key: Sequence[str], every: int) -> list[Row]:
        """Every ``every``-th key in key order: the upper bounds of all chunks but the last."""
        cols = self.column_list(key)
        sql = (
            f"SELECT {cols} FROM (SELECT {cols}, ROW_NUMBER() OVER (ORDER BY {cols}) AS dmt_rn "
            f"FROM {self.qualified(table.name)}) dmt_k WHERE MOD(dmt_rn, {int(every)}) = 0 "
            f"ORDER BY {cols}"
        )
        cur = conn.cursor()
        self.execute(cur, sql)
        out = [tuple(r) for r in cur.fetchall()]
        cur.close()
        conn.commit()
        return out

    def key_stats(self, conn: Any, table: Table, col: str) -> tuple[Any, Any, int]:
        """MIN and MAX of one key column, and the row count: the engine's estimate from the
        reflected schema where it has one (an exact COUNT(*) scans the whole table: 0.1-0.2 s
        of a 2M-row copy), else COUNT(*). The count only sizes the key ranges: a wrong estimate
        makes ranges hold more or fewer rows, never loses one (a range with more rows than
        chunk_size is still read in batches of chunk_size). Each aggregate is its own subquery:
        SQLite answers a lone MIN or MAX from the index end but scans the whole table for
        ``SELECT MIN(k), MAX(k)`` (0.43 s against 0.05 s on a 2M-row table)."""
        q, t = self.quote(col), self.qualified(table.name)
        exact = table.row_estimate <= 0
        count = f", (SELECT COUNT(*) FROM {t})" if exact else ""
        cur = conn.cursor()
        self.execute(cur, f"SELECT (SELECT MIN({q}) FROM {t}), (SELECT MAX({q}) FROM {t}){count}")
        lo, hi, *n = cur.fetchone()
        cur.close()
        conn.commit()
        return lo, hi, int(n[0]) if exact else table.row_estimate

    def count_rows(self, conn: Any, table: str) -> int:
        cur = conn.cursor()
        self.execute(cur, f"SELECT COUNT(*) FROM {self.qualified(table)}")
        (n,) = cur.fetchone()
        cur.close()
        conn.commit()
        return int(n)

    # ------------------------------------------------------------------ writing
    def encoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        """Per column: canonical Python value -> what this driver's bulk path takes."""
        return [None] * len(table.columns)

    def write_rows(self, conn: Any, table: Table, rows: Sequence[Row]) -> int:
        """Load ``rows`` through the native bulk path and commit; return rows written."""
        raise NotImplementedError

    def begin_load(self, conn: Any) -> None:
        """Session settings for a writer connection (e.g. SQLite pragmas)."""

    def end_load(self, conn: Any) -> None:
        """Undo :meth:`begin_load`."""

    def delete_range(
        self, conn: Any, table: Table, key: Sequence[str], lower: Row | None, upper: Row | None
    ) -> int:
        """Delete target rows with ``lower < key <= upper`` (all rows when ``key`` is empty)."""
        sql = f"DELETE FROM {self.qualified(table.name)}"
        where, params = [], []
        if key and lower is not None:
            where.append(self._row_compare(key, ">"))
            params += list(lower)
        if key and upper is not None:
            where.append(self._row_compare(key, "<="))
            params += list(upper)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return self._execute_count(conn, sql, params)

    def delete_keys(self, conn: Any, table: Table, key: Sequence[str], keys: Sequence[Row]) -> int:
        """Delete the target rows whose key is one of ``keys``."""
        if not keys:
            return 0
        if len(key) == 1:
            marks = ", ".join([self.placeholder] * len(keys))
            cond = f"{self.quote(key[0])} IN ({marks})"
        else:
            one = "(" + ", ".join([self.placeholder] * len(key)) + ")"
            cond = f"({self.column_list(key)}) IN ({', '.join([one] * len(keys))})"
        params = [v for k in keys for v in k]
        return self._execute_count(
            conn, f"DELETE FROM {self.qualified(table.name)} WHERE {cond}", params
        )

    def _execute_count(self, conn: Any, sql: str, params: Sequence[Any]) -> int:
        cur = conn.cursor()
        try:
            self.execute(cur, sql, params)
            n = cur.rowcount
        finally:
            cur.close()
        conn.commit()
        return max(0, int(n))

    # ------------------------------------------------------------------ after the load
    def index_sql(self, table: Table, index: Index) -> str:
        unique = "UNIQUE " if index.unique else ""
        return (
            f"CREATE {unique}INDEX IF NOT EXISTS {self.quote(index.name)} "
            f"ON {self.qualified(table.name)} "
            f"({self.column_list(index.columns)})"
        )

    def foreign_key_sql(self, table: Table, fk: ForeignKey) -> str:
        """ALTER TABLE ... ADD FOREIGN KEY; empty when :attr:`inline_constraints`."""
        if self.inline_constraints:
            return ""
        return f"ALTER TABLE {self.qualified(table.name)} ADD {self._fk_clause(fk)}"

    def check_sql(self, table: Table, check: Check) -> str:
        """ALTER TABLE ... ADD CHECK; empty when :attr:`inline_constraints`."""
        if self.inline_constraints:
            return ""
        return f"ALTER TABLE {self.qualified(table.name)} ADD {self._check_clause(check)}"

    def reset_sequence_sql(self, conn: Any, table: Table) -> list[str]:
        """Statements that make the next generated key max+1."""
        return []

    def translate_error(self, exc: BaseException) -> str:
        """One line describing a driver error, without secrets."""
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

    # ================================================================== data-path capabilities
    #
    # What :func:`dmt.paths.choose.choose` reads to pick a table's data path, and the hooks the
    # paths call. Default: not capable. The columnar hooks are implemented per engine in
    # ``dmt/dialects/<engine>/columnar.py``.

    #: reads and writes PostgreSQL's binary COPY format (a pass-through needs it on both sides)
    copy_binary_passthrough: ClassVar[bool] = False
    #: streams PostgreSQL's text COPY format out (``COPY (SELECT …) TO STDOUT``)
    text_copy_out: ClassVar[bool] = False
    #: loads tab-separated text with backslash escapes and ``\N`` for NULL (:meth:`load_tsv`)
    tsv_load: ClassVar[bool] = False
    #: the library that reads this engine into Arrow batches: "connectorx", "adbc" or None
    columnar_reader: ClassVar[str | None] = None
    #: the library that loads Arrow batches into this engine: "adbc" or None
    columnar_writer: ClassVar[str | None] = None

    def type_base(self, sql_type: str) -> str:
        """A type's name in one spelling, parameters stripped (``varchar(20)`` -> ``varchar``)."""
        return sql_type.strip().lower().split("(")[0].split(" ")[0]

    def same_type(self, a: str, b: str) -> bool:
        """Whether two spellings name the same type, parameters included."""
        return a.strip().lower() == b.strip().lower()

    def binary_copy_safe(self, sql_type: str) -> bool:
        """Whether a column of this type has the same binary COPY form on both sides of a
        pass-through between two engines with :attr:`copy_binary_passthrough`."""
        return False

    def copy_statement(self, sql: str) -> str:
        """``sql`` for a COPY run without parameters (with :attr:`copy_binary_passthrough`)."""
        raise NotImplementedError

    def local_infile_usable(self, conn: Any) -> bool:
        """Whether :meth:`load_tsv` works on this (target) connection."""
        return False

    def load_tsv(self, conn: Any, table: Table, write: Callable[[Any], None], expected: int) -> int:
        """Load the tab-separated rows ``write`` puts in a file and commit (:attr:`tsv_load`)."""
        raise NotImplementedError

    def columnar_available(self) -> bool:
        """Whether the libraries of :attr:`columnar_reader` / :attr:`columnar_writer` import."""
        return False

    def columnar_url(self) -> str | None:
        """The endpoint as the columnar libraries take it; None when it cannot be spelled."""
        return None

    def columnar_connect(self) -> Any:
        """A new ADBC connection (``columnar_reader`` or ``columnar_writer`` "adbc")."""
        raise NotImplementedError

    def columnar_kind(self, sql_type: str) -> str | None:
        """The canonical kind an Arrow column takes to be ingested into a column of this
        (target) type; None when the columnar writer does not carry it."""
        return None

    def columnar_carries(self, col: Column) -> bool:
        """Whether the columnar reader delivers this source column as the row path would."""
        return True

    def columnar_select_expr(self, col: Column) -> str:
        """How the columnar reader selects a column (the reader must not fail on a value)."""
        return self.quote(col.name)

    def columnar_guard(self, col: Column) -> str | None:
        """A condition true where a non-NULL value of this column is read as the row path
        reads it; None when every value qualifies by its type alone."""
        return None

    def columnar_query(self, sql: str) -> str:
        """The columnar reader's SELECT as this engine's reader must receive it."""
        return sql

    def _endpoint_url(self, scheme: str, default_port: int) -> str:
        """``scheme://user:password@host:port/database``, each part URL-quoted."""
        from urllib.parse import quote

        ep = self.endpoint
        user = quote(ep.user or "", safe="")
        password = quote(ep.password, safe="") if ep.password else ""
        auth = f"{user}:{password}@" if ep.password else (f"{user}@" if user else "")
        host = ep.host or ""
        port = f":{ep.port or default_port}" if host else ""
        return f"{scheme}://{auth}{host}{port}/{quote(ep.database or '', safe='')}"


DIALECTS = {
    "postgres": "dmt.dialects.postgres:PostgresDialect",
    "mysql": "dmt.dialects.mysql:MySQLDialect",
    "sqlite": "dmt.dialects.sqlite:SQLiteDialect",
}


def value_options(migration: MigrationConfig) -> ValueOptions:
    """The value-conversion settings of the ``migration:`` section."""
    return ValueOptions(zero_dates=migration.zero_dates, nul_bytes=migration.nul_bytes)


def get_dialect(endpoint: Endpoint, side: str, options: ValueOptions | None = None) -> Dialect:
    """The dialect for an endpoint; an unknown engine lists the known ones."""
    spec = DIALECTS.get(endpoint.engine)
    if spec is None:
        close = difflib.get_close_matches(endpoint.engine, list(DIALECTS), n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        raise ConfigError(
            f"{side}.type",
            f"unknown engine `{endpoint.engine}`{hint} (known: {', '.join(DIALECTS)})",
        )
    module, cls = spec.split(":")
    dialect_cls: type[Dialect] = getattr(importlib.import_module(module), cls)
    return dialect_cls(endpoint, side, options)
