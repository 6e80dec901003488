"""MySQL/MariaDB reflection from information_schema into the engine-neutral model."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from dmt.dialects.collations import mysql_reading
from dmt.dialects.mysql.types import canonical_type
from dmt.dialects.values import Row
from dmt.model.schema import Check, Column, ColumnType, ForeignKey, Index, Schema, Table
from dmt.schema.expr import NotPortable, Spelling, portable_default

#: MySQL's default string syntax: a backslash escapes the next character
SPELLING = Spelling(backslash_escapes=True)

_TABLES_SQL = (
    "SELECT TABLE_NAME, TABLE_TYPE, TABLE_ROWS, TABLE_COMMENT, ENGINE "
    "FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s"
)
_COLUMNS_SQL = (
    "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, NUMERIC_PRECISION, NUMERIC_SCALE, "
    "DATETIME_PRECISION, CHARACTER_MAXIMUM_LENGTH, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, "
    "COLUMN_COMMENT, COLLATION_NAME, CHARACTER_SET_NAME FROM information_schema.COLUMNS "
    "WHERE TABLE_SCHEMA = %s "
    "ORDER BY TABLE_NAME, ORDINAL_POSITION"
)
_STATS_SQL = (
    "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, INDEX_TYPE "
    "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s "
    "ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"
)
_FKS_SQL = (
    "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, "
    "k.REFERENCED_COLUMN_NAME, r.DELETE_RULE, r.UPDATE_RULE "
    "FROM information_schema.KEY_COLUMN_USAGE k "
    "JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
    "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA AND r.TABLE_NAME = k.TABLE_NAME "
    "AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
    "WHERE k.TABLE_SCHEMA = %s AND k.REFERENCED_TABLE_NAME IS NOT NULL "
    "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION"
)
# MariaDB scopes check names per table and says so in CHECK_CONSTRAINTS.TABLE_NAME; MySQL 8
# has no such column, so the second spelling joins TABLE_CONSTRAINTS instead.
_CHECKS_SQL = (
    "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS "
    "WHERE CONSTRAINT_SCHEMA = %s ORDER BY TABLE_NAME, CONSTRAINT_NAME",
    "SELECT t.TABLE_NAME, c.CONSTRAINT_NAME, c.CHECK_CLAUSE "
    "FROM information_schema.TABLE_CONSTRAINTS t JOIN information_schema.CHECK_CONSTRAINTS c "
    "ON c.CONSTRAINT_SCHEMA = t.CONSTRAINT_SCHEMA AND c.CONSTRAINT_NAME = t.CONSTRAINT_NAME "
    "WHERE t.TABLE_SCHEMA = %s AND t.CONSTRAINT_TYPE = 'CHECK' ORDER BY 1, 2",
)
# triggers (with their table) and routines (table NULL) in one round trip
_OBJECTS_SQL = (
    "SELECT EVENT_OBJECT_TABLE, TRIGGER_NAME FROM information_schema.TRIGGERS "
    "WHERE TRIGGER_SCHEMA = %s UNION ALL "
    "SELECT NULL, ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = %s"
)
TABLE_TYPES = ("BASE TABLE", "SYSTEM VERSIONED")  # not VIEW, nor MariaDB's SEQUENCE
_QUOTED_DEFAULT_TYPES = (
    "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "date",
    "datetime", "timestamp", "time", "binary", "varbinary",
)  # fmt: skip
_GENERATED = re.compile(r"\b(VIRTUAL|STORED|PERSISTENT)\b", re.IGNORECASE)


def _action(rule: str | None) -> str | None:
    # InnoDB checks NO ACTION immediately, exactly like RESTRICT, and MariaDB reports an
    # unspecified rule as RESTRICT: both are the default, which every target has too
    return None if rule in (None, "NO ACTION", "RESTRICT") else rule


def _default(value: str | None) -> str | None:
    return None if value is None or value.upper() == "NULL" else value


def _schema_unique_index_names(tables: dict[str, Table]) -> None:
    """MySQL scopes index names per table (an index InnoDB adds for a foreign key is simply
    named after its column); PostgreSQL and SQLite scope them per schema, next to the tables.
    A name used twice, or equal to a table's name, is prefixed with its table's name."""
    seen: dict[str, int] = {}
    for t in tables.values():
        for idx in [*t.uniques, *t.indexes]:
            seen[idx.name.lower()] = seen.get(idx.name.lower(), 0) + 1
    taken = {n.lower() for n in tables}
    for t in tables.values():
        for group in (t.uniques, t.indexes):
            for i, idx in enumerate(group):
                if seen[idx.name.lower()] > 1 or idx.name.lower() in taken:
                    group[i] = replace(idx, name=f"{t.name}_{idx.name}")


def reflect(cur: Any, db: str | None, mariadb: bool, select: Callable[[str], bool]) -> Schema:
    """Every selected base table of ``db``, plus the views, triggers and routines."""
    schema = Schema(tables=[])
    tables: dict[str, Table] = {}
    cur.execute(_TABLES_SQL, (db,))
    for name, ttype, rows, comment, storage in sorted(cur.fetchall()):
        if ttype == "VIEW":
            schema.views.append(name)
        elif ttype in TABLE_TYPES and select(name):
            t = Table(name=name, columns=[], comment=comment or None, engine="mysql")
            t.row_estimate = int(rows or 0)
            t.storage_engine = storage or ""
            tables[name] = t
    checks = _checks(cur, db)
    cur.execute(_COLUMNS_SQL, (db,))
    for row in cur.fetchall():
        if row[0] in tables:
            _add_column(tables[row[0]], row, checks.get(row[0], {}), mariadb)
    for tname, found in checks.items():
        if tname in tables:
            tables[tname].checks.extend(Check(n, text, "mysql") for n, text in found.items())
    cur.execute(_STATS_SQL, (db,))
    _add_indexes(tables, cur.fetchall())
    _schema_unique_index_names(tables)
    cur.execute(_FKS_SQL, (db,))
    _add_foreign_keys(tables, cur.fetchall())
    cur.execute(_OBJECTS_SQL, (db, db))
    objects = cur.fetchall()
    schema.triggers = sorted(f"{t}.{n}" for t, n in objects if t is not None)
    schema.routines = sorted({n for t, n in objects if t is None})
    schema.tables = [tables[n] for n in sorted(tables)]
    return schema


def _checks(cur: Any, db: str | None) -> dict[str, dict[str, str]]:
    import pymysql

    for sql in _CHECKS_SQL:
        try:
            cur.execute(sql, (db,))
        except (pymysql.err.OperationalError, pymysql.err.ProgrammingError):
            # no such column (MySQL) or no such table (MySQL 5.7, MariaDB 10.1)
            continue
        out: dict[str, dict[str, str]] = {}
        for tname, name, clause in cur.fetchall():
            out.setdefault(tname, {})[name] = clause
        return out
    return {}


def _add_column(table: Table, row: Row, checks: dict[str, str], mariadb: bool) -> None:
    (_, cname, dtype, ctype, prec, scale, fsp, length, nullable, default, extra, comment) = row[:12]
    collation = mysql_reading(row[12], row[13]) if row[12] else None
    if _GENERATED.search(extra or ""):
        table.notes.append(
            f"`{cname}`: generated column not copied (the target has no such column)"
        )
        return
    kind = canonical_type(dtype, ctype, prec, scale, fsp, length)
    # MariaDB spells JSON as longtext plus a column CHECK named after the column
    json_check = "json_valid(`" + cname.replace("`", "``") + "`)"
    if kind.kind == "text" and checks.get(cname, "").lower() == json_check.lower():
        del checks[cname]
        kind = ColumnType("json", source="json", engine="mysql")
    native = _default(default)
    # MySQL 8 shows a literal default unquoted (an expression is flagged DEFAULT_GENERATED)
    literal = dtype.lower() in _QUOTED_DEFAULT_TYPES and "DEFAULT_GENERATED" not in (extra or "")
    if native is not None and not mariadb and literal:
        native = "'" + native.replace("'", "''") + "'"
    try:
        portable = portable_default(native, SPELLING)
    except NotPortable:
        portable = None
    table.columns.append(
        Column(
            name=cname,
            type=kind,
            nullable=nullable == "YES",
            default=portable,
            autoincrement="auto_increment" in (extra or "").lower(),
            comment=comment or None,
            native_default=native,
            collation=collation,
        )
    )


def _add_indexes(tables: dict[str, Table], rows: Sequence[Row]) -> None:
    grouped: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if row[0] in tables:
            grouped.setdefault((row[0], row[1]), []).append(row)
    for (tname, iname), parts in grouped.items():
        table = tables[tname]
        cols = tuple(p[3] for p in parts)
        if iname == "PRIMARY":
            table.primary_key = cols
            continue
        if any(c is None for c in cols) or parts[0][5] in ("FULLTEXT", "SPATIAL"):
            kind = parts[0][5] if any(c is not None for c in cols) else "on expressions"
            table.notes.append(f"index `{iname}` ({kind}) is not portable and is not copied")
            continue
        lengths = tuple(p[4] for p in parts)
        unique = not int(parts[0][2])
        idx = Index(iname, cols, unique, lengths if any(lengths) else ())
        (table.uniques if unique else table.indexes).append(idx)


def _add_foreign_keys(tables: dict[str, Table], rows: Sequence[Row]) -> None:
    grouped: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        if row[0] in tables:
            grouped.setdefault((row[0], row[1]), []).append(row)
    for (tname, fname), parts in grouped.items():
        tables[tname].foreign_keys.append(
            ForeignKey(
                name=fname,
                columns=tuple(p[2] for p in parts),
                ref_table=parts[0][3],
                ref_columns=tuple(p[4] for p in parts),
                on_delete=_action(parts[0][5]),
                on_update=_action(parts[0][6]),
            )
        )
