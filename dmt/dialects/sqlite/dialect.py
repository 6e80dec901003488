"""SQLite: stdlib sqlite3, PRAGMA-based reflection, batched inserts in large transactions.

SQLite cannot add a foreign key or a check to an existing table, so both are declared in
CREATE TABLE (:attr:`Dialect.inline_constraints`); rows are loaded with ``foreign_keys=OFF``.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from dmt.dialects.base import Converter, Row, TypeChoice, ValueCounters
from dmt.dialects.collations import sqlite_collation, sqlite_collations
from dmt.dialects.sqlite.objects import reflect_objects
from dmt.dialects.sqlite.snapshot import SQLiteSnapshot
from dmt.dialects.sqlite.types import SAMPLE_TYPES, canonical_type, render_type
from dmt.dialects.sqlite.values import decoder, encode_value, nan_encoder
from dmt.errors import ConnectError, TransferError
from dmt.model.schema import (
    Check,
    Collation,
    Column,
    ColumnType,
    ForeignKey,
    Index,
    Schema,
    Table,
)  # fmt: skip
from dmt.schema.expr import NotPortable, Spelling, Token, portable_default, tokenize

SQLITE_FULL = 13
#: sqlite3_errstr(SQLITE_FULL), the text every driver passes on
FULL_TEXT = "database or disk is full"


class SQLiteDialect(SQLiteSnapshot):
    """SQLite 3 through the standard library."""

    name = "sqlite"
    title = "SQLite"
    placeholder = "?"
    max_identifier_length = 1_000_000
    max_bind_params = 32766
    inline_constraints = True
    case_insensitive_names = True
    transpile_as = "sqlite"
    missing_expressions = frozenset({"Uuid", "RegexpLike"})  # REGEXP needs a user function
    #: one writer at a time: SQLite serialises writers on the file lock anyway
    max_writers = 1
    sample_types = SAMPLE_TYPES

    def _connect(self, factory: type[sqlite3.Connection] = sqlite3.Connection) -> Any:
        """A new connection (of class ``factory``); :meth:`connect` is in the snapshot mixin."""
        path = self.endpoint.path or ":memory:"
        try:
            if self.side == "source":
                uri = "file:" + path.replace("?", "%3f").replace("#", "%23") + "?mode=ro"
                conn = sqlite3.connect(
                    uri, uri=True, check_same_thread=False, timeout=60, factory=factory
                )
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            else:
                conn = sqlite3.connect(path, check_same_thread=False, timeout=60, factory=factory)
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise ConnectError(self.side, f"SQLite file `{path}`: {exc}") from exc
        conn.text_factory = _text_factory
        return conn

    def server_version(self, conn: Any) -> str:
        return "SQLite " + sqlite3.sqlite_version

    def full_disk(self, exc: BaseException) -> str | None:
        """SQLITE_FULL from the stdlib driver, ADBC's driver (which reports SQLite's own text for
        it) or the OS: the target file's disk is full."""
        code = getattr(exc, "sqlite_errorcode", None)
        full = (isinstance(code, int) and code & 0xFF == SQLITE_FULL) or (
            isinstance(exc, OSError) and exc.errno == errno.ENOSPC
        )
        if full or FULL_TEXT in str(exc):
            return self.endpoint.path or None
        return None

    # ------------------------------------------------------------------ schema
    def existing_tables(self, conn: Any) -> set[str]:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        return {r[0] for r in rows}

    def reflect(self, conn: Any, select: Callable[[str], bool]) -> Schema:
        master = conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
        schema = Schema(tables=[])
        for kind, name, sql in master:
            if kind == "view":
                schema.views.append(name)
            elif kind == "trigger":
                schema.triggers.append(name)
            elif kind == "table" and select(name):
                table = self._reflect_table(conn, name)
                table.native_ddl = sql
                found = sqlite_collations(sql or "")
                table.columns = [replace(c, collation=found.get(c.name)) for c in table.columns]
                schema.tables.append(table)
        schema.objects = reflect_objects(conn, schema.tables, select)
        return schema

    def _reflect_table(self, conn: Any, name: str) -> Table:
        q = self.quote(name)
        info = conn.execute(f"PRAGMA table_xinfo({q})").fetchall()
        pk = [r for r in info if r[5] > 0]
        pk_cols = tuple(r[1] for r in sorted(pk, key=lambda r: r[5]))
        has_autoinc = bool(
            conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name=? AND sql LIKE "
                "'%AUTOINCREMENT%'",
                (name,),
            ).fetchone()
        )
        columns = []
        notes: list[str] = []
        for _cid, cname, decl, notnull, default, pkpos, hidden in info:
            if hidden:
                notes.append(f"`{cname}`: generated column not copied")
                continue
            ctype = canonical_type(decl or "")
            rowid_alias = len(pk_cols) == 1 and pkpos == 1 and (decl or "").upper() == "INTEGER"
            try:
                portable = portable_default(default, self.spelling)
            except NotPortable:
                portable = None
            columns.append(
                Column(
                    name=cname,
                    type=ctype,
                    # a non-INTEGER primary key column of a rowid table may hold NULL
                    nullable=not notnull and (pkpos == 0 or not _without_rowid(conn, name)),
                    default=portable,
                    autoincrement=rowid_alias or (has_autoinc and pkpos == 1),
                    native_default=default,
                )
            )
        table = Table(name=name, columns=columns, primary_key=pk_cols, engine="sqlite", notes=notes)
        row = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()
        table.checks = _checks(row[0] if row else "", self.spelling)
        for _seq, iname, unique, origin, partial in conn.execute(f"PRAGMA index_list({q})"):
            if origin == "pk":
                continue
            cols = tuple(
                r[2] for r in conn.execute(f"PRAGMA index_info({self.quote(iname)})") if r[2]
            )
            if not cols or partial:
                notes.append(f"index `{iname}` (on expressions or partial) is not copied")
                continue
            idx = Index(
                name=iname if origin == "c" else f"{name}_{'_'.join(cols)}_key",
                columns=cols,
                unique=bool(unique),
            )
            (table.uniques if origin == "u" else table.indexes).append(idx)
        fks: dict[int, list[Any]] = {}
        for row in conn.execute(f"PRAGMA foreign_key_list({q})"):
            fks.setdefault(row[0], []).append(row)
        for rows in fks.values():
            rows.sort(key=lambda r: r[1])
            table.foreign_keys.append(
                ForeignKey(
                    name=None,
                    columns=tuple(r[3] for r in rows),
                    ref_table=rows[0][2],
                    ref_columns=tuple(r[4] for r in rows if r[4]) or (),
                    on_update=_action(rows[0][5]),
                    on_delete=_action(rows[0][6]),
                )
            )
        est = (
            conn.execute(f"SELECT max(rowid) FROM {q}").fetchone()
            if not _without_rowid(conn, name)
            else None
        )
        table.row_estimate = int(est[0] or 0) if est else 0
        return table

    def declared_type(self, declared: str) -> ColumnType:
        return canonical_type(declared)

    def collation_for(self, source: Collation | None) -> Collation | None:
        return sqlite_collation(source)

    def render_type(self, ctype: ColumnType, where: str) -> TypeChoice:
        return render_type(ctype, where)

    def column_ddl(self, col: Column, sql_type: str, in_pk: bool, single_pk: bool) -> str:
        if in_pk and single_pk and col.autoincrement and sql_type.upper() == "INTEGER":
            # a rowid alias; AUTOINCREMENT never reuses a key, like a sequence or AUTO_INCREMENT
            return f"{self.quote(col.name)} INTEGER PRIMARY KEY AUTOINCREMENT"
        return super().column_ddl(col, sql_type, in_pk, single_pk)

    def create_table_sql(self, table: Table, types: dict[str, str]) -> list[str]:
        """A table from a SQLite source is created by its own CREATE TABLE."""
        if table.native_ddl:
            return [table.native_ddl]
        return super().create_table_sql(table, types)

    def generates_values(self, column: str, primary_key: Sequence[str], sql_type: str) -> bool:
        return tuple(primary_key) == (column,) and sql_type.upper() == "INTEGER"

    def _pk_inline(self, table: Table, types: dict[str, str]) -> bool:
        return self._rowid_alias(table, types) is not None

    def _rowid_alias(self, table: Table, types: dict[str, str]) -> Column | None:
        if len(table.primary_key) != 1:
            return None
        col = table.column(table.primary_key[0])
        return col if col.autoincrement and types[col.name].upper() == "INTEGER" else None

    def truncate_sql(self, name: str) -> str:
        return f"DELETE FROM {self.qualified(name)}"

    # ------------------------------------------------------------------ data
    def decoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        return [decoder(c.type.kind, counters) for c in table.columns]

    def encoders(self, table: Table, counters: ValueCounters) -> list[Converter | None]:
        nan = nan_encoder(counters)
        return [
            nan if c.type.kind in ("float32", "float64") else encode_value for c in table.columns
        ]

    def lossy_encoders(self, table: Table) -> list[Converter | None]:
        nan = nan_encoder(ValueCounters())
        return [nan if c.type.kind in ("float32", "float64") else None for c in table.columns]

    def begin_load(self, conn: Any) -> None:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA foreign_keys=OFF")

    def end_load(self, conn: Any) -> None:
        conn.execute("PRAGMA synchronous=FULL")

    def write_rows(self, conn: Any, table: Table, rows: Sequence[Row]) -> int:
        marks = ", ".join("?" * len(table.columns))
        sql = (
            f"INSERT INTO {self.qualified(table.name)} ({self.column_list(table.column_names)}) "
            f"VALUES ({marks})"
        )
        try:
            conn.executemany(sql, rows)
            conn.commit()
        except (sqlite3.Error, OverflowError) as exc:
            conn.rollback()
            raise TransferError(f"SQLite insert failed: {exc}", table.name) from exc
        return len(rows)

    def reset_sequence_sql(self, conn: Any, table: Table) -> list[str]:
        """AUTOINCREMENT keys continue after the copied maximum (``sqlite_sequence``)."""
        if not table.primary_key:
            return []
        col = table.column(table.primary_key[0])
        if not col.autoincrement or not self._has_sequence(conn):
            return []
        top = f"COALESCE((SELECT MAX({self.quote(col.name)}) FROM {self.qualified(table.name)}), 0)"
        name = self.literal(table.name)
        return [f"UPDATE sqlite_sequence SET seq = MAX(seq, {top}) WHERE name = {name}"]

    @staticmethod
    def _has_sequence(conn: Any) -> bool:
        return bool(
            conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone()
        )


