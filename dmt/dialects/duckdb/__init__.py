"""DuckDB: :mod:`.dialect` (schema, data), :mod:`.columnar` (connections, Arrow reads and
writes, snapshot), :mod:`.reflection`, :mod:`.types` and :mod:`.values`."""

from dmt.dialects.duckdb.dialect import DuckDBDialect

__all__ = ["DuckDBDialect"]
