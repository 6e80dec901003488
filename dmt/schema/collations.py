"""Each target text column's collation: the source's own on a target of the same engine that
has it, else the target's closest one; and a binary one for a key column whose closest
collation would make values the source keeps apart collide (``'a'``/``'A'``, ``'e'``/``'é'``,
``'ß'``/``'ss'``, ``'x'``/``'x '``). Every such choice is a plan warning."""

from __future__ import annotations

import re
from dataclasses import replace

from dmt.dialects.base import Dialect
from dmt.model.schema import Collation, Column, Table

#: how a column without a collation compares on every engine: character by character
EXACT = Collation("", "")


def keeps_apart(target: Collation | None, source: Collation | None) -> bool:
    """Whether ``target`` tells apart every two values ``source`` tells apart. Two collations
    that fold case or accents are only known to fold alike when they are the same one; a
    fold of ASCII letters only (SQLite NOCASE) is finer than any case-insensitive one."""
    t, s = target or EXACT, source or EXACT
    if (t.engine, t.name.lower()) == (s.engine, s.name.lower()):
        return True
    if (t.pad and not s.pad) or not t.accents or t.case == "insensitive":
        return False
    return t.case == "sensitive" or s.case != "sensitive"


def key_columns(table: Table) -> set[str]:
    """Columns of the primary key and of every unique constraint or unique index."""
    out = set(table.primary_key)
    for idx in [*table.uniques, *table.indexes]:
        if idx.unique:
            out.update(idx.columns)
    return out


def choose(
    col: Column, engine: str, key: bool, target: Dialect, native: bool, where: str
) -> tuple[Collation | None, str | None]:
    """(the target column's collation, a warning when a binary one was chosen for a key).
    ``native``: the source's own objects (a user-defined collation among them) are carried."""
    if col.type.kind not in target.collatable_kinds:
        return None, None
    src = col.collation
    same = (src.engine if src else engine) == target.name
    if same and (src is None or target.has_collation(src, native)):
        return src if src is not None else target.collation_for(None), None
    chosen = target.collation_for(src)
    if not key or keeps_apart(chosen, src):
        return chosen, None
    binary = target.binary_collation()
    source_name = f"`{src.name}`" if src else "the default collation"
    return binary, (
        f"{where}: binary collation `{binary.name if binary else 'default'}` chosen for a "
        f"unique text key (collation `{chosen.name if chosen else 'default'}` would merge "
        f"values {source_name} keeps apart: case, accents or trailing spaces)"
    )


def align_foreign_keys(tables: list[Table], kinds: frozenset[str]) -> None:
    """A referencing text column compares like the column it references (MySQL accepts a
    foreign key only between columns of one collation)."""
    by_name = {t.name: t for t in tables}
    for t in tables:
        for fk in t.foreign_keys:
            ref = by_name.get(fk.ref_table)
            if ref is None:
                continue
            for name, ref_name in zip(fk.columns, fk.ref_columns, strict=False):
                col, ref_col = t.column(name), ref.column(ref_name)
                if col.type.kind in kinds and col.collation != ref_col.collation:
                    i = t.columns.index(col)
                    t.columns[i] = replace(col, collation=ref_col.collation)


def keep_like_working(table: Table, target: Dialect, warnings: list[str]) -> None:
    """A column a check applies ``LIKE`` to keeps a binary collation on a target whose folding
    collations cannot take ``LIKE`` (PostgreSQL's nondeterministic ones, before 18)."""
    if target.folding_takes_like:
        return
    likes = [ck for ck in table.checks if re.search(r"\bLIKE\b", ck.sqltext, re.IGNORECASE)]
    for i, col in enumerate(table.columns):
        c = col.collation
        if c is None or c.case == "sensitive" or c.engine != target.name:
            continue
        for ck in likes:
            if re.search(rf"(?<![\w$]){re.escape(col.name)}(?![\w$])", ck.sqltext):
                table.columns[i] = replace(col, collation=target.binary_collation())
                warnings.append(
                    f"{table.name}.{col.name}: collation `{c.name}` not used (check "
                    f"`{ck.name or ck.sqltext}` applies LIKE to it, which {target.title} "
                    "cannot do under a case-insensitive collation)"
                )
                break
