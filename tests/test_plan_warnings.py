"""``dmt plan``'s warnings grouped by kind: one line per kind with the objects counted, a
dropped default / an object left out / a lossy type first; every object under
``--verbosity debug`` and in ``--output-json``; after a run, the kinds that happened marked."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from dmt.schema.notices import group
from tests.conftest import endpoint
from tests.test_cli import dmt, write_config
from tests.test_fidelity import run_sql

#: twenty tables with timestamp columns (31 columns in all), one default no other engine has,
#: one check that MySQL cannot hold, one table without a key
DDL = (
    [f"CREATE TABLE t{i} (id integer PRIMARY KEY, a timestamp, b timestamp)" for i in range(11)]
    + [f"CREATE TABLE u{i} (id integer PRIMARY KEY, a timestamp)" for i in range(9)]
    + [
        "CREATE TABLE odd (id integer PRIMARY KEY, ends date DEFAULT 'infinity'::date, "
        "code text CHECK (code ~* '^[a-z]+$'))",
        "CREATE TABLE heap (x integer)",
        "INSERT INTO t0 VALUES (1, 'infinity', '-infinity'), (2, '2020-01-01', NULL)",
    ]
)


@pytest.fixture(scope="module")
def config(
    pg_dbs: Callable[[], str], my_dbs: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    src = endpoint("postgres", pg_dbs())
    run_sql(src, DDL)
    tmp = tmp_path_factory.mktemp("plan_warnings")
    return write_config(
        tmp / "c.yaml",
        {
            "source": src,
            "target": endpoint("mysql", my_dbs()),
            "migration": {"state_dir": str(tmp / "state")},
            "ai": {"provider": "none"},
        },
    )


def test_plan_prints_one_line_per_kind_most_severe_first(config: Path) -> None:
    r = dmt("plan", "-c", str(config))
    assert r.returncode == 0, r.stderr
    lines = [x for x in r.stdout.splitlines() if x.startswith("Warning: ")]
    assert len(lines) == len({x.split(":")[1] for x in lines})  # one line per kind
    infinity = [x for x in lines if "infinity" in x and "timestamps" in x]
    assert len(infinity) == 1 and ": 31 columns in 20 tables (" in infinity[0], lines
    assert lines[0].startswith("Warning: default not created: 1 column in 1 table (odd.ends)")
    assert lines[1].startswith("Warning: check not created: 1 check in 1 table (odd.")
    assert lines[-1].startswith("Warning: no primary key: copied as one ordered stream: 1 table")
    assert "t0.a" not in r.stdout.replace("(t0.a, ", "")  # objects beyond three are not listed
    debug = dmt("plan", "-c", str(config), "--verbosity", "debug")
    assert "  t7.b: PostgreSQL ±infinity timestamps" in debug.stdout  # every object, indented


def test_plan_json_carries_the_groups(config: Path) -> None:
    r = dmt("plan", "-c", str(config), "--output-json")
    assert r.returncode == 0, r.stderr
    groups = json.loads(r.stdout)["warning_groups"]
    assert [g["severity"] for g in groups[:2]] == ["dropped", "not_migrated"]
    inf = next(g for g in groups if "±infinity timestamps" in g["kind"])
    assert set(inf) == {"kind", "severity", "summary", "count", "tables", "objects", "messages"}
    assert (inf["severity"], inf["count"], inf["tables"]) == ("lossy", 31, 20)
    assert sorted(inf["objects"])[:3] == ["t0.a", "t0.b", "t1.a"]


def test_run_summary_marks_the_kinds_that_happened(config: Path) -> None:
    r = dmt("run", "-c", str(config), "--output-json")
    assert r.returncode == 0, r.stderr
    groups = {g["kind"]: g for g in json.loads(r.stdout)["warning_groups"]}
    inf = next(g for k, g in groups.items() if "±infinity timestamps" in k)
    assert inf["happened"] == 2  # t0's two infinite values
    dates = next(g for k, g in groups.items() if "±infinity dates" in k)
    assert dates["happened"] == 0  # odd.ends holds no infinite date: the kind did not happen
    assert groups["default not created"]["happened"] is None  # a schema decision, not counted


def test_grouping_without_a_database() -> None:
    warnings = [
        "a.x: numeric NaN and ±Infinity become NULL",
        "a: no primary key; copied as one ordered stream",
        "b.y: numeric NaN and ±Infinity become NULL",
        "b.z: unconstrained numeric stored as decimal(65,30); values beyond ...",
        "b: index `ix` (on expressions or partial) is not copied",
        "c.d: default `f()` not created (function f has no SQLite equivalent)",
    ]
    groups = group(warnings)
    assert [g.severity for g in groups] == ["dropped", "not_migrated", "lossy", "lossy", "note"]
    assert (
        groups[2].line()
        == "numeric NaN and ±Infinity become NULL: 2 columns in 2 tables (a.x, b.y)"
    )
    assert groups[2].happened({"nonfinite_float->null": 3, "zero_date->null": 1}) == 3
    assert groups[1].objects == ["b.ix"]
