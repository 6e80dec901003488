"""SQLite: :mod:`.dialect` (connections, reflection, DDL, load), :mod:`.types` (declared types
by affinity) and :mod:`.values` (stored values <-> canonical)."""

from dmt.dialects.sqlite.dialect import SQLiteDialect
from dmt.dialects.sqlite.types import canonical_type

__all__ = ["SQLiteDialect", "canonical_type"]
