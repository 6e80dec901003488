"""PostgreSQL: :mod:`.dialect` (connections, DDL, COPY, error translation), :mod:`.reflection`
(catalog -> model), :mod:`.types` (type mapping) and :mod:`.values` (value loading and
encoding)."""

from dmt.dialects.postgres.dialect import PostgresDialect

__all__ = ["PostgresDialect"]
