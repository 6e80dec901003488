"""StallWatch's rule, on an injected clock: a stall is no commit for the limit while a server
call runs; the stuck call is the oldest; the limit grows with the slowest batch seen."""

from __future__ import annotations

from pathlib import Path

from dmt.config import Endpoint
from dmt.dialects.base import Dialect, get_dialect
from dmt.dialects.sessions import statement_head
from dmt.errors import Stalled
from dmt.model.ranges import Chunk
from dmt.pipeline.stall import STALL_FACTOR, StallWatch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _watch(tmp_path: Path) -> tuple[StallWatch, Clock, list[Stalled], Dialect]:
    clock = Clock()
    seen: list[Stalled] = []
    dialect = get_dialect(Endpoint(engine="sqlite", path=str(tmp_path / "t.db")), "target")
    return StallWatch(2.0, seen.append, clock), clock, seen, dialect


def test_the_oldest_running_call_is_named_once_no_batch_committed_for_the_limit(
    tmp_path: Path,
) -> None:
    watch, clock, seen, dialect = _watch(tmp_path)
    with watch.busy(dialect, lambda: None, "ints", Chunk("ints", 3, (2000,), (3000,)), "the write"):
        clock.now += 1.0
        with watch.busy(dialect, lambda: None, "other", Chunk("other", 0, None, None), "the read"):
            assert watch.check() is None  # 1s without a commit: not yet
            clock.now += 1.5
            err = watch.check()
    assert err is not None and seen == [err] and err.exit_code == 2
    assert str(err).startswith(
        "table `ints` chunk 3 (2000, 3000]: no batch committed for 2.5s (stall_timeout 2.0s); "
        "the write on the target has run for 2.5s: no server session to ask about"
    ), err
    assert watch.check() is None  # the next stall counts from this one


def test_no_running_call_is_no_stall_and_a_commit_starts_the_count_again(tmp_path: Path) -> None:
    watch, clock, seen, dialect = _watch(tmp_path)
    clock.now += 10
    assert watch.check() is None  # nothing on a server (planning, waiting on a queue)
    with watch.busy(dialect, lambda: None, "t", Chunk("t", 0, None, None), "the write"):
        watch.committed(0.01)
        clock.now += 1.9
        assert watch.check() is None
        clock.now += 0.2
        assert watch.check() is not None
    assert len(seen) == 1


def test_the_limit_grows_with_the_slowest_batch(tmp_path: Path) -> None:
    watch, clock, _, dialect = _watch(tmp_path)
    assert watch.limit() == 2.0
    watch.observed(0.5)
    assert watch.limit() == 0.5 * STALL_FACTOR
    with watch.busy(dialect, lambda: None, "t", Chunk("t", 0, None, None), "the read"):
        clock.now += 4.0
        assert watch.check() is None
        clock.now += 1.5
        assert watch.check() is not None


def test_a_statement_is_quoted_without_its_values() -> None:
    assert statement_head("INSERT INTO `t` (`a`, `b`) VALUES (1, 'secret')") == (
        "INSERT INTO `t` (`a`, `b`) …"
    )
    assert statement_head('SELECT "a" FROM "t" WHERE "id" > 5') == 'SELECT "a" FROM "t" …'
    assert statement_head("COPY t (a) FROM STDIN") == "COPY t (a) FROM STDIN"
    assert len(statement_head("COPY " + "x" * 300)) == 100
    assert statement_head(None) == ""
