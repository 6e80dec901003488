"""Source schema -> target tables: names (case, length, collisions) and types (mapping,
overrides, warnings for every lossy step)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from dmt.config import MigrationConfig, TypeOverrides
from dmt.dialects.base import Dialect, expression_dialect
from dmt.errors import ConfigError
from dmt.model.schema import Check, Column, ForeignKey, Table
from dmt.schema import collations, transpile
from dmt.schema.expr import NotPortable


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


def _check_unique(names: dict[str, str], what: str, fold: bool = True) -> None:
    seen: dict[str, str] = {}
    for src, dst in names.items():
        key = dst.lower() if fold else dst  # MySQL and SQLite compare names without case
        if key in seen:
            raise ConfigError(
                "migration.identifier_case",
                f"{what} `{seen[key]}` and `{src}` would both become `{dst}` on the target; "
                "rename one, or exclude one with migration.exclude_tables",
            )
        seen[key] = src


def translate(
    tables: list[Table],
    target: Dialect,
    cfg: MigrationConfig,
    overrides: TypeOverrides,
    native: bool = False,
) -> list[TablePlan]:
    """Plan every table for the target; raises ConfigError on name collisions. ``native``:
    the source's own types and partitioning are carried too (same engine, see
    :func:`dmt.schema.objects.carried_objects`)."""  # fmt: skip
    namer = Namer(target, cfg.identifier_case)
    fold = target.case_insensitive_names
    table_names = {t.name: namer(t.name) for t in tables}
    _check_unique(table_names, "tables", fold)
    plans = []
    for t in tables:
        col_names = {c.name: namer(c.name) for c in t.columns}
        _check_unique(col_names, f"columns of `{t.name}`:", True)
        types: dict[str, str] = {}
        # a same-engine target receives the indexes and generated columns the model cannot
        # express as native DDL
        notes = [n for n in t.notes if not (native and _carried_natively(n))]
        warnings = [f"{t.name}: {note}" for note in notes]
        columns = []
        keys = collations.key_columns(t)
        for c in t.columns:
            where = f"{t.name}.{c.name}"
            forced = overrides.columns.get(where) or overrides.types.get(c.type.source.lower())
            if native and c.type.engine == target.name:
                c = replace(c, type=c.type.with_(builtin=True))  # its type is created first
                if c.autoincrement and target.keeps_sequence_default(c.native_default):
                    c = replace(c, autoincrement=False)  # its sequence is created first
            if forced:
                sql = forced
            else:
                choice = target.render_type(c.type, where)
                sql = choice.sql
                if c.type.note and c.type.engine != target.name:
                    warnings.append(f"{where}: {c.type.note}")
                if choice.warning:
                    warnings.append(choice.warning)
            collation, why = (None, None)
            if not forced:
                key = c.name in keys
                collation, why = collations.choose(c, t.engine, key, target, native, where)
            if why:
                warnings.append(why)
            new = replace(c, name=col_names[c.name], default=None, collation=collation)
            default = _default(c, new, sql, t.engine, target, where, warnings)
            if native and t.engine == target.name and c.native_default and not c.autoincrement:
                default = target.sql_text(c.native_default)  # exactly as the source has it
            if c.autoincrement and not target.generates_values(
                new.name, tuple(col_names[k] for k in t.primary_key), sql
            ):
                new = replace(new, autoincrement=False)
                warnings.append(
                    f"{where}: default `{c.native_default or 'nextval(...)'}` not created "
                    f"({target.title} cannot generate values for this column)"
                )
            types[new.name] = sql
            columns.append(replace(new, default=default))

        def cols(names: tuple[str, ...], m: dict[str, str] = col_names) -> tuple[str, ...]:
            return tuple(m[n] for n in names)

        fks = []
        if cfg.create_foreign_keys:
            for fk in t.foreign_keys:
                if fk.ref_table not in table_names:
                    warnings.append(
                        f"{t.name}: foreign key `{fk.name or ','.join(fk.columns)}` references "
                        f"`{fk.ref_table}`, which is not copied; the key is not created"
                    )
                    continue
                fks.append(_fk(fk, t, tables, table_names, namer))
        target_table = Table(
            name=table_names[t.name],
            columns=columns,
            primary_key=cols(t.primary_key),
            # a table created by its own DDL already has its unique constraints
            uniques=[]
            if native and t.native_ddl
            else [replace(i, name=namer(i.name), columns=cols(i.columns)) for i in t.uniques],
            indexes=[replace(i, name=namer(i.name), columns=cols(i.columns)) for i in t.indexes],
            foreign_keys=fks,
            checks=_checks(t, col_names, target, namer, warnings),
            comment=t.comment,
            row_estimate=t.row_estimate,
            engine=target.name,
            partitioning=t.partitioning if native else None,
            partitions=list(t.partitions) if native else [],
            native_ddl=t.native_ddl if native else None,
        )
        collations.keep_like_working(target_table, target, warnings)
        warnings += target.adapt_table(target_table, types)
        plans.append(TablePlan(t, target_table, types, warnings))
    collations.align_foreign_keys([p.target for p in plans], target.collatable_kinds)
    return plans


def _carried_natively(note: str) -> bool:
    return note.startswith("index `") or "generated column not copied" in note


def _default(
    src: Column,
    col: Column,
    sql_type: str,
    engine: str,
    target: Dialect,
    where: str,
    warnings: list[str],
) -> str | None:
    """The column default in the target's spelling: the portable form rendered, else (same
    engine) the native expression, else the expression translated, else none, with a warning."""
    if src.autoincrement or src.native_default is None:
        return None
    if src.default is not None:
        out = target.render_default(replace(col, default=src.default), sql_type)
        return None if out is None else target.default_clause(out, sql_type)
    if engine == target.name:
        return target.sql_text(src.native_default)
    reader = expression_dialect(engine)
    if reader is not None:
        try:
            out = transpile.translate_default(src.native_default, reader, target, col.type)
            return target.default_clause(out, sql_type)
        except NotPortable as exc:
            reason = str(exc)
    else:
        reason = "its engine is unknown"
    warnings.append(f"{where}: default `{src.native_default}` not created ({reason})")
    return None


def _checks(
    t: Table, col_names: dict[str, str], target: Dialect, namer: Namer, warnings: list[str]
) -> list[Check]:
    """Each check in the target's spelling: the same engine keeps its own text unless a
    column is renamed; anything else goes through the translator."""
    out = []
    renamed = any(k != v for k, v in col_names.items())
    for ck in t.checks:
        name = namer(ck.name) if ck.name else None
        engine = ck.engine or t.engine
        if engine == target.name and not renamed:
            text = target.sql_text(ck.sqltext)
        else:
            try:
                source = expression_dialect(engine)
                if source is None:
                    raise NotPortable("its engine is unknown")
                text = transpile.translate_check(ck.sqltext, source, target, col_names)
            except NotPortable as exc:
                warnings.append(f"{t.name}: check `{ck.name or ck.sqltext}` not created ({exc})")
                continue
        out.append(Check(name, text, target.name))
    return out


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


def key_for(table: Table) -> tuple[str, ...]:
    """The chunking key: the primary key, else the first unique constraint on NOT NULL columns."""
    if table.primary_key:
        return table.primary_key
    for u in table.uniques:
        if all(not table.column(c).nullable for c in u.columns):
            return u.columns
    return ()
