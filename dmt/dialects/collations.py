"""Collations of each engine: reading a source column's collation into the engine-neutral
:class:`Collation`, and each target's closest collation for a reading.

Readings by engine:

- MySQL/MariaDB, by the name: ``_bin`` and ``_cs`` compare case, ``_ci`` folds it; a ``_ci``
  collation folds accents too unless it says ``_as_``; ``nopad`` and UCA 9.0 (``_0900_``)
  collations keep trailing spaces, every other ignores them (PAD SPACE).
- PostgreSQL: a deterministic collation compares characters exactly; a nondeterministic ICU
  collation reads its strength from the locale (``ks-level1``: case and accents folded,
  ``ks-level2``: case folded, ``kc-true``: case kept again). One it cannot read is taken as
  exact, so a key column is never given a collation that folds more than the source did.
- SQLite: ``BINARY`` (the default), ``NOCASE`` (ASCII letters only), ``RTRIM``.
"""

from __future__ import annotations

import re

from dmt.model.schema import Collation

# ------------------------------------------------------------------ MySQL / MariaDB


def mysql_reading(name: str, charset: str | None) -> Collation:
    n = name.lower()
    insensitive = bool(re.search(r"_ci$", n))
    accents = not (re.search(r"_ai(_|$)", n) or (insensitive and "_as_" not in n))
    pad = not ("nopad" in n or "_0900_" in n or n.startswith("uca1400_nopad"))
    case = "insensitive" if insensitive else "sensitive"
    return Collation(name, "mysql", charset=charset, case=case, accents=accents, pad=pad)


def mysql_collation(source: Collation | None, mariadb: bool) -> Collation:
    """The utf8mb4 collation closest to ``source`` (None: exact comparison)."""
    if source is None or (source.case == "sensitive" and source.accents):
        if source is not None and source.pad:
            return mysql_reading("utf8mb4_bin", "utf8mb4")
        return mysql_binary(mariadb)
    if source.case == "sensitive":  # accents folded, case kept: no utf8mb4 collation does only that
        return mysql_binary(mariadb)
    if mariadb:
        name = "utf8mb4_unicode_ci" if source.pad else "utf8mb4_unicode_nopad_ci"
    else:
        name = "utf8mb4_0900_ai_ci" if not source.accents else "utf8mb4_0900_as_ci"
    return mysql_reading(name, "utf8mb4")


def mysql_binary(mariadb: bool) -> Collation:
    """utf8mb4 compared by code point, trailing spaces included (``utf8mb4_bin`` ignores them)."""
    return mysql_reading("utf8mb4_nopad_bin" if mariadb else "utf8mb4_0900_bin", "utf8mb4")


# ------------------------------------------------------------------ PostgreSQL

#: the nondeterministic ICU collations a PostgreSQL target is given for case-insensitive
#: sources, created in the target schema: (name, ICU locale, case, accents)
PG_FOLDING = (
    ("dmt_ci_ai", "und-u-ks-level1", "insensitive", False),
    ("dmt_ci", "und-u-ks-level2", "insensitive", True),
)


def postgres_reading(
    name: str, schema: str | None, deterministic: bool, locale: str | None
) -> Collation:
    if deterministic:
        return Collation(name, "postgres", schema=schema)
    loc = (locale or "").lower()
    level = re.search(r"-ks-level([123])", loc)
    if level is None or level.group(1) == "3":
        return Collation(name, "postgres", schema=schema)  # unread: taken as exact
    case = "sensitive" if "-kc-true" in loc else "insensitive"
    accents = level.group(1) == "2"
    return Collation(name, "postgres", schema=schema, case=case, accents=accents)


def postgres_collation(source: Collation | None, icu: bool) -> Collation | None:
    """A folding collation of :data:`PG_FOLDING` for a case-insensitive source (``icu``: the
    server has ICU), else None (the deterministic default). No PostgreSQL collation ignores
    trailing spaces: such a source gets the default, which keeps them apart."""
    if source is None or source.case == "sensitive" or not icu:
        return None
    name, _locale, case, accents = PG_FOLDING[0] if not source.accents else PG_FOLDING[1]
    return Collation(name, "postgres", case=case, accents=accents, schema="")


# ------------------------------------------------------------------ SQLite

SQLITE_COLLATIONS = {
    "BINARY": Collation("BINARY", "sqlite"),
    "NOCASE": Collation("NOCASE", "sqlite", case="ascii"),
    "RTRIM": Collation("RTRIM", "sqlite", pad=True),
}


def sqlite_collations(create_sql: str) -> dict[str, Collation]:
    """Each column's ``COLLATE`` in a CREATE TABLE (BINARY left out: it is the default)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(create_sql, read="sqlite")
    except Exception:  # a statement sqlglot cannot read: the columns compare as declared
        return {}
    out = {}
    for col in tree.find_all(exp.ColumnDef):
        for constraint in col.args.get("constraints") or []:
            kind = constraint.args.get("kind")
            if isinstance(kind, exp.CollateColumnConstraint):
                name = kind.this.name.upper()
                if name in SQLITE_COLLATIONS and name != "BINARY":
                    out[col.name] = SQLITE_COLLATIONS[name]
                elif name not in SQLITE_COLLATIONS:  # an application's own collation
                    out[col.name] = Collation(kind.this.name, "sqlite")
    return out


def sqlite_collation(source: Collation | None) -> Collation | None:
    if source is None or source.binary:
        return None
    if source.case != "sensitive":
        return SQLITE_COLLATIONS["NOCASE"]
    return SQLITE_COLLATIONS["RTRIM"] if source.pad else None
