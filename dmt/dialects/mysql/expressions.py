"""sqlglot's MySQL dialect as dmt writes it: what both MySQL 8 and MariaDB accept."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def transpiler() -> Any:
    """sqlglot's MySQL dialect, writing a regular-expression match as the ``REGEXP``
    operator (MariaDB has no ``REGEXP_LIKE`` function; both engines have the operator)."""
    from sqlglot import exp
    from sqlglot.dialects.mysql import MySQL

    base: Any = MySQL.Generator

    class DmtMySQL(MySQL):
        class Generator(base):
            TRANSFORMS = {  # noqa: RUF012 (sqlglot's own shape)
                **base.TRANSFORMS,
                exp.RegexpLike: lambda self, e: self.binary(e, "REGEXP"),
            }

    return DmtMySQL
