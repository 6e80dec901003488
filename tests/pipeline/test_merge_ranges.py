"""Planned key ranges read together: with ``chunk_size_at: chunk``, a chunk_size raised past the
width a table was planned with makes readers take consecutive planned chunks as one range, so
batches grow; every planned chunk is still checkpointed on its own, and a failure or a kill in
the middle of a merged read resumes to every row exactly once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections import deque
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml

from dmt.checkpoint import split_rows
from dmt.config import build_config
from dmt.errors import TransferError
from dmt.model.job import Batch
from dmt.model.ranges import Chunk, merge, take_adjacent
from dmt.pipeline.pipeline import Pipeline
from dmt.pipeline.updates import UpdateSlot
from dmt.run import Migration, execute
from dmt.settings import Update
from tests.conftest import endpoint
from tests.support.compare import assert_same_table
from tests.support.killing import (
    Moment,
    assert_skipped_done_chunks,
    read_state,
    run_cli,
    stop_at,
)

ROOT = Path(__file__).resolve().parents[2]
ROWS = {"ints": 60_000, "words": 40_000, "pairs": 30_000}
PLANNED = 1000
RAISED = 8000


class LateSlot(UpdateSlot):
    """Hands out ``update`` at the ``at``-th take: with one table, take 1 is its start (where
    its ranges are planned) and take 2 follows its first written batch."""

    def __init__(self, update: Update, at: int = 2) -> None:
        super().__init__()
        self.update, self.at, self.takes = update, at, 0

    def take(self) -> Update | None:
        with self._lock:
            self.takes += 1
            return self.update if self.takes == self.at else None


class Recorder:
    """Stands in for ``dmt.copying.Pipeline``: keeps each pipeline and every written batch's chunk
    and row count; ``sabotage`` may replace the write of a batch."""

    def __init__(self) -> None:
        self.pipelines: list[Pipeline] = []
        self.batches: list[tuple[Chunk, int]] = []
        self.sabotage: Callable[[Pipeline, Any, Batch], bool] | None = None

    def factory(self, *args: Any, **kwargs: Any) -> Pipeline:
        rec = self

        class Recording(Pipeline):
            def _write_batch(self, conn: Any, batch: Batch) -> None:
                if rec.sabotage is not None and rec.sabotage(self, conn, batch):
                    return
                super()._write_batch(conn, batch)
                rec.batches.append((batch.chunk, batch.nrows))

        pipeline = Recording(*args, **kwargs)
        self.pipelines.append(pipeline)
        return pipeline

    def merged(self) -> int:
        return sum(t.merged for p in self.pipelines for t in p.tracker.results())


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    rec = Recorder()
    monkeypatch.setattr("dmt.copying.Pipeline", rec.factory)
    return rec


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("src") / "src.db"
    with closing(sqlite3.connect(path)) as c, c:
        c.execute("CREATE TABLE ints (id INTEGER PRIMARY KEY, v TEXT, n REAL)")
        c.executemany(
            "INSERT INTO ints VALUES (?,?,?)",
            ((i, f"v{i}" * 3, i / 3) for i in range(1, ROWS["ints"] + 1)),
        )
        c.execute("CREATE TABLE words (k TEXT PRIMARY KEY, v INTEGER)")
        words = [f"{p}{i:05d}" for i in range(ROWS["words"] // 4) for p in ("a", "B", "é", "Z")]
        c.executemany("INSERT INTO words VALUES (?,?)", ((w, i) for i, w in enumerate(words)))
        c.execute("CREATE TABLE pairs (a INTEGER, b TEXT, v INTEGER, PRIMARY KEY (a, b))")
        c.executemany(
            "INSERT INTO pairs VALUES (?,?,?)",
            ((i % 7, f"k{i:06d}", i) for i in range(ROWS["pairs"])),
        )
    return path


def _raw(src: Path, kind: str, dst: Any, tmp_path: Path, **migration: Any) -> dict[str, Any]:
    # these tests watch ranges merge because chunk_size grew; the columnar path merges ranges
    # for its own reason (ArrowPath.min_range_rows), so they run without it
    settings = {"state_dir": str(tmp_path / "state"), "chunk_size": PLANNED,
                "chunk_size_at": "chunk", "workers": 1, "parallel_readers": 1,
                "write_ahead_writers": 2, "data_path": "no_columnar", **migration}  # fmt: skip
    return {"source": endpoint("sqlite", src), "target": endpoint(kind, dst),
            "migration": settings}  # fmt: skip


def _chunk_marks(state: Path, table: str) -> list[tuple[int, int, int, int | None]]:
    """(index, started, done, rows) of every planned chunk of ``table``."""
    with closing(sqlite3.connect(state / "state.db")) as c:
        sql = "SELECT idx, started, done, rows FROM chunks WHERE tbl = ? ORDER BY idx"
        return [tuple(r) for r in c.execute(sql, (table,))]


# ---------------------------------------------------------------------------------- units
def test_take_adjacent_stops_at_gaps_and_merge_checks_adjacency() -> None:
    plan = [Chunk("t", i, None if i == 0 else (i * 10,), (i * 10 + 10,)) for i in range(6)]
    plan.append(Chunk("t", 6, (60,), None))
    pending = deque([c for c in plan if c.index != 3])  # chunk 3 done in an earlier run
    first = take_adjacent(pending, 5)
    assert [p.index for p in first.parts] == [0, 1, 2]  # stops at the gap
    assert (first.index, first.lower, first.upper) == (0, None, (30,))
    assert first.describe() == "chunks 0-2 (-inf, 30]"
    assert take_adjacent(pending, 1) == plan[4] and not plan[4].parts
    last = take_adjacent(pending, 9)  # at most what remains
    assert [p.index for p in last.planned()] == [5, 6] and last.upper is None
    assert not pending
    with pytest.raises(ValueError, match="not adjacent"):
        merge([plan[0], plan[2]])
    with pytest.raises(ValueError, match="not adjacent"):  # the next index, another range
        merge([plan[0], Chunk("t", 1, (11,), (20,))])


def test_merged_rows_are_split_exactly() -> None:
    plan = [Chunk("t", i, (i,), (i + 1,)) for i in range(3)]
    assert split_rows(merge(plan), 8000) == [(0, 2667), (1, 2667), (2, 2666)]
    assert split_rows(plan[1], 5) == [(1, 5)]


# ---------------------------------------------------------------------------------- runs
@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_a_raised_chunk_size_reads_planned_ranges_together(
    source: Path, pg_db: str, tmp_path: Path, kind: str, recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    caplog.set_level("DEBUG", logger="dmt")
    dst = pg_db if kind == "postgres" else tmp_path / "t.db"
    raw = _raw(source, kind, dst, tmp_path, include_tables=["ints"])
    cfg = build_config(raw, tmp_path)
    result = Migration(cfg, slot=LateSlot(Update(chunk_size=RAISED))).execute()
    assert ("chunk_size", PLANNED, RAISED) in [
        (a["knob"], a["before"], a["after"]) for a in result.adjustments
    ]
    assert f"table `ints`: {ROWS['ints'] // PLANNED:,} chunk(s) of {PLANNED:,} rows" in caplog.text
    assert f"table `ints`: reading 8 planned chunk(s) per range (chunk_size {RAISED})" in (
        caplog.text
    )
    merged = [(chunk, n) for chunk, n in recorder.batches if chunk.parts]
    assert merged and max(n for _, n in merged) > PLANNED  # batches grew past the plan
    assert all(n <= RAISED for _, n in recorder.batches)
    assert sum(n for _, n in recorder.batches) == ROWS["ints"]
    assert recorder.merged() >= ROWS["ints"] // PLANNED // 2
    table = recorder.pipelines[0].tracker.results()[0]
    assert (table.rows, table.chunks) == (ROWS["ints"], ROWS["ints"] // PLANNED)
    assert f"table `ints`: {table.merged} of {table.chunks} planned chunk(s) read in merged" in (
        caplog.text
    )
    # every planned chunk is checkpointed on its own, and the rows add up exactly
    marks = _chunk_marks(tmp_path / "state", "ints")
    assert len(marks) == ROWS["ints"] // PLANNED
    assert all(started and done for _, started, done, _ in marks)
    assert sum(rows or 0 for *_, rows in marks) == ROWS["ints"]
    assert result.tables[0].rows == ROWS["ints"]
    assert assert_same_table(cfg.source, cfg.target, "ints") == ROWS["ints"]


def test_table_mode_never_merges(source: Path, tmp_path: Path, recorder: Recorder) -> None:
    raw = _raw(source, "sqlite", tmp_path / "t.db", tmp_path, include_tables=["ints"],
               chunk_size_at="table")  # fmt: skip
    cfg = build_config(raw, tmp_path)
    Migration(cfg, slot=LateSlot(Update(chunk_size=RAISED))).execute()
    assert recorder.merged() == 0
    assert all(not chunk.parts for chunk, _ in recorder.batches)
    assert max(n for _, n in recorder.batches) <= PLANNED
    assert assert_same_table(cfg.source, cfg.target, "ints") == ROWS["ints"]


@pytest.mark.parametrize("table", ["ints", "words", "pairs"])
def test_merged_ranges_with_two_readers_stay_exact(
    source: Path, pg_db: str, tmp_path: Path, table: str, recorder: Recorder
) -> None:
    raw = _raw(source, "postgres", pg_db, tmp_path, include_tables=[table], parallel_readers=2,
               write_ahead_writers=3, read_ahead_buffers=2)  # fmt: skip
    cfg = build_config(raw, tmp_path)
    Migration(cfg, slot=LateSlot(Update(chunk_size=4000))).execute()
    assert recorder.merged() > 0
    assert max(n for _, n in recorder.batches) > PLANNED
    marks = _chunk_marks(tmp_path / "state", table)
    assert all(done for _, _, done, _ in marks)
    assert sum(rows or 0 for *_, rows in marks) == ROWS[table]
    assert assert_same_table(cfg.source, cfg.target, table) == ROWS[table]


@pytest.mark.parametrize("table", ["ints", "words"])
def test_a_failure_inside_a_merged_read_resumes_exactly(
    source: Path, tmp_path: Path, table: str, recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    raw = _raw(source, "sqlite", tmp_path / "t.db", tmp_path, include_tables=[table])
    cfg = build_config(raw, tmp_path)
    hit: list[Chunk] = []

    def half_then_fail(pipeline: Pipeline, conn: Any, batch: Batch) -> bool:
        # a merged range's batch once another one was written: half its rows are committed,
        # then the write fails, like a crash between two commits in the middle of a merged read
        if hit or not batch.chunk.parts or not any(c.parts for c, _ in recorder.batches):
            return False
        hit.append(batch.chunk)
        pipeline.target.write_rows(conn, batch.job.target, batch.rows[: len(batch.rows) // 2])
        raise RuntimeError("the target went away")

    recorder.sabotage = half_then_fail
    with pytest.raises(TransferError) as info:
        Migration(cfg, slot=LateSlot(Update(chunk_size=RAISED))).execute()
    broken = hit[0]
    assert broken.describe() in str(info.value)  # the error names the merged key range
    state = Path(cfg.migration.state_dir)
    marks = {idx: (started, done) for idx, started, done, _ in _chunk_marks(state, table)}
    assert all(marks[p.index] == (1, 0) for p in broken.planned())  # started, not done
    recorder.sabotage = None
    caplog.set_level("INFO", logger="dmt")
    result = execute(cfg, resume=True)
    assert "was in flight; removed" in caplog.text
    assert result.tables[0].rows == ROWS[table]
    assert all(done for _, _, done, _ in _chunk_marks(state, table))
    assert assert_same_table(cfg.source, cfg.target, table) == ROWS[table]


# ---------------------------------------------------------------------------------- kill -9
KILLABLE = """
import sys
from pathlib import Path

