"""SQLAlchemy types <-> the canonical set.

Reflection reads each column's SQLAlchemy type (the dialect's own class, e.g. ``mysql.TINYINT``
or ``postgresql.INTERVAL``) and maps it through the generic type it derives from; a target
column gets the generic SQLAlchemy type of its canonical kind, compiled by the target's
SQLAlchemy dialect. Where the generic type would lose values on a backend SQLAlchemy knows
(MySQL's TEXT and BLOB stop at 64 KiB, its DATETIME and TIME keep no fractions by default,
SQLite has no exact decimal), the backend's own type is used; every lossy step left returns
a warning, like the hand-tuned dialects' type mappings.
"""

from __future__ import annotations

from typing import Any

from dmt.dialects.sql import TypeChoice
from dmt.model.schema import ColumnType

#: backends whose floats hold no NaN (SQLite stores NULL) or no NaN and ±Infinity (MySQL
#: rejects them): dmt stores NULL, counted
TO_NULL = {"mysql": "nonfinite", "mariadb": "nonfinite", "sqlite": "nan"}
#: backends without an exact decimal type (SQLAlchemy binds a Decimal as a float there)
NO_DECIMAL = frozenset({"sqlite"})
#: backends with an exact decimal of any precision (an unconstrained decimal stays so)
FREE_DECIMAL = frozenset({"postgresql", "oracle", "cockroachdb"})
#: backends that keep an interval as an interval
NATIVE_INTERVAL = frozenset({"postgresql", "oracle", "duckdb", "cockroachdb"})
_MYSQL = frozenset({"mysql", "mariadb"})
_NO_ZONE = "timestamptz stored as UTC without its zone"


def canonical(t: Any, backend: str, source: str, engine: str) -> ColumnType:
    """The canonical type of a column whose reflected SQLAlchemy type is ``t`` on ``backend``
    (a SQLAlchemy dialect name); ``source`` is the type as that backend spells it."""
    return _canonical(t, backend, source).with_(source=source, engine=engine)


def _canonical(t: Any, backend: str, source: str) -> ColumnType:
    from sqlalchemy import types as sat

    name = type(t).__name__.upper()
    if isinstance(t, sat.ARRAY):
        return ColumnType("array", item=_canonical(t.item_type, backend, "").kind)
    if isinstance(t, sat.Boolean):
        return ColumnType("boolean")
    if name == "TINYINT" and getattr(t, "display_width", None) == 1 and backend in _MYSQL:
        return ColumnType("boolean")  # MySQL's BOOL is tinyint(1)
    if name == "YEAR":
        return ColumnType("year")
    if name == "BIT":
        return ColumnType("bit", length=getattr(t, "length", None))
    unsigned = bool(getattr(t, "unsigned", False))
    if isinstance(t, sat.Integer) or name in ("TINYINT", "MEDIUMINT"):
        kind = {"TINYINT": "int8", "SMALLINT": "int16", "INT2": "int16", "MEDIUMINT": "int32"}
        if name in kind:
            return ColumnType(kind[name], unsigned=unsigned)
        if isinstance(t, sat.BigInteger) or backend == "sqlite":  # SQLite's integers: 64 bits
            return ColumnType("int64", unsigned=unsigned)
        if isinstance(t, sat.SmallInteger):
            return ColumnType("int16", unsigned=unsigned)
        return ColumnType("int32", unsigned=unsigned)
    if isinstance(t, sat.Float):
        return ColumnType(_float_kind(t, name, backend))
    if isinstance(t, sat.Numeric):
        p, s = t.precision, t.scale
        return ColumnType("decimal", precision=p, scale=s if p is not None else None)
    if isinstance(t, sat.Enum):
        return ColumnType("enum", values=tuple(t.enums))
    if name == "SET":
        return ColumnType("set", values=tuple(getattr(t, "values", ())))
    if isinstance(t, sat.Uuid):
        return ColumnType("uuid")
    if isinstance(t, sat.JSON):
        return ColumnType("json")
    if isinstance(t, sat.String):
        length = getattr(t, "length", None)
        if isinstance(t, sat.Text) or not length:
            return ColumnType("text")
        return ColumnType("char" if name in ("CHAR", "NCHAR") else "varchar", length=length)
    if isinstance(t, sat._Binary):
        length = getattr(t, "length", None)
        if name == "BINARY" and length:
            return ColumnType("binary", length=length)
        if name == "VARBINARY" and length:
            return ColumnType("varbinary", length=length)
        return ColumnType("blob")
    if isinstance(t, sat.DateTime):
        fsp = _fsp(t)
        return ColumnType("timestamptz" if t.timezone else "timestamp", fsp=fsp)
    if isinstance(t, sat.Date):
        return ColumnType("date")
    if isinstance(t, sat.Time):
        return ColumnType("time", fsp=_fsp(t))
    if isinstance(t, sat.Interval) or name == "INTERVAL":
        return ColumnType("interval")
    if isinstance(t, sat.NullType) and source in ("", "NULLTYPE"):
        return ColumnType("text", note="untyped column carried as text (any value)")
    return ColumnType("text", note=f"`{source or name}` carried as its text form")