def _checks(create_sql: str, spelling: Spelling) -> list[Check]:
    """The CHECK constraints of a CREATE TABLE statement, column and table level alike."""
    try:
        tokens = tokenize(create_sql, spelling)
    except NotPortable:
        return []
    out: list[Check] = []
    for i, t in enumerate(tokens):
        if not (t.kind == "word" and t.text.upper() == "CHECK"):
            continue
        if i + 1 >= len(tokens) or tokens[i + 1].text != "(":
            continue
        name = None
        if i >= 2 and tokens[i - 2].kind == "word" and tokens[i - 2].text.upper() == "CONSTRAINT":
            name = tokens[i - 1].text
        depth, j = 0, i + 1
        while j < len(tokens):
            if tokens[j].kind == "op" and tokens[j].text == "(":
                depth += 1
            elif tokens[j].kind == "op" and tokens[j].text == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        out.append(Check(name, _spell(tokens[i + 2 : j]), "sqlite"))
    return out


def _spell(tokens: list[Token]) -> str:
    parts = []
    for t in tokens:
        if t.kind == "str":
            parts.append("'" + t.text.replace("'", "''") + "'")
        elif t.kind == "qident":
            parts.append('"' + t.text.replace('"', '""') + '"')
        else:
            parts.append(t.text)
    return " ".join(parts)


def _without_rowid(conn: Any, name: str) -> bool:
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name=?", (name,)).fetchone()
    return bool(row and row[0] and "WITHOUT ROWID" in row[0].upper())


def _action(value: str | None) -> str | None:
    return None if value in (None, "NO ACTION") else value


def _text_factory(b: bytes) -> str:
    """Decode TEXT as UTF-8, keeping invalid bytes visible instead of failing the read."""
    return b.decode("utf-8", "surrogateescape")
