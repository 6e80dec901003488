"""SQL of the generic dialect built with SQLAlchemy Core and compiled for the backend: CREATE
TABLE / INDEX, DROP TABLE, the Core INSERT of the writers, and the key-range statistics.

Texts dmt already rendered for the target (types, defaults, checks) enter as text; SQLAlchemy
quotes every name. A compiled statement for a ``%s`` driver has its ``%`` doubled, so texts
that dmt doubled already are undoubled before they go in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dmt.model.schema import Index, Table

if TYPE_CHECKING:
    from dmt.dialects.generic.dialect import GenericDialect


def _declared(spec: str) -> Any:
    """A column type given as the DDL text dmt rendered (a mapped or overridden type)."""
    from sqlalchemy.types import UserDefinedType

    class Declared(UserDefinedType):
        cache_ok = True

        def __init__(self, spec: str) -> None:
            self.spec = spec

        def get_col_spec(self, **kw: Any) -> str:
            return self.spec

    return Declared(spec)


def _plain(d: GenericDialect, text: str) -> str:
    return text.replace("%%", "%") if d.placeholder == "%s" else text


def _compile(d: GenericDialect, element: Any) -> str:
    return str(element.compile(dialect=d.sa_dialect)).strip()


def create_table(d: GenericDialect, table: Table, types: dict[str, str]) -> str:
    """CREATE TABLE with columns and primary key; with ``inline_constraints`` (a backend that
    cannot ALTER them in) also the foreign keys and checks."""
    import sqlalchemy as sa

    md = sa.MetaData()
    pk = set(table.primary_key)
    cols = [
        sa.Column(
            c.name,
            _declared(types[c.name]),
            nullable=c.nullable and c.name not in pk,
            autoincrement=False,
            server_default=None if c.default is None else sa.text(_plain(d, c.default)),
        )
        for c in table.columns
    ]
    t = sa.Table(table.name, md, *cols, schema=d.endpoint.schema)
    if table.primary_key:
        t.append_constraint(sa.PrimaryKeyConstraint(*table.primary_key))
    if d.inline_constraints:
        for fk in table.foreign_keys:
            ref = t if fk.ref_table == table.name else _stub(md, fk.ref_table, fk.ref_columns, d)
            t.append_constraint(
                sa.ForeignKeyConstraint(
                    list(fk.columns), [ref.c[c] for c in fk.ref_columns], name=fk.name,
                    ondelete=fk.on_delete, onupdate=fk.on_update,
                )
            )  # fmt: skip
        for ck in table.checks:
            t.append_constraint(sa.CheckConstraint(sa.text(_plain(d, ck.sqltext)), name=ck.name))
    return _compile(d, sa.schema.CreateTable(t))


def _stub(md: Any, name: str, columns: Sequence[str], d: GenericDialect) -> Any:
    import sqlalchemy as sa

    if (key := f"{d.endpoint.schema}.{name}" if d.endpoint.schema else name) in md.tables:
        return md.tables[key]
    return sa.Table(
        name, md, *[sa.Column(c, sa.Integer) for c in columns], schema=d.endpoint.schema
    )


def create_index(d: GenericDialect, table: Table, index: Index) -> str:
    import sqlalchemy as sa

    t = sa.Table(
        table.name, sa.MetaData(), *[sa.Column(c, sa.Integer) for c in index.columns],
        schema=d.endpoint.schema,
    )  # fmt: skip
    idx = sa.Index(index.name, *[t.c[c] for c in index.columns], unique=index.unique)
    return _compile(d, sa.schema.CreateIndex(idx))


def drop_table(d: GenericDialect, name: str) -> str:
    import sqlalchemy as sa

    t = sa.Table(name, sa.MetaData(), schema=d.endpoint.schema)
    return _compile(d, sa.schema.DropTable(t, if_exists=True))


def insert(d: GenericDialect, table: Table) -> Any:
    """The Core INSERT of a target table, its columns typed as created (so SQLAlchemy's bind
    processors see the values the target's types expect)."""
    import sqlalchemy as sa

    from dmt.dialects.generic.types import target_type

    key = (table.name, tuple((c.name, c.type.kind) for c in table.columns))
    found = d.inserts.get(key)
    if found is None:
        cols = [sa.Column(c.name, target_type(c.type, d.sa_dialect, "")[0]) for c in table.columns]
        found = sa.insert(sa.Table(table.name, sa.MetaData(), *cols, schema=d.endpoint.schema))
        d.inserts[key] = found
    return found


def _light(d: GenericDialect, name: str, columns: Sequence[str]) -> Any:
    import sqlalchemy as sa

    return sa.table(name, *[sa.column(c) for c in columns], schema=d.endpoint.schema)


def key_boundaries(
    d: GenericDialect, conn: Any, table: Table, key: Sequence[str], every: int
) -> list[tuple[Any, ...]]:
    """Every ``every``-th key in key order (ROW_NUMBER and modulo as the backend spells them)."""
    import sqlalchemy as sa

    t = _light(d, table.name, key)
    cols = [t.c[k] for k in key]
    rn = sa.func.row_number().over(order_by=cols).label("dmt_rn")
    sub = sa.select(*cols, rn).subquery("dmt_k")
    q = sa.select(*[sub.c[k] for k in key]).where(sub.c.dmt_rn % int(every) == 0)
    rows = conn.sa.execute(q.order_by(*[sub.c[k] for k in key])).fetchall()
    conn.commit()
    return [tuple(r) for r in rows]


def key_stats(d: GenericDialect, conn: Any, table: Table, col: str) -> tuple[Any, Any, int]:
    """MIN and MAX of one key column and the exact row count, each its own subquery."""
    import sqlalchemy as sa

    t = _light(d, table.name, [col])
    parts = [
        sa.select(sa.func.min(t.c[col])).scalar_subquery(),
        sa.select(sa.func.max(t.c[col])).scalar_subquery(),
        sa.select(sa.func.count()).select_from(t).scalar_subquery(),
    ]
    lo, hi, n = conn.sa.execute(sa.select(*parts)).one()
    conn.commit()
    return lo, hi, int(n)


def count_rows(d: GenericDialect, conn: Any, table: str) -> int:
    import sqlalchemy as sa

    n = conn.sa.execute(sa.select(sa.func.count()).select_from(_light(d, table, []))).scalar()
    conn.commit()
    return int(n or 0)
