"""A MySQL/MariaDB target's collations: each text column declares its character set and
collation (see :mod:`dmt.dialects.collations` for the mapping)."""

from __future__ import annotations

from typing import Any, ClassVar

from dmt.dialects.collations import mysql_binary, mysql_collation, mysql_reading
from dmt.model.schema import Collation

#: every collation name the server knows; MariaDB 10.10+ lists its UCA 14.0 collations for
#: each character set only in the second query
_COLLATIONS_SQL = (
    "SELECT COLLATION_NAME FROM information_schema.COLLATIONS",
    "SELECT FULL_COLLATION_NAME FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY",
)


class MySQLCollations:
    collatable_kinds: ClassVar[frozenset[str]] = frozenset(
        {"char", "varchar", "text", "enum", "set"}
    )
    #: the server's collation names (lower case), once :meth:`learn_collations` ran
    collations: set[str] | None = None
    mariadb: bool

    def quote(self, ident: str) -> str:
        raise NotImplementedError

    def learn_collations(self, conn: Any) -> None:
        import pymysql

        names: set[str] = set()
        with conn.cursor() as cur:
            for sql in _COLLATIONS_SQL:
                try:
                    cur.execute(sql)
                except pymysql.Error:  # no such column before MariaDB 10.10
                    continue
                names.update(str(r[0]).lower() for r in cur.fetchall() if r[0])
        conn.commit()
        self.collations = names

    def has_collation(self, collation: Collation, carried: bool) -> bool:
        return self.collations is None or collation.name.lower() in self.collations

    def collation_for(self, source: Collation | None) -> Collation | None:
        return self._known(mysql_collation(source, self.mariadb))

    def binary_collation(self) -> Collation | None:
        return self._known(mysql_binary(self.mariadb))

    def _known(self, collation: Collation) -> Collation:
        """``collation``, or ``utf8mb4_bin`` on a server without it (MySQL 5.7 has neither
        the NO PAD nor the UCA 9.0 collations)."""
        if self.has_collation(collation, False):
            return collation
        return mysql_reading("utf8mb4_bin", "utf8mb4")

    def collate_clause(self, collation: Collation) -> str:
        charset = collation.charset or collation.name.split("_")[0]
        return f"CHARACTER SET {self.quote(charset)} COLLATE {self.quote(collation.name)}"
