"""The rules of learned starts (no database): which outcomes vote, in which order, and what
one table's samples say."""

from __future__ import annotations

from dataclasses import replace

from dmt.tuning.learned import Outcome, Shape, choose, measure, worse_than_defaults

SHAPE = Shape(rows=1_000_000, row_bytes=40, columns=4, lobs=0, key="int")


def outcome(run: str, table: str = "t", w: int = 4, c: int = 20_000, **kw: object) -> Outcome:
    base = Outcome(
        run_id=run, table=table, endpoints="E", pair="mysql->postgres", path="columnar",
        shape=SHAPE, start_writers=2, start_chunk=50_000, start_kind="config", start_rate=1.0,
        writers=w, chunk_size=c, steady_rate=2.0, seconds_to_steady=3.0, votes=True,
    )  # fmt: skip
    return replace(base, **kw)  # type: ignore[arg-type]


def pick(history: list[Outcome], table: str = "t", shape: Shape = SHAPE) -> object:
    return choose(table, "E", "mysql->postgres", "columnar", shape, history)


def test_same_table_votes_first_with_the_median_of_the_latest_three() -> None:
    history = [
        outcome("r5", w=6, c=30_000), outcome("r4", w=2, c=10_000), outcome("r3", w=4, c=20_000),
        outcome("r2", w=16, c=500_000), outcome("other", table="u", w=1, c=1_000),
    ]  # fmt: skip
    start = pick(history)
    assert start is not None
    assert (start.writers, start.chunk_size, start.how, start.runs) == (  # type: ignore[attr-defined]
        4, 20_000, "learned", ("r5", "r4", "r3"),
    )  # fmt: skip
    assert start.line() == (  # type: ignore[attr-defined]
        "t votes: starting at 4 writers / 20000 rows, learned from runs r5, r4, r3"
    )


def test_no_history_of_the_table_takes_the_nearest_shapes_of_the_same_pair_and_path() -> None:
    near = outcome("near", table="u", w=3, c=40_000, shape=replace(SHAPE, rows=900_000))
    far = outcome("far", table="v", w=9, c=9_000, shape=Shape(10, 4000, 60, 5, "composite"))
    other_path = outcome("path", table="x", w=12, c=12_000, path="rows")
    start = pick([far, other_path, near])
    assert start is not None
    assert (start.writers, start.chunk_size, start.how) == (3, 40_000, "similar")  # type: ignore[attr-defined]
    assert pick([far, other_path]) is None  # too unlike, or another path: the defaults


def test_forgotten_and_unmeasured_outcomes_never_vote() -> None:
    assert pick([outcome("a", forgotten=True), outcome("b", votes=False)]) is None


def test_measure_reads_the_start_rate_before_the_first_change_and_the_steady_end() -> None:
    samples = [
        {"t": 1.0, "interval": 1.0, "writers": 1, "chunk_size": 1000, "rows_per_sec": 100.0},
        {"t": 2.0, "interval": 1.0, "writers": 1, "chunk_size": 1000, "rows_per_sec": 120.0},
        {"t": 3.0, "interval": 1.0, "writers": 2, "chunk_size": 8000, "rows_per_sec": 300.0},
        {"t": 4.0, "interval": 1.0, "writers": 2, "chunk_size": 8000, "rows_per_sec": 400.0},
        {"t": 5.0, "interval": 1.0, "writers": 2, "chunk_size": 8000, "rows_per_sec": 410.0},
    ]
    got = measure(samples, (1, 1000), (2, 8000), None)
    assert got.start_rate == 110.0 and (got.writers, got.chunk_size) == (2, 8000)
    assert got.steady_rate == 400.0 and got.seconds_to_steady == 4.0 and got.by_controller
    static = measure([], (1, 1000), (1, 1000), 50.0)
    assert (static.start_rate, static.by_controller) == (50.0, False)
    assert measure([], (1, 1000), (2, 1000), 50.0).start_rate is None


def test_a_learned_start_is_worse_only_beyond_the_margin() -> None:
    assert worse_than_defaults(80.0, [100.0, 95.0, 110.0])
    assert not worse_than_defaults(92.0, [100.0])
    assert not worse_than_defaults(None, [100.0]) and not worse_than_defaults(10.0, [])