def _float_kind(t: Any, name: str, backend: str) -> str:
    from sqlalchemy import types as sat

    if isinstance(t, sat.Double) or name in ("DOUBLE", "DOUBLE_PRECISION", "FLOAT8"):
        return "float64"
    if name in ("REAL", "FLOAT4"):
        return "float64" if backend == "sqlite" else "float32"  # SQLite's REAL: 8 bytes
    precision = getattr(t, "precision", None)
    if precision is not None:
        return "float32" if precision <= 24 else "float64"
    return "float32" if backend in _MYSQL else "float64"  # MySQL FLOAT: 4 bytes


def _fsp(t: Any) -> int:
    for attr in ("fsp", "precision"):
        v = getattr(t, attr, None)
        if isinstance(v, int):
            return v
    return 6


def target_type(ct: ColumnType, dialect: Any, where: str) -> tuple[Any, str | None]:
    """The SQLAlchemy type a target column of canonical type ``ct`` gets on ``dialect``, and
    the warning of a lossy step (None: exact), including the values only a PostgreSQL source
    holds (NaN, ±Infinity, ±infinity dates) that this backend cannot."""
    t, warning = _target_type(ct, dialect, where)
    pg = "postgres" in ct.engine  # a PostgreSQL source, hand-tuned or generic
    if pg and ct.kind == "decimal" and TO_NULL.get(dialect.name) == "nonfinite":
        warning = warning or f"{where}: numeric NaN and ±Infinity become NULL"
    if pg and ct.kind in ("date", "timestamp", "timestamptz") and dialect.name != "postgresql":
        clamp = f"{where}: ±infinity {ct.kind}s become 9999-12-31 / 0001-01-01"
        warning = f"{warning}; {clamp.split(': ', 1)[1]}" if warning else clamp
    return t, warning


