"""The engine-neutral schema model: what reflection produces and DDL consumes.

Types are canonical (:data:`KINDS`); each dialect maps its own types to them on reflection and
renders them back on creation, so nine directions need three mappings each way, not nine.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

#: The canonical type set. Integer kinds carry ``unsigned``; string kinds carry ``length``.
KINDS = (
    "boolean",
    "int8",  # tinyint
    "int16",
    "int32",
    "int64",
    "decimal",  # precision/scale; precision None = unconstrained
    "float32",
    "float64",
    "char",
    "varchar",
    "text",
    "binary",  # fixed length
    "varbinary",
    "blob",
    "date",
    "time",
    "timestamp",  # without time zone
    "timestamptz",  # an instant
    "interval",
    "uuid",
    "json",
    "enum",
    "set",
    "array",
    "year",
    "bit",
)

#: the integer kinds: exact whole numbers with dense keys (key ranges split them arithmetically)
INT_KINDS = frozenset({"int8", "int16", "int32", "int64"})
#: every kind whose values are whole numbers: the integers and YEAR
WHOLE_NUMBER_KINDS = INT_KINDS | {"year"}


@dataclass(frozen=True)
class ColumnType:
    """A canonical column type. ``source`` keeps the declared type for messages and overrides."""

    kind: str
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    fsp: int | None = None  # fractional seconds digits for time/timestamp
    unsigned: bool = False
    values: tuple[str, ...] = ()  # enum / set members
    item: str | None = None  # array element kind
    source: str = ""  # the declared source type, e.g. "int(10) unsigned"
    #: the engine that declared ``source``; a target of the same engine keeps it verbatim
    engine: str = ""
    #: a type the engine ships with (not a user-defined enum, domain or composite)
    builtin: bool = True
    #: why reflection could only approximate this type (e.g. an untyped SQLite column)
    note: str | None = None

    def with_(self, **changes: object) -> ColumnType:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Collation:
    """How a text column compares: ``name`` as its engine spells it (``utf8mb4_general_ci``,
    ``"und-ci"``, ``NOCASE``) and an engine-neutral reading of it.

    ``case`` is ``sensitive``, ``ascii`` (only ASCII letters fold: SQLite NOCASE) or
    ``insensitive``; ``accents`` False means ``'e' = 'é'`` and other folds (``'ß' = 'ss'``);
    ``pad`` means trailing spaces are ignored (``'x' = 'x '``)."""

    name: str
    engine: str
    charset: str | None = None  # MySQL's character set of the column
    #: a user-defined collation's schema (PostgreSQL; a same-engine target receives it)
    schema: str | None = None
    case: str = "sensitive"
    accents: bool = True
    pad: bool = False

    @property
    def binary(self) -> bool:
        """Equal only when the characters are the same (sorting may still be linguistic)."""
        return self.case == "sensitive" and self.accents and not self.pad


@dataclass(frozen=True)
class Column:
    """One column.

    ``default`` is the portable form of the source's default (see :mod:`dmt.schema.defaults`):
    a number, a standard SQL string literal, ``TRUE``/``FALSE`` or ``CURRENT_TIMESTAMP`` /
    ``CURRENT_DATE`` / ``CURRENT_TIME``; ``None`` when there is none or it is not portable.
    ``native_default`` is the expression as the source engine spells it (kept for a target of
    the same engine, and named in the warning when it cannot be carried elsewhere).
    """

    name: str
    type: ColumnType
    nullable: bool = True
    default: str | None = None
    autoincrement: bool = False
    comment: str | None = None
    native_default: str | None = None
    #: a text column's collation; None: the engine's default, which compares characters
    #: exactly (PostgreSQL's deterministic default, SQLite's BINARY)
    collation: Collation | None = None


@dataclass(frozen=True)
class Index:
    """An index or unique constraint."""

    name: str
    columns: tuple[str, ...]
    unique: bool = False
    lengths: tuple[int | None, ...] = ()  # MySQL prefix lengths, parallel to columns


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key; ``ref_columns`` empty means the referenced table's primary key."""

    name: str | None
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str | None = None
    on_update: str | None = None


@dataclass(frozen=True)
class Check:
    """A check constraint; ``sqltext`` is the expression as ``engine`` spells it."""

    name: str | None
    sqltext: str
    engine: str = ""


@dataclass
class Table:
    """A table as reflected from the source (names as the source spells them)."""

    name: str
    columns: list[Column]
    primary_key: tuple[str, ...] = ()
    uniques: list[Index] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    comment: str | None = None
    row_estimate: int = 0
    #: the engine this table was reflected from
    engine: str = ""
    #: the storage engine that holds its rows, where the source has several (MySQL: InnoDB)
    storage_engine: str = ""
    #: what reflection could not carry (non-portable indexes, ...), listed by ``dmt plan``
    notes: list[str] = field(default_factory=list)
    #: a partitioned table: its partition key as the source engine spells it
    #: (``RANGE (payment_date)``) and its partitions as (name, bound) in that engine's words;
    #: a target of the same engine recreates them, any other holds the rows in one table
    partitioning: str | None = None
    partitions: list[tuple[str, str]] = field(default_factory=list)
    #: the source's own CREATE TABLE, for an engine whose target of the same engine takes it
    #: verbatim (SQLite: STRICT, WITHOUT ROWID, generated columns, collations, constraints)
    native_ddl: str | None = None

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


@dataclass(frozen=True)
class NativeObject:
    """A schema object carried to a target of the same engine as the source's own DDL.

    ``phase`` is ``before`` (types and extensions, created before the tables) or ``after``
    (created once the data and keys are in, in list order: routines, views, indexes the
    model cannot express, comments, then triggers, so the load fires none of them)."""

    kind: str  # type, domain, extension, function, view, materialized view, index, trigger, ...
    name: str
    ddl: str
    phase: str = "after"
    table: str | None = None  # the table the object belongs to, if any
    #: statements run first on the same connection (a drop of an older copy, a session mode)
    setup: tuple[str, ...] = ()
    #: a view's query alone, as the source spells it (translated for another engine)
    body: str | None = None


@dataclass
class Schema:
    """Every selected table, plus the objects dmt lists but does not migrate."""

    tables: list[Table]
    views: list[str] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    routines: list[str] = field(default_factory=list)
    #: objects a target of the same engine receives as the source's own DDL
    objects: list[NativeObject] = field(default_factory=list)

    def table(self, name: str) -> Table:
        for t in self.tables:
            if t.name == name:
                return t
        raise KeyError(name)
