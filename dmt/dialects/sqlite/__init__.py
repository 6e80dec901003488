"""SQLite: :mod:`.dialect` (connections, reflection, DDL, load), :mod:`.types` (declared types
by affinity) and :mod:`.values` (stored values <-> canonical)."""

from dmt.dialects.sqlite.dialect import SQLiteDialect

__all__ = ["SQLiteDialect"]
