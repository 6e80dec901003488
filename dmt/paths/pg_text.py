"""Text pass-through: ``COPY (SELECT … ORDER BY key) TO STDOUT`` in PostgreSQL's text format
(a source with ``text_copy_out``), loaded as tab-separated text (a target with ``tsv_load``:
MySQL/MariaDB's ``LOAD DATA LOCAL INFILE``), no Python row objects.

The two text formats agree byte for byte on tab-separated fields, ``\\N`` for NULL and
backslash escapes, except for two escapes MySQL does not know (``\\f``, ``\\v``: rewritten to the
raw bytes). A column is carried only when, after MySQL unescapes it, the field is the value the
exact row path would deliver (the target's text form of the converted value):

- integers, ``numeric``, text, ``varchar``, ``char`` (padding included) and dates (DateStyle
  ISO) are the same bytes on both paths; booleans are selected as ``col::int`` (``1``/``0``);
- floats and timestamps are spelled differently (``100000`` / ``100000.0``, ``.5`` /
  ``.500000``) but parse to the same value, so only into a float / datetime column.

Values the row path converts (PostgreSQL ±infinity dates and timestamps are clamped, NaN and
±Infinity become NULL, both counted) or cannot read at all (BC dates, years past 9999) are looked
for before each chunk, in the same snapshot as its COPY; a chunk holding one takes the exact row
path instead (the path yields a :class:`~dmt.paths.base.RowFallback`). So does every chunk when
the target refuses LOCAL INFILE (asked once per table) or the source connection does not speak
UTF-8.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from dmt.dialects.base import Dialect
from dmt.model.job import TableJob
from dmt.model.ranges import Chunk
from dmt.model.schema import Column
from dmt.paths.base import RowFallback
from dmt.paths.columnar_support import InfileCheck
from dmt.paths.pg_copy import CopyBatch, copy_batches, copy_out
from dmt.schema.translate import TablePlan

log = logging.getLogger("dmt")

IDLE = 0  # psycopg.pq.TransactionStatus.IDLE, without importing the driver here

#: source types (format_type spelling, parameters stripped) -> their canonical kinds
_SAFE = {
    "smallint": ("int16",), "integer": ("int32",), "bigint": ("int64",),
    "boolean": ("boolean",), "real": ("float32",), "double precision": ("float64",),
    "numeric": ("decimal",), "character varying": ("varchar", "text"),
    "character": ("char",), "bpchar": ("char",), "text": ("text",), "date": ("date",),
    "timestamp without time zone": ("timestamp",),
}  # fmt: skip
#: kinds whose PostgreSQL spelling differs from the row path's: the target type must parse it
_PARSED_AS = {
    "float32": ("float", "double", "real"),
    "float64": ("float", "double", "real"),
    "timestamp": ("datetime", "timestamp"),
}
#: a `\f` or `\v` escape, or an escaped backslash before an f or v (a false alarm, rare)
_FF_OR_VT = re.compile(rb"\\[fv]")


def choose_text(source: Dialect, target: Dialect, plan: TablePlan) -> PgTextPath | None:
    """The text pass-through for a table whose every column arrives as the row path would
    deliver it (see the module docstring), or None."""
    if not (source.text_copy_out and target.tsv_load):
        return None
    if not plan.source.primary_key:
        return None
    for col, tcol in zip(plan.source.columns, plan.target.columns, strict=True):
        if _unsafe(source, target, col, plan.types[tcol.name]):
            return None
    return PgTextPath(source, target, plan.source.columns)


def _unsafe(source: Dialect, target: Dialect, col: Column, target_sql: str) -> bool:
    t = col.type
    if t.kind not in _SAFE.get(source.type_base(t.source), ()) or not t.builtin or t.note:
        return True  # domains, enums, arrays, and anything carried as its text form
    wanted = _PARSED_AS.get(t.kind)
    return wanted is not None and target.type_base(target_sql) not in wanted


def mysql_escapes(data: bytes) -> bytes:
    """PostgreSQL text COPY rows as LOAD DATA reads them: ``\\f`` and ``\\v`` become the raw
    bytes (MySQL would read ``f`` and ``v``); an escaped backslash before an ``f`` stays.

    Every backslash in PostgreSQL's output starts a two-byte escape, so once the escaped
    backslashes are set aside, every ``\\f`` left is the form-feed escape. NUL marks them:
    PostgreSQL text never holds one, nor does any other type's text form."""
    if _FF_OR_VT.search(data) is None:  # the common case: one C-speed scan
        return data
    return (
        data.replace(b"\\\\", b"\x00")
        .replace(b"\\f", b"\x0c")
        .replace(b"\\v", b"\x0b")
        .replace(b"\x00", b"\\\\")
    )


def _tsv(messages: list[Any]) -> bytes:
    return mysql_escapes(b"".join(messages))


