"""PostgreSQL reflection from the system catalogs: keys and columns in their declared order,
constraints with their actions, indexes that can be copied and notes for those that cannot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from dmt.config import build_config
from dmt.dialects.base import get_dialect
from dmt.model.schema import Check, ForeignKey, Index
from tests.conftest import PG, endpoint

DDL = """
CREATE TABLE parent (a int, b text, c int, PRIMARY KEY (b, a), CONSTRAINT parent_c_a UNIQUE (c, a));
CREATE TABLE child (
  id bigint PRIMARY KEY, pa int, pb text, q int, s text,
  CONSTRAINT fk_parent FOREIGN KEY (pb, pa) REFERENCES parent (b, a)
    ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT fk_self FOREIGN KEY (q) REFERENCES child (id) ON DELETE RESTRICT,
  CONSTRAINT fk_plain FOREIGN KEY (q) REFERENCES child (id),
  CONSTRAINT ck_both CHECK ((q > 0) AND (q < 100)),
  CONSTRAINT ck_text CHECK (s <> '(x)' AND s <> 'it''s')
);
ALTER TABLE child ADD CONSTRAINT ck_later CHECK (q <> 7) NOT VALID;
CREATE INDEX ix_two ON child (s, q);
CREATE UNIQUE INDEX ux_s ON child (s);
CREATE INDEX ix_expr ON child (lower(s));
CREATE INDEX ix_partial ON child (q) WHERE q > 10;
CREATE INDEX ix_include ON child (pa) INCLUDE (pb);
CREATE VIEW v_child AS SELECT id FROM child;
CREATE MATERIALIZED VIEW m_child AS SELECT id FROM child;
CREATE TABLE part (id int, k int) PARTITION BY RANGE (k);
"""


def test_constraints_indexes_and_views_from_the_catalogs(pg_db: str, tmp_path: Path) -> None:
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as c:
        c.execute(DDL)
    cfg = build_config(
        {"source": endpoint("postgres", pg_db), "target": endpoint("sqlite", tmp_path / "t.db")}
    )
    dialect = get_dialect(cfg.source, "source")
    conn = dialect.connect()
    try:
        schema = dialect.reflect(conn, lambda name: True)
    finally:
        conn.close()
    assert [t.name for t in schema.tables] == ["child", "parent", "part"]
    assert schema.views == ["v_child", "m_child"]
    child, parent, _ = schema.tables
    assert parent.primary_key == ("b", "a")
    assert parent.uniques == [Index("parent_c_a", ("c", "a"), unique=True)]
    assert child.primary_key == ("id",)
    assert child.foreign_keys == [
        ForeignKey("fk_parent", ("pb", "pa"), "parent", ("b", "a"), "SET NULL", "CASCADE"),
        ForeignKey("fk_plain", ("q",), "child", ("id",), None, None),
        ForeignKey("fk_self", ("q",), "child", ("id",), "RESTRICT", None),
    ]
    assert child.checks == [
        Check("ck_both", "q > 0 AND q < 100", "postgres"),
        Check("ck_later", "q <> 7", "postgres"),
        Check("ck_text", "s <> '(x)'::text AND s <> 'it''s'::text", "postgres"),
    ]
    assert child.indexes == [
        Index("ix_include", ("pa",), unique=False),
        Index("ix_two", ("s", "q"), unique=False),
        Index("ux_s", ("s",), unique=True),
    ]
    assert sorted(n for n in child.notes if "index" in n) == [
        "index `ix_expr` (partial, on expressions or not a B-tree) is not copied",
        "index `ix_partial` (partial, on expressions or not a B-tree) is not copied",
    ]


class _Counted(psycopg.Cursor):  # type: ignore[type-arg]
    """A cursor that counts the statements it runs (on the real server)."""

    statements = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        _Counted.statements += 1
        return super().execute(*args, **kwargs)


def test_reflection_round_trips_do_not_grow_with_the_tables(pg_db: str, tmp_path: Path) -> None:
    ddl = """
    CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
    CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
    """ + "".join(
        f"CREATE TABLE t{i} (id int PRIMARY KEY, m mood, n text UNIQUE);"
        f"CREATE INDEX ix_t{i} ON t{i} (m);"
        f"CREATE TRIGGER tr{i} BEFORE INSERT ON t{i} FOR EACH ROW EXECUTE FUNCTION f();"
        for i in range(4)
    )
    with psycopg.connect(dbname=pg_db, autocommit=True, **PG) as c:
        c.execute(ddl)
    cfg = build_config(
        {"source": endpoint("postgres", pg_db), "target": endpoint("sqlite", tmp_path / "t.db")}
    )
    dialect = get_dialect(cfg.source, "source")
    conn = dialect.connect()
    try:
        conn.cursor_factory = _Counted
        counts = {}
        for wanted in ({"t0"}, {"t0", "t1", "t2", "t3"}):
            _Counted.statements = 0
            schema = dialect.reflect(conn, lambda name, w=wanted: name in w)
            counts[len(wanted)] = _Counted.statements
    finally:
        conn.close()
    # relations, triggers+routines, columns, keys, indexes; then one per object kind a
    # PostgreSQL target receives (see dialects/postgres/objects.py): none per table
    assert counts[1] == counts[4] == 18
    assert [t.name for t in schema.tables] == ["t0", "t1", "t2", "t3"]
    assert schema.triggers == [f"t{i}.tr{i}" for i in range(4)]
    assert schema.routines == ["f"]
    for t in schema.tables:
        assert t.primary_key == ("id",)
        assert t.column("m").type.values == ("sad", "ok", "happy")
        assert t.uniques == [Index(f"{t.name}_n_key", ("n",), unique=True)]
        assert t.indexes == [Index(f"ix_{t.name}", ("m",), unique=False)]
