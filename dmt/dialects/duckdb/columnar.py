"""DuckDB's columnar hooks and its snapshot: DuckDB produces and ingests Arrow itself.

Reading, a query's result comes out as an Arrow table (``fetch_arrow_table``) on a connection
of the path's pool; writing, a batch is registered on the pipeline's own connection as a view
and inserted with ``INSERT … SELECT`` in one statement. No row becomes a Python object.

A DuckDB file has one writing process at a time: dmt opens a source read-only (other readers
may share it; no writer can open it while dmt has it open) and a target read-write (no other
process can open it). Connections of one process share one database instance (the ``duckdb``
module's cache), so every reader, writer and validator of a run sees the same file.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, ClassVar

from dmt.dialects.base import Dialect
from dmt.dialects.duckdb.connection import Connection
from dmt.dialects.duckdb.types import canonical_type, cast_target
from dmt.errors import ConfigError, ConnectError, TransferError, first_line
from dmt.model.schema import Column, Table

if TYPE_CHECKING:
    import pyarrow as pa

#: the one line a run needing DuckDB prints when the driver is not installed
MISSING_DRIVER = 'DuckDB support is not installed: pip install "dmt[duckdb]"'
_VIEWS = itertools.count()
# a target column's canonical kind -> the kind its Arrow column is inserted as
_INGEST = {
    "int16": "int16",
    "int32": "int32",
    "int64": "int64",
    "float64": "float64",
    **dict.fromkeys(("char", "varchar", "text"), "text"),
    "blob": "blob",
    "date": "date",
    "timestamp": "timestamp",
    "boolean": "boolean",
}


class DuckDBColumnar(Dialect):
    """Connections, snapshot and columnar hooks of :class:`~dmt.dialects.duckdb.DuckDBDialect`."""

    columnar_reader: ClassVar[str | None] = "native"
    columnar_writer: ClassVar[str | None] = "native"
    columnar_modules = ("duckdb", "pyarrow")
    columnar_in_snapshot = True  # every connection of the process reads the held file
    snapshot_holds_writers = True
    _holder: Any = None
    #: the target's column types by table, read once per table (see ``insert_sql``)
    _target_types: dict[str, list[tuple[str, str]]]

    # ------------------------------------------------------------------ connections
    def raw_connect(self) -> Any:
        """A ``duckdb`` connection to the endpoint's file: read-only for a source."""
        try:
            import duckdb
        except ImportError:
            raise ConfigError(f"{self.side}.type", MISSING_DRIVER) from None
        path = self.endpoint.path or ":memory:"
        try:
            try:
                raw = duckdb.connect(path, read_only=self.side == "source")
            except duckdb.ConnectionException as exc:
                if "different configuration" not in str(exc):
                    raise
                raw = duckdb.connect(path)  # the process already has it open for writing
            raw.execute("SET TimeZone = 'UTC'")
            raw.execute("SET enable_progress_bar = false")  # it would print to stdout
        except duckdb.Error as exc:
            raise ConnectError(self.side, f"DuckDB file `{path}`: {first_line(exc)}") from None
        return raw

    def connect(self) -> Any:
        return Connection(self.raw_connect())

    def server_version(self, conn: Any) -> str:
        import duckdb

        return f"DuckDB {duckdb.__version__}"

    def open_snapshot(self, readers: int, tables: Any = ()) -> str:
        self._holder = self.raw_connect()
        self.in_snapshot = True
        return (
            f"the file is open read-only until the copy ends: no process can write "
            f"`{self.endpoint.path}` meanwhile"
        )

    def close_snapshot(self) -> None:
        holder, self._holder = self._holder, None
        self.in_snapshot = False
        if holder is not None:
            holder.close()

    def connection_broke(self, exc: BaseException) -> bool:
        if super().connection_broke(exc):
            return True
        import duckdb

        return isinstance(exc, duckdb.ConnectionException) and "closed" in str(exc)

    def full_disk(self, exc: BaseException) -> str | None:
        if "No space left on device" in str(exc) or "disk is full" in str(exc).lower():
            return self.endpoint.path or None
        return None

    # ------------------------------------------------------------------ columnar
    def columnar_url(self) -> str | None:
        return self.endpoint.path

    def columnar_connect(self) -> Any:
        return self.raw_connect()

    def columnar_fetch(self, conn: Any, sql: str) -> pa.Table:
        rel = conn.sql(sql)  # the relation's Arrow output copies nothing (a result's does)
        fetch = getattr(rel, "to_arrow_table", None) or rel.arrow  # duckdb < 1.4: arrow()
        table: pa.Table = fetch()
        return table

    def columnar_kind(self, sql_type: str) -> str | None:
        ct = canonical_type(sql_type)
        if ct.unsigned or ct.source.upper() != sql_type.strip().upper():
            return None
        return _INGEST.get(ct.kind)

    def columnar_carries(self, col: Column) -> bool:
        return col.type.engine != "duckdb" or col.type.note is None

    def columnar_guard(self, col: Column) -> str | None:
        """An infinite DATE or TIMESTAMP has no Arrow value: the row path reads it as text."""
        if col.type.kind in ("date", "timestamp", "timestamptz"):
            return f"isfinite({self.quote(col.name)})"
        return None

    def columnar_write(self, conn: Any, table: Table, payload: Any) -> int:
        """Insert an Arrow batch on the pipeline's own connection and commit."""
        self.insert_arrow(conn, table, payload)
        return int(payload.num_rows)

    def insert_arrow(self, conn: Any, table: Table, payload: pa.Table) -> None:
        """``INSERT INTO table SELECT …`` from ``payload`` (its columns in the table's order),
        each column cast to the target column's type; committed."""
        view = f"dmt_batch_{next(_VIEWS)}"
        raw = conn.raw
        try:
            raw.register(view, payload)
            try:
                conn.run(self.insert_sql(conn, table, payload.column_names, view))
                conn.commit()
            finally:
                raw.unregister(view)
        except Exception as exc:
            conn.rollback()
            if self.connection_broke(exc) or self.full_disk(exc):
                raise
            msg = f"DuckDB insert failed: {first_line(exc)}"
            raise TransferError(msg, table.name) from exc

    def insert_sql(self, conn: Any, table: Table, sources: list[str], view: str) -> str:
        """The INSERT of ``view``'s columns ``sources`` into the table's columns, in order."""
        cache = self.__dict__.setdefault("_target_types", {})
        if table.name not in cache:
            cur = conn.cursor()
            cur.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = "
                "current_database() AND schema_name = 'main' AND table_name = ?",
                (table.name,),
            )
            cache[table.name] = [tuple(r) for r in cur.fetchall()]
        types = dict(cache[table.name])
        exprs = []
        for name, src in zip(table.column_names, sources, strict=True):
            sql_type = types.get(name, "")
            value = self.quote(src)
            if sql_type:
                via = cast_target(sql_type)
                if via:
                    value = f"CAST({value} AS {via})"
                value = f"CAST({value} AS {sql_type})"
            exprs.append(value)
        return (
            f"INSERT INTO {self.qualified(table.name)} ({self.column_list(table.column_names)}) "
            f"SELECT {', '.join(exprs)} FROM {self.quote(view)}"
        )