class PgTextPath:
    """Text COPY out of the source, loaded as tab-separated text into the target."""

    name = "pg-text-load-data"
    min_range_rows = 0
    reader_batches = 1  # libpq hands over one row message at a time

    def __init__(self, source: Dialect, target: Dialect, columns: list[Column]) -> None:
        self.source = source
        self.target = target
        q = source.quote
        self._exprs = {c.name: f"{q(c.name)}::int" for c in columns if c.type.kind == "boolean"}
        self._checked = [(q(c.name), c.type.kind) for c in columns]
        self._infile = InfileCheck(target)

    # ------------------------------------------------------------------ reading
    def read(
        self, conn: Any, job: TableJob, chunk: Chunk, max_rows: int, max_bytes: int,
        stop: Callable[[], bool],
    ) -> Iterator[tuple[CopyBatch, int, int, float] | RowFallback]:  # fmt: skip
        why = self._row_path_reason(conn, job, chunk)
        if why is not None:
            log.debug("table `%s` %s: row path (%s)", job.source.name, chunk.describe(), why)
            yield RowFallback(chunk, why)
            return
        sql = f"COPY ({self._select_sql(job, chunk)}) TO STDOUT"
        stream = copy_out(conn, sql, chunk.params())  # one message per row, `\n` included
        for pieces, rows, nbytes, secs in copy_batches(
            conn, stream, _tsv, max_rows, max_bytes, stop
        ):
            yield CopyBatch(pieces, rows), rows, nbytes, secs

    def _row_path_reason(self, conn: Any, job: TableJob, chunk: Chunk) -> str | None:
        """Why this chunk must take the exact row path, or None. When it need not, the
        source transaction is left open in REPEATABLE READ: the COPY sees what was checked."""
        if not self._infile.usable():
            return "the target refuses LOAD DATA LOCAL INFILE"
        if conn.info.encoding != "utf-8":
            return f"the source connection's encoding is `{conn.info.encoding}`, not UTF-8"
        src = self.source
        if conn.info.transaction_status != IDLE:
            conn.commit()  # only reads ran on this connection; SET TRANSACTION must come first
        version = conn.info.server_version
        guards = [g for col, kind in self._checked if (g := _guard(col, kind, version))]
        with conn.cursor() as cur:
            # dates must be spelled as the row path spells them; SET LOCAL ends with the COPY
            cur.execute(
                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ; SET LOCAL DateStyle TO ISO"
            )
            if not guards:
                return None
            lower, upper = chunk.lower is not None, chunk.upper is not None
            where = [*_range(src, job.key, lower, upper), "(" + " OR ".join(guards) + ")"]
            src.execute(
                cur,
                f"SELECT EXISTS (SELECT 1 FROM {src.relation(job.source.name)} "
                f"WHERE {' AND '.join(where)})",
                chunk.params(),
            )
            row = cur.fetchone()
        if row is not None and row[0]:
            conn.commit()
            return "it holds ±infinity, NaN or out-of-range values the row path converts"
        return None

    def _select_sql(self, job: TableJob, chunk: Chunk) -> str:
        """The row path's SELECT (same range, same order), booleans read as 1/0."""
        src = self.source
        sql = src.select_sql(job.source, job.key, chunk.lower is not None, chunk.upper is not None)
        plain = ", ".join(src.select_expr(c) for c in job.source.columns)
        head = f"SELECT {plain} FROM "
        assert sql.startswith(head), sql  # select_sql's own shape
        mine = ", ".join(self._exprs.get(c.name) or src.select_expr(c) for c in job.source.columns)
        return f"SELECT {mine} FROM {sql[len(head) :]}"

    # ------------------------------------------------------------------ writing
    def write(self, conn: Any, job: TableJob, payload: CopyBatch) -> int:
        return self.target.load_tsv(conn, job.target, payload.write_to, payload.rows)

    def session_conn(self, conn: Any) -> Any:
        return conn

    def close(self) -> None:
        pass  # the pipeline's own connections carry the stream


def _guard(col: str, kind: str, server_version: int) -> str | None:
    """A condition true for the values of a column the row path converts or rejects."""
    if kind == "date":  # ±infinity, BC dates, years past 9999
        return f"NOT ({col} BETWEEN '0001-01-01' AND '9999-12-31')"
    if kind == "timestamp":
        return f"NOT ({col} BETWEEN '0001-01-01' AND '9999-12-31 23:59:59.999999')"
    if kind == "decimal" and server_version < 140000:  # numeric ±Infinity came in 14
        return f"{col} = 'NaN'"
    if kind in ("float32", "float64", "decimal"):  # PostgreSQL's NaN equals NaN
        return f"{col} IN ('NaN', 'Infinity', '-Infinity')"
    return None


def _range(src: Dialect, key: tuple[str, ...], lower: bool, upper: bool) -> list[str]:
    """The chunk's key range, as :meth:`Dialect.select_sql` writes it."""
    out = []
    for present, op in ((lower, ">"), (upper, "<=")):
        if present:
            marks = ", ".join([src.placeholder] * len(key))
            out.append(f"({src.column_list(key)}) {op} ({marks})")
    return out
