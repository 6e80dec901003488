"""The Ray executor on a local Ray cluster this module starts (``ray.init(num_cpus=2)``, one
for every test here): an exact copy whose secrets Ray never records, the runtime adjustment
of the ranges in flight, the nine directions of the fidelity matrix, and ``dmt resume``
after the driver was killed. Real Ray, real databases."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dmt.config import build_config
from dmt.run import execute
from tests.conftest import PG
from tests.support.killing import (
    Moment,
    assert_skipped_done_chunks,
    dmt,
    read_state,
    run_cli,
    stop_at,
)
from tests.support.raying import PASSWORD, Background, config, fill
from tests.test_fidelity import DIRECTIONS, LOSSY, SOURCES, Databases, read, run_sql

pytestmark = pytest.mark.postgres
DASHBOARD = ""


@pytest.fixture(scope="module")
def gcs() -> Iterator[str]:
    """A local Ray cluster of 2 CPUs for this module; the address a dmt process joins it by."""
    import ray

    global DASHBOARD
    ctx = ray.init(
        num_cpus=2, include_dashboard=True, dashboard_host="127.0.0.1", log_to_driver=False,
        _node_ip_address="127.0.0.1",
    )  # fmt: skip
    DASHBOARD = f"http://{ctx.dashboard_url}"  # what the dashboard shows: the state API's answers
    try:
        yield str(ctx.address_info["gcs_address"])
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def src(pg_dbs: Callable[[], str]) -> str:
    db = pg_dbs()
    fill(db, 20_000)
    return db


def test_copies_every_range_and_ray_keeps_no_secret(
    gcs: str, src: str, pg_dbs: Callable[[], str], tmp_path: Path
) -> None:
    import ray
    from ray.util.state import list_tasks

    cfg = config(src, pg_dbs(), tmp_path, gcs, password=PASSWORD, write_ahead_writers=2)
    bg = Background(cfg).start()
    result = bg.join()
    assert result.status == "success"  # checksum validation: every row once, every value equal
    assert {t.name: t.rows for t in result.tables} == {"s": 2_000, "t": 20_000}
    pipe = bg.pipeline()
    assert sorted(i for name, i, _ in pipe.digests if name == "t") == list(range(20))
    assert all(len(d) == 40 for d in pipe.digests.values())

    # what Ray recorded: task names without key values, and nowhere the password
    deadline = time.monotonic() + 30  # workers report their tasks' events every second or so
    while True:
        tasks = list_tasks(DASHBOARD, detail=True, limit=10_000, raise_on_missing_output=False)
        names = {t.name for t in tasks}
        if {"dmt:t:0", "dmt:s:0"} <= names or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert "dmt:t:0" in names and "dmt:s:0" in names
    assert PASSWORD not in json.dumps([t.__dict__ for t in tasks], default=str)
    session = Path(ray._private.worker._global_node.get_session_dir_path())
    for f in session.rglob("*"):
        if f.is_file() and not f.is_socket():
            assert PASSWORD.encode() not in f.read_bytes(), f


def test_runtime_adjustment_changes_the_ranges_in_flight(
    gcs: str, src: str, pg_dbs: Callable[[], str], tmp_path: Path
) -> None:
    cfg = config(src, pg_dbs(), tmp_path, gcs, write_ahead_writers=1, workers=1)
    bg = Background(cfg).start()
    deadline = time.monotonic() + 60
    while (pipe := bg.pipeline()) is None or pipe.counters.rows_total < 2_000:
        assert time.monotonic() < deadline and bg.thread.is_alive(), "the copy did not start"
        time.sleep(0.02)
    assert pipe.max_in_flight == 1 and pipe.slots.limit == 1
    bg.push(writers=2)
    result = bg.join()
    assert result.status == "success"
    assert pipe.slots.limit == 2 and pipe.max_in_flight == 2
    assert [(a["knob"], a["before"], a["after"]) for a in result.adjustments] == [("writers", 1, 2)]


@pytest.fixture(scope="module")
def dbs(
    pg_dbs: Callable[[], str], my_dbs: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> Databases:
    return Databases(pg_dbs, my_dbs, tmp_path_factory.mktemp("fidelity"))


@pytest.fixture(scope="module")
def sources(dbs: Databases) -> dict[str, dict[str, Any]]:
    """The fidelity matrix's table on each engine (tests/test_fidelity.py)."""
    out = {}
    for engine, (ddl, rows) in SOURCES.items():
        out[engine] = dbs.new(engine)
        run_sql(out[engine], [ddl, *(f"INSERT INTO fidelity VALUES {r}" for r in rows)])
    return out


