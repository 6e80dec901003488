"""DuckDB as an engine: the one-line error without its driver, the documented mapping of its
types no other engine has, sequences continuing after the copy, foreign keys left out on a
DuckDB target, the url form, and the single-writer file lock."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from dmt.config import build_config
from dmt.dialects.base import get_dialect
from dmt.run import execute
from tests.conftest import PG, endpoint

REPO = Path(__file__).resolve().parents[2]


def _config(src: dict[str, Any], dst: dict[str, Any], tmp: Path) -> Any:
    return build_config(
        {
            "source": src,
            "target": dst,
            "migration": {"state_dir": str(tmp / "state"), "validate": "checksum"},
            "ai": {"provider": "none"},
        }
    )


def _dmt(tmp: Path, src: dict[str, Any], dst: dict[str, Any], prelude: str = "") -> Any:
    """``dmt run`` in a new interpreter (``prelude`` runs first)."""
    cfg = tmp / "c.yaml"
    raw = {"source": src, "target": dst, "migration": {"state_dir": str(tmp / "state")}}
    cfg.write_text(yaml.safe_dump({**raw, "ai": {"provider": "none"}}))
    code = prelude + "\nfrom dmt.cli import main\nmain()"
    argv = [sys.executable, "-c", code, "run", "-c", str(cfg)]
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=120)


def test_without_the_driver_one_line_names_the_extra(tmp_path: Path) -> None:
    src = tmp_path / "s.db"
    import sqlite3

    with sqlite3.connect(src) as c:
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    # the import of `duckdb` fails in that interpreter as it does where it is not installed
    r = _dmt(tmp_path, endpoint("sqlite", src), endpoint("duckdb", tmp_path / "t.duckdb"),
             "import sys; sys.modules['duckdb'] = None")  # fmt: skip
    assert r.returncode == 1, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "error" in ln.lower()]
    assert len(lines) == 1, r.stderr
    assert 'target.type: DuckDB support is not installed: pip install "dmt[duckdb]"' in lines[0]
    assert not (tmp_path / "t.duckdb").exists()


def test_types_without_a_counterpart_take_their_documented_mapping(tmp_path: Path) -> None:
    src = tmp_path / "odd.duckdb"
    with duckdb.connect(str(src)) as c:
        c.execute(
            "CREATE TABLE odd (id INTEGER PRIMARY KEY, u UNION(n INTEGER, s VARCHAR), b BIT, "
            "tz TIME WITH TIME ZONE, ns TIMESTAMP_NS, h HUGEINT)"
        )
        c.execute(
            "INSERT INTO odd VALUES (1, 7::INTEGER, '0101'::BIT, '12:00:00+02', "
            "'2020-01-01 00:00:00.123456789', -170141183460469231731687303715884105728)"
        )
    dst = tmp_path / "odd.db"
    result = execute(_config(endpoint("duckdb", src), endpoint("sqlite", dst), tmp_path))
    assert result.status == "success"
    text = "\n".join(result.warnings)
    assert "odd.u: UNION carried as JSON (its to_json form)" in text
    assert "odd.b: `BIT` carried as its DuckDB text form" in text
    assert "odd.ns: nanoseconds are cut to microseconds" in text
    import sqlite3

    with sqlite3.connect(dst) as c:
        row = c.execute("SELECT u, b, tz, ns, h FROM odd").fetchone()
    assert row == (
        '{"n":7}',
        "0101",
        "12:00:00+02",
        "2020-01-01 00:00:00.123456",
        "-170141183460469231731687303715884105728",
    )


def test_a_duckdb_target_gets_no_foreign_keys_and_keys_continue(tmp_path: Path, pg_db: str) -> None:
    import psycopg

    with psycopg.connect(dbname=pg_db, **PG) as c:  # type: ignore[arg-type]
        c.execute("CREATE TABLE parent (id serial PRIMARY KEY, name text)")
        c.execute("CREATE TABLE child (id int PRIMARY KEY, pid int REFERENCES parent (id))")
        c.execute("INSERT INTO parent (name) SELECT 'p' || g FROM generate_series(1, 30) g")
        c.execute("INSERT INTO child SELECT g, g FROM generate_series(1, 30) g")
    dst = tmp_path / "t.duckdb"
    result = execute(_config(endpoint("postgres", pg_db), endpoint("duckdb", dst), tmp_path))
    assert result.status == "success"
    assert any("foreign key (pid) -> parent not created" in w for w in result.warnings)
    with duckdb.connect(str(dst)) as c:
        c.execute("INSERT INTO parent (name) VALUES ('next')")
        assert c.execute("SELECT max(id) FROM parent").fetchone() == (31,)
        fks = "SELECT count(*) FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY'"
        assert c.execute(fks).fetchone() == (0,)


def test_a_duckdb_source_by_url_with_its_sequence(tmp_path: Path, pg_db: str) -> None:
    src = tmp_path / "seq.duckdb"
    with duckdb.connect(str(src)) as c:
        c.execute("CREATE SEQUENCE s")
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY DEFAULT nextval('s'), v VARCHAR)")
        c.execute("INSERT INTO t (v) SELECT 'v' || i FROM range(5) r(i)")
    cfg = _config({"url": f"duckdb:///{src}"}, endpoint("postgres", pg_db), tmp_path)
    assert cfg.source.engine == "duckdb" and cfg.source.path == str(src)
    assert execute(cfg).status == "success"
    d = get_dialect(cfg.target, "target")
    conn = d.connect()
    try:
        (t,) = d.reflect(conn, "t".__eq__).tables
        assert t.column("id").autoincrement  # an identity, numbered after the copied rows
        with conn.cursor() as cur:
            cur.execute("INSERT INTO t (v) VALUES ('next') RETURNING id")
            assert cur.fetchone() == (6,)
        conn.commit()
    finally:
        conn.close()


def test_a_target_another_process_writes_is_a_connect_error(tmp_path: Path) -> None:
    """DuckDB lets one process write a file: dmt says so (exit 2, safe to retry)."""
    src = tmp_path / "s.db"
    import sqlite3

    with sqlite3.connect(src) as c:
        c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    dst = tmp_path / "busy.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys
            c = duckdb.connect({str(dst)!r})
            print("open", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        r = _dmt(tmp_path, endpoint("sqlite", src), endpoint("duckdb", dst))
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
        if holder.stdout is not None:
            holder.stdout.close()
    assert r.returncode == 2, r.stderr
    assert f"cannot connect to target: DuckDB file `{dst}`" in r.stderr


@pytest.mark.parametrize("url", ["duckdb:relative.duckdb", "duck:///abs/x.duckdb"])
def test_url_forms(url: str, tmp_path: Path) -> None:
    cfg = build_config({"source": {"url": url}, "target": endpoint("sqlite", tmp_path / "x")})
    assert cfg.source.engine == "duckdb" and cfg.source.path.endswith(
        "x.duckdb" if "abs" in url else "relative.duckdb"
    )
