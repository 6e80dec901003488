"""Collations in all nine directions: unique and primary text keys whose values differ only in
case, accents (``'ß'``/``'ss'`` too) or trailing spaces arrive with every row; a key column
whose closest target collation would merge such values gets a binary one, named by ``dmt
plan``; a column that folds case on the source folds it on the target; MySQL to MySQL keeps
each column's own collation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dmt.config import build_config
from dmt.plan import make_plan
from dmt.run import execute
from dmt.schema.notices import group
from tests.test_cli import dmt, write_config
from tests.test_constraints import connect, fails, run
from tests.test_fidelity import DIRECTIONS, ENGINES, Databases, dbs, run_sql

__all__ = ["dbs"]

#: distinct under each source's key collation: PostgreSQL's deterministic default, MariaDB's
#: utf8mb4_nopad_bin, SQLite's BINARY
WORDS = ["a", "A", "e", "é", "E", "É", "ß", "ss", "x", "x "]

DDL = {
    "postgres": [
        "CREATE COLLATION folded (provider = icu, locale = 'und-u-ks-level2', "
        "deterministic = false)",
        "CREATE TABLE words (w varchar(20) PRIMARY KEY, n integer NOT NULL)",
        "CREATE TABLE names (id integer PRIMARY KEY, name varchar(20) COLLATE folded NOT NULL "
        "UNIQUE, note varchar(20) COLLATE folded)",
        "CREATE TABLE refs (id integer PRIMARY KEY, name varchar(20) COLLATE folded "
        "REFERENCES names (name))",
    ],
    "mysql": [
        "CREATE TABLE words (w varchar(20) COLLATE utf8mb4_nopad_bin PRIMARY KEY, n int NOT NULL)",
        "CREATE TABLE names (id int PRIMARY KEY, name varchar(20) COLLATE utf8mb4_general_ci "
        "NOT NULL UNIQUE, note varchar(20) COLLATE utf8mb4_bin)",
        "CREATE TABLE refs (id int PRIMARY KEY, name varchar(20) COLLATE utf8mb4_general_ci, "
        "FOREIGN KEY (name) REFERENCES names (name))",
    ],
    "sqlite": [
        "CREATE TABLE words (w TEXT PRIMARY KEY, n INTEGER NOT NULL)",
        "CREATE TABLE names (id INTEGER PRIMARY KEY, name VARCHAR(20) COLLATE NOCASE NOT NULL "
        "UNIQUE, "
        "note TEXT COLLATE NOCASE)",
        "CREATE TABLE refs (id INTEGER PRIMARY KEY, name VARCHAR(20) COLLATE NOCASE "
        "REFERENCES names (name))",
    ],
}
#: unique under each source's ``names.name`` collation, yet equal under some other engine's
#: closest one: accents (ICU level 2 keeps them), ß/ss (general_ci: ß = s), é/É (NOCASE folds
#: ASCII letters only), trailing spaces
NAMES = {
    "postgres": ["e", "é", "x", "x ", "Straße"],
    "mysql": ["ß", "ss", "e", "x"],
    "sqlite": ["é", "É", "ß", "ss", "x", "x "],
}
#: whether ``names.note`` compares without case on the source (and so on every target)
NOTE_FOLDS = {"postgres": True, "mysql": False, "sqlite": True}
#: directions whose closest collation for ``names.name`` would merge its values
BINARY_CHOSEN = {("postgres", "mysql"), ("mysql", "postgres"), ("sqlite", "mysql"),
                 ("sqlite", "postgres")}  # fmt: skip


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def rows(engine: str) -> list[str]:
    words = ", ".join(f"({_lit(w)}, {i})" for i, w in enumerate(WORDS))
    names = ", ".join(
        f"({i}, {_lit(n)}, {_lit(['a', 'A'][i]) if i < 2 else 'NULL'})"
        for i, n in enumerate(NAMES[engine])
    )
    refs = ", ".join(f"({i}, {_lit(n)})" for i, n in enumerate(NAMES[engine]))
    return [
        f"INSERT INTO words VALUES {words}",
        f"INSERT INTO names VALUES {names}",
        f"INSERT INTO refs VALUES {refs}",
    ]


@pytest.fixture(scope="module")
def sources(dbs: Databases) -> dict[str, dict[str, Any]]:
    out = {}
    for engine in ENGINES:
        ep = dbs.new(engine)
        run_sql(ep, DDL[engine] + rows(engine))
        out[engine] = ep
    return out


def _config(src: dict[str, Any], dst: dict[str, Any], tmp: Path) -> dict[str, Any]:
    return {
        "source": src,
        "target": dst,
        "migration": {"state_dir": str(tmp), "chunk_size": 1000, "validate": "checksum"},
        "ai": {"provider": "none"},
    }


@pytest.mark.parametrize(("src", "dst"), DIRECTIONS, ids=[f"{s}->{t}" for s, t in DIRECTIONS])
def test_keys_differing_in_case_accents_and_spaces_copy_every_row(
    src: str, dst: str, sources: dict[str, dict[str, Any]], dbs: Databases, tmp_path: Path
) -> None:
    target = dbs.new(dst)
    cfg = build_config(_config(sources[src], target, tmp_path))
    plan = make_plan(cfg)
    chosen = [w for w in plan.warnings if "binary collation" in w]
    if (src, dst) in BINARY_CHOSEN:
        assert [w.split(":")[0] for w in chosen] == ["names.name"], plan.warnings
    else:
        assert chosen == [], plan.warnings
    assert execute(cfg).status == "success"
    d, conn = connect(target)
    try:
        got = run(d, conn, "SELECT w, n FROM words")
        assert sorted(got, key=lambda r: r[1]) == [(w, i) for i, w in enumerate(WORDS)]
        got = run(d, conn, "SELECT id, name FROM names")
        assert sorted(got) == list(enumerate(NAMES[src]))
        # the key is still a key, exact on every value
        for value in NAMES[src]:
            assert run(d, conn, f"SELECT count(*) FROM names WHERE name = {_lit(value)}") == [(1,)]
        folded = run(d, conn, "SELECT count(*) FROM names WHERE note = 'A'")
        assert folded == [(2 if NOTE_FOLDS[src] else 1,)]
        # a foreign key over the key column, each row joining its own
        (refs,) = [t for t in d.reflect(conn, "refs".__eq__).tables]
        assert [(fk.columns, fk.ref_table) for fk in refs.foreign_keys] == [(("name",), "names")]
        joined = "SELECT count(*) FROM refs r JOIN names n ON n.name = r.name AND n.id = r.id"
        assert run(d, conn, joined) == [(len(NAMES[src]),)]
    finally:
        conn.close()


def test_mysql_to_mysql_keeps_each_columns_collation(
    sources: dict[str, dict[str, Any]], dbs: Databases, tmp_path: Path
) -> None:
    target = dbs.new("mysql")
    assert execute(build_config(_config(sources["mysql"], target, tmp_path))).status == "success"
    d, conn = connect(target)
    try:
        got = run(
            d,
            conn,
            "SELECT TABLE_NAME, COLUMN_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME IS NOT NULL ORDER BY 1, 2",
        )
        assert got == [
            ("names", "name", "utf8mb4_general_ci"),
            ("names", "note", "utf8mb4_bin"),
            ("refs", "name", "utf8mb4_general_ci"),
            ("words", "w", "utf8mb4_nopad_bin"),
        ]
        assert run(d, conn, "SELECT 'a' = 'A' COLLATE utf8mb4_general_ci") == [(1,)]
        assert run(d, conn, "SELECT id FROM names WHERE name = 'E'") == [(2,)]  # _ci: 'e'
        assert run(d, conn, "SELECT count(*) FROM names WHERE note = 'A'") == [(1,)]  # _bin
    finally:
        conn.close()


def test_plan_names_the_binary_choice(
    sources: dict[str, dict[str, Any]], dbs: Databases, tmp_path: Path
) -> None:
    path = write_config(
        tmp_path / "c.yaml", _config(sources["sqlite"], dbs.new("mysql"), tmp_path / "s")
    )
    r = dmt("plan", "-c", str(path))
    assert r.returncode == 0, r.stderr
    lines = [x for x in r.stdout.splitlines() if "binary collation" in x]
    assert lines == [
        "Warning: binary collation chosen for a unique text key (its values differ only in "
        "case, accents or trailing spaces on the source): 1 column in 1 table (names.name)"
    ]
    warning = (
        "names.name: binary collation `utf8mb4_nopad_bin` chosen for a unique text key "
        "(collation `utf8mb4_unicode_nopad_ci` would merge values `NOCASE` keeps apart: case, "
        "accents or trailing spaces)"
    )
    assert group([warning])[0].severity == "note"
    r = dmt("plan", "-c", str(path), "--output-json")
    assert r.returncode == 0, r.stderr
    names = next(t for t in json.loads(r.stdout)["tables"] if t["target"] == "names")
    assert names["collations"] == {"name": "utf8mb4_nopad_bin", "note": "utf8mb4_unicode_nopad_ci"}


#: (table.column, name, case, accents, pad) of each source's text columns as reflected
READINGS = {
    "postgres": [
        ("names.name", "folded", "insensitive", True, False),
        ("names.note", "folded", "insensitive", True, False),
        ("refs.name", "folded", "insensitive", True, False),
        ("words.w", None),
    ],
    "mysql": [
        ("names.name", "utf8mb4_general_ci", "insensitive", False, True),
        ("names.note", "utf8mb4_bin", "sensitive", True, True),
        ("refs.name", "utf8mb4_general_ci", "insensitive", False, True),
        ("words.w", "utf8mb4_nopad_bin", "sensitive", True, False),
    ],
    "sqlite": [
        ("names.name", "NOCASE", "ascii", True, False),
        ("names.note", "NOCASE", "ascii", True, False),
        ("refs.name", "NOCASE", "ascii", True, False),
        ("words.w", None),
    ],
}


@pytest.mark.parametrize("engine", ENGINES)
def test_reflection_reads_each_text_columns_collation(
    engine: str, sources: dict[str, dict[str, Any]]
) -> None:
    d, conn = connect(sources[engine])
    try:
        tables = d.reflect(conn, lambda n: True).tables
    finally:
        conn.close()
    got = []
    for t in sorted(tables, key=lambda t: t.name):
        for c in t.columns:
            if c.type.kind in ("varchar", "text") and c.name != "n":
                k = c.collation
                got.append(
                    (f"{t.name}.{c.name}",) + ((k.name, k.case, k.accents, k.pad) if k else (None,))
                )
    assert got == READINGS[engine]


def test_postgres_to_postgres_keeps_its_own_collation(
    sources: dict[str, dict[str, Any]], dbs: Databases, tmp_path: Path
) -> None:
    target = dbs.new("postgres")
    cfg = _config(sources["postgres"], target, tmp_path)
    assert execute(build_config(cfg)).status == "success"
    d, conn = connect(target)
    try:
        got = run(
            d,
            conn,
            "SELECT a.attname, co.collname, co.collisdeterministic FROM pg_attribute a "
            "JOIN pg_collation co ON co.oid = a.attcollation "
            "WHERE a.attrelid = 'names'::regclass AND a.attnum > 0 ORDER BY a.attnum",
        )
        assert got == [("name", "folded", False), ("note", "folded", False)]
    finally:
        conn.close()


def test_a_column_a_check_applies_like_to_keeps_like_working(
    dbs: Databases, tmp_path: Path
) -> None:
    """PostgreSQL (before 18) refuses LIKE under a nondeterministic collation: a MySQL _ci
    column with such a check keeps the default collation there, and the plan says so."""
    source = dbs.new("mysql")
    run_sql(
        source,
        [
            "CREATE TABLE coded (id int PRIMARY KEY, code varchar(10) COLLATE utf8mb4_general_ci "
            "CHECK (code LIKE 'a%'), other varchar(10) COLLATE utf8mb4_general_ci)",
            "INSERT INTO coded VALUES (1, 'ab', 'x'), (2, 'aB', 'X')",
        ],
    )
    target = dbs.new("postgres")
    cfg = build_config(_config(source, target, tmp_path))
    plan = make_plan(cfg)
    assert [w for w in plan.warnings if "LIKE" in w] == [
        "coded.code: collation `dmt_ci_ai` not used (check `code` applies LIKE to it, "
        "which PostgreSQL cannot do under a case-insensitive collation)"
    ]
    assert execute(cfg).status == "success"
    d, conn = connect(target)
    try:
        assert fails(d, conn, "INSERT INTO coded VALUES (3, 'b', NULL)")  # the check holds
        assert run(d, conn, "SELECT count(*) FROM coded WHERE other = 'x'") == [(2,)]
        assert run(d, conn, "SELECT count(*) FROM coded WHERE code = 'AB'") == [(0,)]
    finally:
        conn.close()
