"""MySQL's columnar hooks: connectorx reads it into Arrow batches."""

from __future__ import annotations

from typing import ClassVar

from dmt.dialects.base import Dialect
from dmt.model.schema import Column


def _zero_date(q: str) -> str:
    return f"(YEAR({q}) = 0 OR MONTH({q}) = 0 OR DAYOFMONTH({q}) = 0)"


class MySQLColumnar(Dialect):
    """The columnar hooks of :class:`~dmt.dialects.mysql.MySQLDialect`."""

    columnar_reader: ClassVar[str | None] = "connectorx"
    columnar_modules = ("connectorx",)

    def columnar_url(self) -> str:
        return self._endpoint_url("mysql", 3306)

    def columnar_carries(self, col: Column) -> bool:
        return col.type.kind != "boolean"  # tinyint(1) arrives as int8, any value 0-255 in it

    def columnar_select_expr(self, col: Column) -> str:
        q = self.quote(col.name)
        if col.type.kind in ("date", "timestamp"):
            return f"CASE WHEN {_zero_date(q)} THEN NULL ELSE {q} END AS {q}"  # no Rust panic
        return q

    def columnar_guard(self, col: Column) -> str | None:
        if col.type.kind in ("date", "timestamp"):
            return f"NOT {_zero_date(self.quote(col.name))}"
        return None