def _target_type(ct: ColumnType, dialect: Any, where: str) -> tuple[Any, str | None]:
    import sqlalchemy as sa

    k, backend = ct.kind, dialect.name
    mysql = backend in _MYSQL
    if k in ("int8", "int16", "year"):
        return (sa.Integer() if ct.unsigned and k == "int16" else sa.SmallInteger()), None
    if k == "int32":
        return (sa.BigInteger() if ct.unsigned else sa.Integer()), None
    if k == "int64":
        if not ct.unsigned:
            return sa.BigInteger(), None
        return _decimal(ColumnType("decimal", precision=20, scale=0), dialect, where)
    if k == "boolean":
        return sa.Boolean(), None
    if k in ("float32", "float64"):
        t = sa.Float(24) if k == "float32" else sa.Double()
        lost = TO_NULL.get(backend)
        if lost is None or "postgres" not in ct.engine:  # only PostgreSQL's floats hold them
            return t, None
        what = "NaN becomes" if lost == "nan" else "NaN and ±Infinity become"
        return t, f"{where}: {what} NULL"
    if k == "decimal":
        return _decimal(ct, dialect, where)
    if k == "char":
        return sa.CHAR(ct.length or 1), None
    if k == "varchar" and ct.length:
        return sa.Unicode(ct.length), None
    if k in ("varchar", "text"):
        return _long_text(mysql), None
    if k in ("binary", "varbinary", "blob", "bit"):
        if mysql and k in ("binary", "varbinary") and ct.length:
            from sqlalchemy.dialects import mysql as my

            return (my.BINARY(ct.length) if k == "binary" else my.VARBINARY(ct.length)), None
        if mysql:
            from sqlalchemy.dialects import mysql as my

            return my.LONGBLOB(), None
        return sa.LargeBinary(), None
    if k == "date":
        return sa.Date(), None
    if k in ("time", "timestamp", "timestamptz"):
        return _temporal(ct, dialect, where)
    if k == "uuid":
        if getattr(dialect, "supports_native_uuid", False):
            return sa.Uuid(as_uuid=False), None
        return sa.String(36), None
    if k == "json":
        return sa.JSON(none_as_null=True), None
    if k == "array":
        return sa.JSON(none_as_null=True), f"{where}: array carried as a JSON array"
    if k in ("enum", "set"):
        return _long_text(mysql), f"{where}: {k} carried as text (members not enforced)"
    if k == "interval":
        if backend in NATIVE_INTERVAL:
            return sa.Interval(native=True), None
        return sa.Unicode(100), f"{where}: interval carried as its text form"
    return _long_text(mysql), (f"{where}: {ct.note}" if ct.note else None)


def _long_text(mysql: bool) -> Any:
    import sqlalchemy as sa

    if mysql:  # TEXT stops at 64 KiB
        from sqlalchemy.dialects import mysql as my

        return my.LONGTEXT()
    return sa.UnicodeText()


def _decimal(ct: ColumnType, dialect: Any, where: str) -> tuple[Any, str | None]:
    import sqlalchemy as sa

    if dialect.name in NO_DECIMAL:
        return sa.UnicodeText(), f"{where}: exact decimal stored as text"
    if ct.precision is not None:
        return sa.Numeric(ct.precision, ct.scale or 0, asdecimal=True), None
    if dialect.name in FREE_DECIMAL:
        return sa.Numeric(asdecimal=True), None
    p, s = (65, 30) if dialect.name in _MYSQL else (38, 10)
    return (
        sa.Numeric(p, s, asdecimal=True),
        f"{where}: unconstrained numeric stored as decimal({p},{s})",
    )


def _temporal(ct: ColumnType, dialect: Any, where: str) -> tuple[Any, str | None]:
    import sqlalchemy as sa

    fsp = 6 if ct.fsp is None else min(6, ct.fsp)
    if dialect.name in _MYSQL:
        from sqlalchemy.dialects import mysql as my

        if ct.kind == "time":
            return my.TIME(fsp=fsp), None
        warn = (
            f"{where}: timestamptz stored as UTC without its zone"
            if ct.kind == "timestamptz"
            else None
        )
        return my.DATETIME(fsp=fsp), warn
    if ct.kind == "time":
        return sa.Time(), None
    if ct.kind == "timestamp":
        return sa.DateTime(), None
    zoned = sa.DateTime(timezone=True)
    if _spell(zoned, dialect) == _spell(sa.DateTime(), dialect):
        return zoned, f"{where}: {_NO_ZONE}"
    return zoned, None


def _spell(t: Any, dialect: Any) -> str:
    """A type as ``dialect`` declares it in DDL."""
    try:
        return str(t.compile(dialect=dialect))
    except Exception:  # a type the dialect cannot compile (a reflected unknown type)
        return type(t).__name__.upper()


def render(ct: ColumnType, dialect: Any, where: str) -> TypeChoice:
    """The declared target type (compiled by ``dialect``) for a canonical type."""
    t, warning = target_type(ct, dialect, where)
    return TypeChoice(_spell(t, dialect), warning)


spell = _spell
