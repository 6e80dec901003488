"""SQLite's columnar hooks: connectorx reads it into Arrow batches.

SQLite stores any value in any column, so the guard checks each value's storage class (and the
spelling of dates and timestamps) against what connectorx would read for the declared type.
"""

from __future__ import annotations

import os
import re
from typing import ClassVar

from dmt.dialects.base import Dialect
from dmt.model.schema import Column

_PLAIN_PATH = re.compile(r"^[\w./-]+$")
_INT_KINDS = ("int8", "int16", "int32", "int64")
# the storage class a value of these kinds must have (integers and booleans: see columnar_guard)
_CLASS = {
    "float64": "'real'",
    **dict.fromkeys(("char", "varchar", "text"), "'text'"),
    **dict.fromkeys(("binary", "varbinary", "blob"), "'blob'"),
}
_DIGITS = "[0-9][0-9]"
_DATE = f"{_DIGITS}{_DIGITS}-{_DIGITS}-{_DIGITS}"
_TS = f"{_DATE} {_DIGITS}:{_DIGITS}:{_DIGITS}"


class SQLiteColumnar(Dialect):
    """The columnar hooks of :class:`~dmt.dialects.sqlite.SQLiteDialect`."""

    columnar_reader: ClassVar[str | None] = "connectorx"
    columnar_modules = ("connectorx",)

    def columnar_url(self) -> str | None:
        path = os.path.abspath(self.endpoint.path or "")
        return "sqlite://" + path if _PLAIN_PATH.match(path) else None

    def columnar_guard(self, col: Column) -> str | None:
        """Integer columns need no term: connectorx refuses a text, real or blob value in a
        column declared integer ("Invalid column type", tested), and the reader's failure sends
        that range to the row path; the ``typeof`` tests cost 1.2 s of CPU per 2M rows of
        `votes` (five integer columns), a fifth of the whole copy's."""
        q, kind = self.quote(col.name), col.type.kind
        if kind in _INT_KINDS:
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
