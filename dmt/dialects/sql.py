"""How an engine spells SQL: names, literals and parameter merging, CREATE TABLE with its
constraints and indexes, and the key-range predicates reads and deletes share.

:class:`SqlDialect` is the lower half of :class:`dmt.dialects.base.Dialect`; it needs only the
endpoint (for the schema name), never a connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from dmt.config import Endpoint
from dmt.errors import first_line
from dmt.model.schema import (
    Check,
    Collation,
    Column,
    ColumnType,
    ForeignKey,
    Index,
    NativeObject,
    Table,
)
from dmt.schema.expr import Spelling, is_string, unquote


@dataclass(frozen=True)
class TypeChoice:
    """A rendered target type and, when the mapping is lossy, why."""

    sql: str
    warning: str | None = None


class SqlDialect:
    """SQL text of one engine; subclasses override only their differences."""

    name: ClassVar[str] = ""
    #: the ``paramstyle`` placeholder for one bound value
    placeholder: ClassVar[str] = "%s"
    max_identifier_length: ClassVar[int] = 63
    #: identifiers compared by bytes (PostgreSQL) or characters (MySQL)
    identifier_length_in_bytes: ClassVar[bool] = False
    supports_schemas: ClassVar[bool] = False
    #: foreign keys and checks must be declared in CREATE TABLE (SQLite cannot ALTER them in)
    inline_constraints: ClassVar[bool] = False
    #: ``Foo`` and ``foo`` name the same table or column
    case_insensitive_names: ClassVar[bool] = True
    #: an index may cover a prefix of a column (MySQL ``KEY (name(10))``)
    supports_prefix_indexes: ClassVar[bool] = False
    #: how this engine writes the expressions of defaults and checks (read on reflection)
    spelling: ClassVar[Spelling] = Spelling()
    #: the sqlglot dialect that reads and writes this engine's defaults and checks
    transpile_as: ClassVar[str] = ""
    #: expressions of :data:`dmt.schema.transpile.PORTABLE` (sqlglot class names) this engine
    #: has no built-in for: a default or check using one is not created here
    missing_expressions: ClassVar[frozenset[str]] = frozenset()

    #: ``LIKE`` works on a column whose collation folds case or accents
    folding_takes_like: ClassVar[bool] = True
    #: the column kinds that take a collation
    collatable_kinds: ClassVar[frozenset[str]] = frozenset({"char", "varchar", "text"})

    endpoint: Endpoint

    # SQL text dmt builds is always executed with a parameter tuple (possibly empty) through
    # ``execute``, so with a ``%s`` paramstyle every literal ``%`` in it is doubled: in
    # quoted names, string literals and expressions alike (psycopg and PyMySQL both merge
    # parameters, and un-double ``%%``, whenever a tuple is passed, even an empty one).

    def sql_text(self, text: str) -> str:
        """``text`` made safe for this driver's parameter merging."""
        return text.replace("%", "%%") if self.placeholder == "%s" else text

    def quote(self, ident: str) -> str:
        return self.sql_text('"' + ident.replace('"', '""') + '"')

    def literal(self, value: str) -> str:
        """A string literal."""
        return self.sql_text("'" + value.replace("'", "''") + "'")

    def bool_literal(self, value: bool) -> str:
        return "1" if value else "0"

    @classmethod
    def transpiler(cls) -> Any:
        """What sqlglot is given as this engine's dialect: :attr:`transpile_as`, unless the
        engine needs its own variant (built on the first call: sqlglot loads lazily)."""
        return cls.transpile_as

    def qualified(self, table: str) -> str:
        """The table name as it appears in SQL, schema-qualified where the engine has schemas."""
        if self.supports_schemas and self.endpoint.schema:
            return f"{self.quote(self.endpoint.schema)}.{self.quote(table)}"
        return self.quote(table)

    def keeps_sequence_default(self, native_default: str | None) -> bool:
        """Whether a column numbered by ``native_default`` (a source of this engine) keeps it
        verbatim because the source's sequences are carried too (PostgreSQL's serials)."""
        return False

    def raw_quote(self, ident: str) -> str:
        """An identifier for SQL executed without parameters (no ``%`` doubling)."""
        q = self.quote("x")
        left, right = q[0], q[-1]
        return left + ident.replace(right, right * 2) + right

    def relation(self, table: str) -> str:
        """The table as a query reading its rows names it (see PostgreSQL's override)."""
        return self.qualified(table)

    def create_native_objects(self, conn: Any, objects: Sequence[NativeObject]) -> list[str]:
        """Create objects carried as this engine's own DDL, in list order, each in its own
        transaction after its setup statements; views naming views created later are retried
        until a pass creates nothing more. One line per object not created
        (``view x: not migrated (reason)``)."""
        failures: dict[NativeObject, str] = {}
        pending = list(objects)
        while pending:
            retry = []
            for obj in pending:
                cur = conn.cursor()
                try:
                    for sql in self.object_statements(obj):
                        cur.execute(sql)  # native DDL: no parameters, no `%` doubling
                    conn.commit()
                    failures.pop(obj, None)
                except Exception as exc:
                    conn.rollback()
                    failures[obj] = first_line(exc)
                    if obj.kind in ("view", "materialized view"):
                        retry.append(obj)
                finally:
                    cur.close()
            if not retry or len(retry) == len(pending):
                break
            pending = retry
        return [f"{o.kind} {o.name}: not migrated ({why})" for o, why in failures.items()]

    def object_statements(self, obj: NativeObject) -> Sequence[str]:
        """What creates one carried object: its setup statements, then its DDL."""
        return (*obj.setup, obj.ddl)

    def column_list(self, names: Sequence[str]) -> str:
        return ", ".join(self.quote(n) for n in names)

    # ------------------------------------------------------------------ types and defaults
    def render_type(self, ctype: ColumnType, where: str) -> TypeChoice:
        """The target SQL type for a canonical type; ``where`` is ``table.column``."""
        raise NotImplementedError

    def render_default(self, col: Column, sql_type: str) -> str | None:
        """The target spelling of a portable default (see :class:`Column`)."""
        d = col.default
        if d is None or col.autoincrement:
            return None
        if col.type.kind == "boolean" and d in ("TRUE", "FALSE", "0", "1", "'t'", "'f'"):
            return self.bool_literal(d in ("TRUE", "1", "'t'"))
        if d in ("TRUE", "FALSE"):
            return "1" if d == "TRUE" else "0"
        if is_string(d):
            return self.literal(unquote(d))
        if d.startswith("CURRENT_"):
            return self.now_default(d, col.type)
        return d

    def default_clause(self, default: str, sql_type: str) -> str:
        """A rendered default as a column of ``sql_type`` may declare it."""
        return default

    def generates_values(self, column: str, primary_key: Sequence[str], sql_type: str) -> bool:
        """Whether a column of ``sql_type`` can take its values from a generator (identity,
        AUTO_INCREMENT, rowid); the base: an integer column anywhere."""
        return sql_type.lower() in ("smallint", "integer", "bigint")

    def now_default(self, which: str, ctype: ColumnType) -> str:
        """``CURRENT_TIMESTAMP`` / ``CURRENT_DATE`` / ``CURRENT_TIME`` as a column default."""
        return which

    # ------------------------------------------------------------------ collations
    def learn_collations(self, conn: Any) -> None:
        """Read which collations this (target) server has; the base has no catalog to read."""

    def has_collation(self, collation: Collation, carried: bool) -> bool:
        """Whether a collation of this engine exists here (``carried``: the source's own
        objects are created here first)."""
        return True

    def collation_for(self, source: Collation | None) -> Collation | None:
        """This engine's closest collation to a source reading (None: the default, exact)."""
        return None

    def binary_collation(self) -> Collation | None:
        """The collation comparing text character by character (None: the default does)."""
        return None

    def collate_clause(self, collation: Collation) -> str:
        return f"COLLATE {self.quote(collation.name)}"

    # ------------------------------------------------------------------ tables
    def column_ddl(self, col: Column, sql_type: str, in_pk: bool, single_pk: bool) -> str:
        parts = (
            [self.quote(col.name), self.sql_text(sql_type)] if sql_type else [self.quote(col.name)]
        )
        c = col.collation
        if sql_type and c and c.engine == self.name and col.type.kind in self.collatable_kinds:
            parts.append(self.collate_clause(c))
        if col.default is not None and not col.autoincrement:
            parts.append(f"DEFAULT {col.default}")
        if not col.nullable or in_pk:
            parts.append("NOT NULL")
        return " ".join(parts)

    def create_table_sql(self, table: Table, types: dict[str, str]) -> list[str]:
        """CREATE TABLE with columns and primary key only (indexes come after the load);
        with :attr:`inline_constraints`, also its foreign keys and checks.

        ``table`` is a target table: its defaults and checks are already in this dialect's
        spelling (see :func:`dmt.schema.translate.translate`)."""
        single_pk = len(table.primary_key) == 1
        cols = [
            self.column_ddl(c, types[c.name], c.name in table.primary_key, single_pk)
            for c in table.columns
        ]
        if table.primary_key and not self._pk_inline(table, types):
            cols.append(f"PRIMARY KEY ({self.column_list(table.primary_key)})")
        if self.inline_constraints:
            cols += [self._fk_clause(fk) for fk in table.foreign_keys]
            cols += [self._check_clause(ck) for ck in table.checks]
        return [f"CREATE TABLE {self.qualified(table.name)} (\n  " + ",\n  ".join(cols) + "\n)"]

    def _fk_clause(self, fk: ForeignKey) -> str:
        name = f"CONSTRAINT {self.quote(fk.name)} " if fk.name else ""
        sql = (
            f"{name}FOREIGN KEY ({self.column_list(fk.columns)}) "
            f"REFERENCES {self.qualified(fk.ref_table)} ({self.column_list(fk.ref_columns)})"
        )
        if fk.on_delete:
            sql += f" ON DELETE {fk.on_delete}"
        if fk.on_update:
            sql += f" ON UPDATE {fk.on_update}"
        return sql

    def _check_clause(self, check: Check) -> str:
        name = f"CONSTRAINT {self.quote(check.name)} " if check.name else ""
        return f"{name}CHECK ({check.sqltext})"

    def adapt_table(self, table: Table, types: dict[str, str]) -> list[str]:
        """Adjust a planned target table to this engine's limits (in place); return a warning
        for every lossy adjustment. The base drops MySQL index prefix lengths."""
        warnings = []
        if not self.supports_prefix_indexes:
            for group in (table.uniques, table.indexes):
                for i, idx in enumerate(group):
                    if any(idx.lengths):
                        group[i] = replace(idx, lengths=())
                        warnings.append(
                            f"{table.name}: index `{idx.name}` covered column prefixes; "
                            "it covers the whole columns on the target"
                        )
        return warnings

    def _pk_inline(self, table: Table, types: dict[str, str]) -> bool:
        """Whether column_ddl already declared the primary key (SQLite rowid aliases)."""
        return False

    def drop_table_sql(self, name: str) -> str:
        return f"DROP TABLE IF EXISTS {self.qualified(name)}"

    def truncate_sql(self, name: str) -> str:
        return f"TRUNCATE TABLE {self.qualified(name)}"

    def truncate_tables_sql(self, names: Sequence[str]) -> list[str]:
        """Statements emptying all of ``names`` (tables referencing each other included)."""
        return [self.truncate_sql(n) for n in names]

    # ------------------------------------------------------------------ after the load
    def index_sql(self, table: Table, index: Index) -> str:
        unique = "UNIQUE " if index.unique else ""
        return (
            f"CREATE {unique}INDEX IF NOT EXISTS {self.quote(index.name)} "
            f"ON {self.qualified(table.name)} "
            f"({self.column_list(index.columns)})"
        )

    def foreign_key_sql(self, table: Table, fk: ForeignKey) -> str:
        """ALTER TABLE ... ADD FOREIGN KEY; empty when :attr:`inline_constraints`."""
        if self.inline_constraints:
            return ""
        return f"ALTER TABLE {self.qualified(table.name)} ADD {self._fk_clause(fk)}"

    def check_sql(self, table: Table, check: Check) -> str:
        """ALTER TABLE ... ADD CHECK; empty when :attr:`inline_constraints`."""
        if self.inline_constraints:
            return ""
        return f"ALTER TABLE {self.qualified(table.name)} ADD {self._check_clause(check)}"

    # ------------------------------------------------------------------ key ranges
    def select_sql(self, table: Table, key: Sequence[str], lower: bool, upper: bool) -> str:
        """SELECT all columns with an optional exclusive lower / inclusive upper key bound."""
        where = []
        if lower:
            where.append(self._row_compare(key, ">"))
        if upper:
            where.append(self._row_compare(key, "<="))
        cols = ", ".join(self.select_expr(c) for c in table.columns)
        sql = f"SELECT {cols} FROM {self.relation(table.name)}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if key:
            sql += f" ORDER BY {self.column_list(key)}"
        return sql

    def select_expr(self, col: Column) -> str:
        """How a column is read: the column itself, unless the driver cannot return it exactly."""
        return self.quote(col.name)

    def _row_compare(self, key: Sequence[str], op: str) -> str:
        if len(key) == 1:
            return f"{self.quote(key[0])} {op} {self.placeholder}"
        marks = ", ".join([self.placeholder] * len(key))
        return f"({self.column_list(key)}) {op} ({marks})"

    def _key_in(self, key: Sequence[str], count: int) -> str:
        """``key IN (...)`` over ``count`` bound keys."""
        if len(key) == 1:
            marks = ", ".join([self.placeholder] * count)
            return f"{self.quote(key[0])} IN ({marks})"
        one = "(" + ", ".join([self.placeholder] * len(key)) + ")"
        return f"({self.column_list(key)}) IN ({', '.join([one] * count)})"
