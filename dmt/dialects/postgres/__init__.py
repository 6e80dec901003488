"""PostgreSQL: :mod:`.dialect` (connections, DDL, COPY), :mod:`.reflection` (catalog ->
model), :mod:`.types` (type mapping) and :mod:`.values` (value loading and encoding)."""

from dmt.dialects.postgres.dialect import PostgresDialect
from dmt.dialects.postgres.types import canonical_type

__all__ = ["PostgresDialect", "canonical_type"]
