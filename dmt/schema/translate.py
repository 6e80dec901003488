"""Source schema -> target tables: names (case, length, collisions) and types (mapping,
overrides, warnings for every lossy step)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from dmt.config import MigrationConfig, TypeOverrides
from dmt.dialects.base import Dialect
from dmt.errors import ConfigError
from dmt.schema.model import Column, ForeignKey, Index, Table


@dataclass
class TablePlan:
    """One table as the source has it and as the target will have it."""

    source: Table
    target: Table
    types: dict[str, str]  # target column name -> target SQL type
    warnings: list[str] = field(default_factory=list)


class Namer:
    """Maps source identifiers to target identifiers and rejects collisions."""

    def __init__(self, dialect: Dialect, case: str) -> None:
        self.dialect = dialect
        self.case = case

    def __call__(self, name: str) -> str:
        out = name.lower() if self.case == "lower" else name
        limit = self.dialect.max_identifier_length
        if self.dialect.identifier_length_in_bytes:
            raw = out.encode("utf-8")
            if len(raw) > limit:
                out = raw[:limit].decode("utf-8", "ignore")
        elif len(out) > limit:
            out = out[:limit]
        return out


def _check_unique(names: dict[str, str], what: str) -> None:
    seen: dict[str, str] = {}
    for src, dst in names.items():
        key = dst.lower()  # MySQL on case-insensitive file systems and SQLite fold case
        if key in seen:
            raise ConfigError(
                "migration.identifier_case",
                f"{what} `{seen[key]}` and `{src}` would both become `{dst}` on the target; "
                "rename one, or exclude one with migration.exclude_tables",
            )
        seen[key] = src


def translate(
    tables: list[Table], target: Dialect, cfg: MigrationConfig, overrides: TypeOverrides
) -> list[TablePlan]:
    """Plan every table for the target; raises ConfigError on name collisions."""
    namer = Namer(target, cfg.identifier_case)
    table_names = {t.name: namer(t.name) for t in tables}
    _check_unique(table_names, "tables")
    plans = []
    for t in tables:
        col_names = {c.name: namer(c.name) for c in t.columns}
        _check_unique(col_names, f"columns of `{t.name}`:")
        types: dict[str, str] = {}
        warnings: list[str] = []
        columns = []
        for c in t.columns:
            where = f"{t.name}.{c.name}"
            forced = overrides.columns.get(where) or overrides.types.get(c.type.source.lower())
            if forced:
                sql = forced
            else:
                choice = target.render_type(c.type, where)
                sql = choice.sql
                if choice.warning:
                    warnings.append(choice.warning)
            types[col_names[c.name]] = sql
            columns.append(replace(c, name=col_names[c.name]))

        def cols(names: tuple[str, ...], m: dict[str, str] = col_names) -> tuple[str, ...]:
            return tuple(m[n] for n in names)

        target_table = Table(
            name=table_names[t.name],
            columns=columns,
            primary_key=cols(t.primary_key),
            uniques=[replace(i, name=namer(i.name), columns=cols(i.columns)) for i in t.uniques],
            indexes=[replace(i, name=namer(i.name), columns=cols(i.columns)) for i in t.indexes],
            foreign_keys=[_fk(fk, t, tables, table_names, namer) for fk in t.foreign_keys],
            checks=list(t.checks),
            comment=t.comment,
            row_estimate=t.row_estimate,
        )
        plans.append(TablePlan(t, target_table, types, warnings))
    return plans


def _fk(
    fk: ForeignKey, t: Table, tables: list[Table], table_names: dict[str, str], namer: Namer
) -> ForeignKey:
    ref = next((x for x in tables if x.name == fk.ref_table), None)
    ref_cols = fk.ref_columns or (ref.primary_key if ref else ())
    return ForeignKey(
        name=namer(fk.name) if fk.name else None,
        columns=tuple(namer(c) for c in fk.columns),
        ref_table=table_names.get(fk.ref_table, namer(fk.ref_table)),
        ref_columns=tuple(namer(c) for c in ref_cols),
        on_delete=fk.on_delete,
        on_update=fk.on_update,
    )


def index_name(table: str, idx: Index) -> str:
    return idx.name or f"{table}_{'_'.join(idx.columns)}_idx"


def key_for(table: Table) -> tuple[str, ...]:
    """The chunking key: the primary key, else the first unique constraint on NOT NULL columns."""
    if table.primary_key:
        return table.primary_key
    for u in table.uniques:
        if all(not _col(table, c).nullable for c in u.columns):
            return u.columns
    return ()


def _col(table: Table, name: str) -> Column:
    return table.column(name)
