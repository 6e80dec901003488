"""SQLite's columnar hooks: connectorx reads it into Arrow batches, ADBC ingest loads them.

SQLite stores any value in any column, so the guard checks each value's storage class (and the
spelling of dates and timestamps) against what connectorx would read for the declared type.
Loading, each Arrow column is first given the storage class and spelling the row path's
encoders give its values (:func:`~dmt.dialects.sqlite.values.encode_value`).
"""

from __future__ import annotations

import os
import re
import threading
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar

from dmt.dialects.base import Dialect
from dmt.dialects.sqlite.types import canonical_type
from dmt.errors import TransferError, first_line
from dmt.model.schema import INT_KINDS, Column

if TYPE_CHECKING:
    import pyarrow as pa

#: one lock per SQLite file this process writes (see SQLiteColumnar.exclusive_writes)
_LOCKS: dict[str, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()
_PLAIN_PATH = re.compile(r"^[\w./-]+$")
# the storage class a value of these kinds must have (integers and booleans: see columnar_guard)
_CLASS = {
    "float64": "'real'",
    **dict.fromkeys(("char", "varchar", "text"), "'text'"),
    **dict.fromkeys(("binary", "varbinary", "blob"), "'blob'"),
}
_DIGITS = "[0-9][0-9]"
_DATE = f"{_DIGITS}{_DIGITS}-{_DIGITS}-{_DIGITS}"
_TS = f"{_DATE} {_DIGITS}:{_DIGITS}:{_DIGITS}"
# a target column's canonical kind -> the kind its Arrow column is ingested as
_INGEST = {
    **dict.fromkeys(INT_KINDS, "int64"),
    "float64": "float64",
    **dict.fromkeys(("char", "varchar", "text"), "text"),
    **dict.fromkeys(("binary", "varbinary", "blob"), "blob"),
    "date": "date",
    "timestamp": "timestamp",
    "boolean": "boolean",
}


class SQLiteColumnar(Dialect):
    """The columnar hooks of :class:`~dmt.dialects.sqlite.SQLiteDialect`."""

    columnar_reader: ClassVar[str | None] = "connectorx"
    columnar_writer: ClassVar[str | None] = "adbc"
    columnar_modules = ("connectorx", "adbc_driver_sqlite.dbapi")

    def columnar_url(self) -> str | None:
        path = os.path.abspath(self.endpoint.path or "")
        return "sqlite://" + path if _PLAIN_PATH.match(path) else None

    def columnar_guard(self, col: Column) -> str | None:
        """Integer columns need no term: connectorx refuses a text, real or blob value in a
        column declared integer ("Invalid column type", tested), and the reader's failure sends
        that range to the row path; the ``typeof`` tests cost 1.2 s of CPU per 2M rows of
        `votes` (five integer columns), a fifth of the whole copy's."""
        q, kind = self.quote(col.name), col.type.kind
        if kind in INT_KINDS:
            return None
        if kind == "date":
            return f"(typeof({q}) = 'text' AND {q} GLOB '{_DATE}')"
        if kind == "timestamp":
            return (
                f"(typeof({q}) = 'text' AND ({q} GLOB '{_TS}' "
                f"OR {q} GLOB '{_TS}.{_DIGITS}{_DIGITS}{_DIGITS}'))"
            )
        if kind == "boolean":
            return f"(typeof({q}) = 'integer' AND {q} IN (0, 1))"
        return f"typeof({q}) = {_CLASS[kind]}"

    def columnar_query(self, sql: str) -> str:
        return f"SELECT * FROM ({sql})"  # connectorx appends its own LIMIT to learn the types

    def exclusive_writes(self) -> AbstractContextManager[object]:
        """The ADBC driver carries its own SQLite library: two copies in one process cannot
        see each other's file locks (a transaction of one rolls back as "hot" the other's
        journal, a close by one drops the other's locks), so every write to the file, and
        the cleanup connections of a resume, take turns on one lock per file."""
        path = os.path.abspath(self.endpoint.path or "")
        with _LOCKS_GUARD:
            return _LOCKS.setdefault(path, threading.RLock())

    def columnar_connect(self) -> Any:
        import adbc_driver_sqlite.dbapi as lite

        try:
            conn = lite.connect(self.endpoint.path or "")
            with conn.cursor() as cur:  # the driver holds a transaction open from the start,
                cur.execute("PRAGMA busy_timeout=60000")  # where `synchronous` cannot change
        except Exception as exc:
            raise TransferError(
                f"ADBC could not open {self.endpoint.describe()}: {first_line(exc)}"
            ) from None
        return conn

    def columnar_kind(self, sql_type: str) -> str | None:
        return _INGEST.get(canonical_type(sql_type).kind)

    def columnar_encode(self, table: pa.Table) -> tuple[pa.Table | None, str | None]:
        """Timestamps as ``isoformat(" ")`` text (no fraction when it is zero), dates as ISO
        text, booleans as 0/1; a NaN goes to the row path, which stores it as NULL and
        counts it."""
        import pyarrow as pa
        import pyarrow.compute as pc

        columns = []
        for field, col in zip(table.schema, table.columns, strict=True):
            kind = field.type
            if pa.types.is_floating(kind) and pc.any(pc.is_nan(col)).as_py():
                return None, "a NaN, which SQLite stores as NULL"
            if pa.types.is_timestamp(kind):
                text = col.cast(pa.string())
                whole = pc.equal(pc.subsecond(col), 0.0)
                col = pc.if_else(whole, pc.utf8_slice_codeunits(text, 0, 19), text)
            elif pa.types.is_date(kind):
                col = col.cast(pa.string())
            elif pa.types.is_boolean(kind):
                col = col.cast(pa.int64())
            columns.append(col)
        return pa.Table.from_arrays(columns, names=table.column_names), None