import yaml

from dmt.config import build_config
from dmt.settings import Update
from dmt.run import Migration
from tests.pipeline.test_merge_ranges import RAISED, LateSlot

path = Path(sys.argv[1])
cfg = build_config(yaml.safe_load(path.read_text()), path.parent)
Migration(cfg, slot=LateSlot(Update(chunk_size=RAISED))).execute()
"""


def test_kill_during_a_merged_read_and_resume(
    source: Path, pg_dbs: Callable[[], str], tmp_path: Path
) -> None:
    raw = _raw(source, "postgres", pg_dbs(), tmp_path, include_tables=["ints", "words"],
               read_ahead_buffers=2)  # fmt: skip
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text(yaml.safe_dump(raw))
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLABLE, str(cfg_path)], cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    # 20 planned chunks committed: the rest of `ints` is read 8 planned chunks at a time
    outcome, after = stop_at(proc, tmp_path / "state", Moment("in_flight", 20))
    print(f"{outcome}: {after}")
    assert outcome == "killed"
    assert after.in_flight > 1, after  # the parts of a merged read, started and not done
    r = run_cli("resume", "-c", str(cfg_path), "--verbosity", "info")
    assert r.returncode == 0, r.stderr
    assert "was in flight; removed" in r.stderr
    assert_skipped_done_chunks(after, read_state(tmp_path / "state"))
    cfg = build_config(raw, tmp_path)
    for table in ("ints", "words"):
        assert all(done for _, _, done, _ in _chunk_marks(tmp_path / "state", table))
        assert assert_same_table(cfg.source, cfg.target, table) == ROWS[table]
