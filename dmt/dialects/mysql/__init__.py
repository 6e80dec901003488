"""MySQL and MariaDB: :mod:`.dialect` (connections, DDL, reads, error translation),
:mod:`.load` (LOAD DATA LOCAL and multi-row INSERT), :mod:`.reflection` (information_schema ->
model), :mod:`.types` (type mapping) and :mod:`.values` (value conversion and LOAD DATA
formatting)."""

from dmt.dialects.mysql.dialect import MySQLDialect
from dmt.dialects.mysql.types import canonical_type
from dmt.dialects.mysql.values import _field, _format_timedelta

__all__ = ["MySQLDialect", "_field", "_format_timedelta", "canonical_type"]
