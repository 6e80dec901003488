"""PostgreSQL's data-path hooks: type spellings compared across a COPY pass-through, and the
columnar hooks (ADBC reads and ingests Arrow batches)."""

from __future__ import annotations

import re
from typing import Any, ClassVar

from dmt.dialects.base import Dialect
from dmt.errors import TransferError, first_line
from dmt.model.schema import Column

# PostgreSQL types whose binary form is the same on both sides of the mapping (format_type
# spellings, parameters stripped); arrays of them too. Anything else takes another path.
_BINARY_SAFE = {
    "smallint", "integer", "bigint", "boolean", "real", "double precision", "numeric",
    "character varying", "character", "text", "bytea", "date", "time without time zone",
    "timestamp without time zone", "timestamp with time zone", "interval", "uuid", "json",
    "jsonb",
}  # fmt: skip
_PARAMS = re.compile(r"\(\d+(?:,\d+)?\)")
_ALIASES = (
    (re.compile(r"^varchar\b"), "character varying"),
    (re.compile(r"^timestamptz(\(\d+\))?$"), r"timestamp\1 with time zone"),
    (re.compile(r"^timestamp(\(\d+\))?$"), r"timestamp\1 without time zone"),
    (re.compile(r"^time(\(\d+\))?$"), r"time\1 without time zone"),
    (re.compile(r"\(6\)"), ""),  # microseconds are the default precision
)
_DIGEST_SETTINGS = (
    "SET TimeZone TO 'UTC'", "SET DateStyle TO 'ISO, YMD'", "SET IntervalStyle TO 'postgres'",
    "SET extra_float_digits TO 3", "SET bytea_output TO 'hex'",
)  # fmt: skip
# target type (normalized, parameters stripped) -> the kind an ingested Arrow column takes
_INGEST = {
    "smallint": "int16",
    "integer": "int32",
    "bigint": "int64",
    "double precision": "float64",
    "character varying": "varchar",
    "character": "char",
    "text": "text",
    "bytea": "blob",
    "date": "date",
    "timestamp without time zone": "timestamp",
    "boolean": "boolean",
}


def normalize(pg_type: str) -> str:
    """One spelling per PostgreSQL type, so a rendered type compares with ``format_type()``."""
    t = pg_type.strip().lower()
    for pattern, repl in _ALIASES:
        t = pattern.sub(repl, t)
    return t


def base_type(pg_type: str) -> str:
    """The type without its parameters, in :func:`normalize`'s spelling: ``numeric``."""
    return _PARAMS.sub("", normalize(pg_type)).strip()


#: kinds whose values the row path reads as text, and the PostgreSQL types that are text
_AS_TEXT = {"text", "varchar", "char", "enum"}
_TEXT_TYPES = {"text", "character varying", "character", "varchar", "char", "bpchar", "name"}


class PostgresColumnar(Dialect):
    """The data-path hooks of :class:`~dmt.dialects.postgres.PostgresDialect`."""

    columnar_reader: ClassVar[str | None] = "adbc"
    columnar_modules = ("adbc_driver_postgresql.dbapi",)
    columnar_writer: ClassVar[str | None] = "adbc"

    def type_base(self, sql_type: str) -> str:
        return base_type(sql_type)

    def columnar_select_expr(self, col: Column) -> str:
        """A column carried as its text form (an enum, a range, a composite, ``tsvector``...)
        is read as text: the ADBC reader has no Arrow type for it."""
        q = self.quote(col.name)
        declared = col.type.source.split("(")[0].strip()
        if col.type.kind in _AS_TEXT and declared not in _TEXT_TYPES:
            return f"{q}::text AS {q}"
        return q

    def same_type(self, a: str, b: str) -> bool:
        return normalize(a) == normalize(b)

    def binary_copy_safe(self, sql_type: str) -> bool:
        return base_type(normalize(sql_type).removesuffix("[]")) in _BINARY_SAFE

    def columnar_url(self) -> str:
        return self._endpoint_url("postgresql", 5432)

    def columnar_connect(self) -> Any:
        import adbc_driver_postgresql.dbapi as pgdb

        try:
            conn = pgdb.connect(self.columnar_url())
            with conn.cursor() as cur:  # for stall detection: the session to ask about
                cur.execute("SELECT pg_backend_pid()")
                row = cur.fetchone()
            conn.commit()
        except Exception as exc:
            raise TransferError(
                f"ADBC could not connect to {self.endpoint.describe()}: {first_line(exc)}"
            ) from None
        conn.dmt_session = int(row[0]) if row else None
        return conn

    def columnar_kind(self, sql_type: str) -> str | None:
        return _INGEST.get(base_type(sql_type))

    def chunk_digest(self, select: str) -> tuple[tuple[str, ...], str] | None:
        """Each row's text (``ROW(r.*)::text``; a bare ``r`` would be a column named r) hashed
        by ``hashtextextended`` (64 bits), summed as numeric (no overflow, order-independent):
        a changed row goes unnoticed only if its hash is unchanged (2^-64). About what ``COPY
        TO`` costs the server (md5 costs 3.5 times that; a second seed 40 % more). The settings
        pin the text of time zones, dates, intervals, floats (shortest exact) and bytea."""
        sql = (
            "SELECT count(*), coalesce(sum(hashtextextended(t, 0)), 0) "
            f"FROM (SELECT ROW(r.*)::text AS t FROM ({select}) AS r) AS d"
        )
        return _DIGEST_SETTINGS, sql

    def columnar_guard(self, col: Column) -> str | None:
        if col.type.kind in ("date", "timestamp"):
            return f"isfinite({self.quote(col.name)})"  # ±infinity: the row path clamps them
        return None