@pytest.mark.mysql
@pytest.mark.parametrize(("s", "d"), DIRECTIONS, ids=[f"{s}->{t}" for s, t in DIRECTIONS])
def test_nine_directions_arrive_as_the_thread_executor_carries_them(
    s: str, d: str, gcs: str, sources: dict[str, dict[str, Any]], dbs: Databases, tmp_path: Path
) -> None:
    cfg = build_config(
        {
            "source": sources[s], "target": dbs.new(d), "ai": {"provider": "none"},
            "migration": {"state_dir": str(tmp_path), "chunk_size": 1000, "validate": "checksum",
                          "executor": "ray"},
            "ray": {"address": gcs},
        }
    )  # fmt: skip
    result = execute(cfg)
    assert result.status == "success"
    names, kinds, want = read(cfg.source, "fidelity")
    got_names, _, got = read(cfg.target, "fidelity", kinds)
    assert got_names == names and len(got) == len(want) == len(SOURCES[s][1])
    for row_w, row_g in zip(want, got, strict=True):
        for name, w, g in zip(names, row_w, row_g, strict=True):
            expected = LOSSY.get((s, d, name), {}).get(w, w)
            assert g == expected, f"{s}->{d} id={row_w[0]} column {name}: {w!r} became {g!r}"


def test_resume_after_the_driver_was_killed(
    gcs: str, src: str, pg_dbs: Callable[[], str], tmp_path: Path
) -> None:
    dst = pg_dbs()
    cfg = tmp_path / "c.yaml"
    raw = {
        "source": {"type": "postgres", "database": src, "host": "127.0.0.1", "user": "postgres"},
        "target": {"type": "postgres", "database": dst, "host": "127.0.0.1", "user": "postgres"},
        "migration": {"state_dir": str(tmp_path / "state"), "executor": "ray", "chunk_size": 1000,
                      "validate": "checksum", "write_ahead_writers": 2},
        "ray": {"address": gcs}, "ai": {"provider": "none"},
    }  # fmt: skip
    cfg.write_text(yaml.safe_dump(raw))
    proc = dmt("run", "-c", str(cfg), log=tmp_path / "run.log")
    how, at_kill = stop_at(proc, tmp_path / "state", Moment("in_flight", 3), signal.SIGKILL)
    assert how == "killed", (tmp_path / "run.log").read_text()
    assert 3 <= at_kill.done < at_kill.started
    r = run_cli("resume", "-c", str(cfg), "--output-json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["status"] == "success" and out["resumed"] is True
    later = read_state(tmp_path / "state")
    assert later.done == len(later.chunks) and later.rows_done == 22_000
    assert_skipped_done_chunks(at_kill, later)  # done ranges never again; those in flight again


def test_a_range_failing_past_the_limit_fails_the_run_naming_it(
    gcs: str, src: str, pg_dbs: Callable[[], str], tmp_path: Path
) -> None:
    import psycopg

    dst = pg_dbs()
    with psycopg.connect(dbname=dst, **PG) as c:  # every write to `s` loses its connection
        c.execute("CREATE TABLE s (k text PRIMARY KEY, x int)")
        c.execute(
            "CREATE FUNCTION cut() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$"
        )
        c.execute("CREATE TRIGGER cut BEFORE INSERT ON s FOR EACH ROW EXECUTE FUNCTION cut()")
    cfg = tmp_path / "c.yaml"
    raw = {
        "source": {"type": "postgres", "database": src, "host": "127.0.0.1", "user": "postgres"},
        "target": {"type": "postgres", "database": dst, "host": "127.0.0.1", "user": "postgres"},
        "migration": {"state_dir": str(tmp_path / "state"), "executor": "ray", "chunk_size": 1000,
                      "target_mode": "append", "include_tables": ["s"]},
        "ray": {"address": gcs, "range_retries": 1}, "ai": {"provider": "none"},
    }  # fmt: skip
    cfg.write_text(yaml.safe_dump(raw))
    r = run_cli("run", "-c", str(cfg))
    assert r.returncode == 3, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: table `s` chunk ") and "copied 2 time(s) without success" in last
    assert "copying the range again (retry 1 of 1" in r.stderr


def test_a_task_running_past_stall_timeout_is_cancelled_and_its_range_copied_again(
    gcs: str, src: str, pg_dbs: Callable[[], str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import psycopg

    dst = pg_dbs()
    with psycopg.connect(dbname=dst, **PG) as c:  # the first row written anywhere hangs 8 s
        c.execute("CREATE TABLE s (k text PRIMARY KEY, x int)")
        c.execute("CREATE SEQUENCE once")
        c.execute(
            "CREATE FUNCTION hang() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF nextval('once') = 1 THEN PERFORM pg_sleep(8); END IF; RETURN NEW; END $$"
        )
        c.execute("CREATE TRIGGER hang BEFORE INSERT ON s FOR EACH ROW EXECUTE FUNCTION hang()")
    cfg = config(src, dst, tmp_path, gcs, target_mode="append", include_tables=["s"],
                 stall_timeout="2s", write_ahead_writers=1)  # fmt: skip
    result = execute(cfg)
    assert result.status == "success"  # checksum: the cancelled range arrived once
    assert "the task ran longer than stall_timeout (2s); cancelled" in caplog.text
