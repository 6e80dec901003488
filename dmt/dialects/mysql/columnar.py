"""MySQL's columnar hooks: connectorx reads it into Arrow batches; as a target, each batch is
encoded in Arrow (no Python per row) as the tab-separated text ``LOAD DATA`` reads
(:meth:`~dmt.dialects.mysql.MySQLDialect.load_tsv`: warnings and affected rows checked)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from dmt.dialects.base import Dialect
from dmt.dialects.mysql.types import declared_type
from dmt.model.schema import INT_KINDS, Column

if TYPE_CHECKING:
    import pyarrow as pa

#: a target column's canonical kind -> the kind its Arrow column is encoded from
_LOAD = {
    "float64": "float64",
    **dict.fromkeys(("char", "varchar", "text"), "text"),
    **dict.fromkeys(("binary", "varbinary", "blob"), "blob"),
    "date": "date",
    "timestamp": "timestamp",
    "boolean": "boolean",
}
#: the backslash escapes LOAD DATA reads (ESCAPED BY '\\'), the backslash itself first; NUL
#: only occurs in binary columns (text holding one takes the row path)
_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"), ("\0", "\\0"))


def _zero_date(q: str) -> str:
    return f"(YEAR({q}) = 0 OR MONTH({q}) = 0 OR DAYOFMONTH({q}) = 0)"


class MySQLColumnar(Dialect):
    """The columnar hooks of :class:`~dmt.dialects.mysql.MySQLDialect`."""

    columnar_reader: ClassVar[str | None] = "connectorx"
    columnar_writer: ClassVar[str | None] = "tsv"
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

    def columnar_kind(self, sql_type: str) -> str | None:
        t = declared_type(sql_type)
        if t.kind in INT_KINDS:
            return None if t.kind == "int64" and t.unsigned else "int64"
        if t.kind == "timestamp" and not sql_type.lower().startswith("datetime"):
            return None  # TIMESTAMP converts from the session time zone
        return _LOAD.get(t.kind)

    def columnar_encode(self, table: pa.Table) -> tuple[pa.Table | None, str | None]:
        """One column ``tsv``: each row's fields as LOAD DATA reads them (``\\N`` for NULL,
        backslash escapes in text), tab-separated, ``\\n``-terminated."""
        import pyarrow as pa
        import pyarrow.compute as pc

        fields = []
        for field, col in zip(table.schema, table.columns, strict=True):
            kind = field.type
            if pa.types.is_floating(kind) and not pc.all(pc.is_finite(col)).as_py():
                return None, "NaN or ±Infinity, which MySQL cannot store"
            if pa.types.is_string(kind) or pa.types.is_binary(kind):
                text = col
                for raw, escaped in _ESCAPES:
                    text = pc.replace_substring(text, raw, escaped)
            elif pa.types.is_boolean(kind):
                text = col.cast(pa.int8()).cast(pa.string())  # 1 / 0, as the row path writes
            else:  # integers, doubles (shortest round-trip digits), ISO dates and timestamps
                text = col.cast(pa.string())
            fields.append(pc.fill_null(text.cast(pa.binary()), b"\\N"))
        fields[-1] = pc.binary_join_element_wise(fields[-1], b"\n", b"")
        return pa.table({"tsv": pc.binary_join_element_wise(*fields, b"\t")}), None
