"""The Ray executor on a cluster of several nodes on this machine (``ray.cluster_utils.Cluster``:
a head without CPUs, so every task runs on one of two worker nodes of one CPU each): a node
removed mid-copy loses the range it was copying, which is copied again as a resume; every row
arrives exactly once (the checksum validation of the run, and each range's content digest
equal to an undisturbed run's), and the writer count raised mid-run puts a range on each node.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dmt.run import execute
from tests.support.raying import Background, config, fill

pytestmark = pytest.mark.postgres
ROWS = 40_000


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[Any, list[Any]]]:
    import ray
    from ray.cluster_utils import Cluster

    c = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 0, "include_dashboard": False,
            # a removed node is declared dead within a few seconds
            "_system_config": {"health_check_period_ms": 500,
                               "health_check_failure_threshold": 4},
        },
    )  # fmt: skip
    try:
        nodes = [c.add_node(num_cpus=1) for _ in range(2)]
        c.wait_for_nodes()
        ray.init(address=c.address, log_to_driver=False)
        yield c, nodes
    finally:
        ray.shutdown()
        c.shutdown()


@pytest.fixture(scope="module")
def src(pg_dbs: Callable[[], str]) -> str:
    db = pg_dbs()
    fill(db, ROWS)
    return db


def copying_on(node: Any) -> bool:
    """Whether a worker of ``node`` is running a dmt task (Ray titles it ``ray::dmt:...``)."""
    import psutil

    raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
    for p in raylet.children(recursive=True):
        try:
            if " ".join(p.cmdline()).startswith("ray::dmt:"):
                return True
        except psutil.Error:  # ended meanwhile
            continue
    return False


def test_a_node_removed_mid_copy_loses_no_row_and_doubles_none(
    cluster: tuple[Any, list[Any]], src: str, pg_dbs: Callable[[], str], tmp_path: Path
) -> None:
    c, nodes = cluster
    calm = Background(config(src, pg_dbs(), tmp_path / "calm", c.address, chunk_size=10_000,
                             write_ahead_writers=2)).start()  # fmt: skip
    assert calm.join().status == "success"
    expected = calm.pipeline().digests

    cfg = config(src, pg_dbs(), tmp_path / "hit", c.address, chunk_size=10_000,
                 write_ahead_writers=1, workers=1)  # fmt: skip
    bg = Background(cfg).start()
    deadline = time.monotonic() + 90
    while (pipe := bg.pipeline()) is None or pipe.counters.rows_total < 4_000:  # `s` is done
        assert time.monotonic() < deadline and bg.thread.is_alive(), "the copy did not start"
        time.sleep(0.01)
    assert pipe.max_in_flight == 1
    bg.push(writers=2)  # the runtime adjustment: a range on each node
    while not copying_on(nodes[1]):  # a range in flight on the node about to go
        assert time.monotonic() < deadline and bg.thread.is_alive(), "no range on the node"
        time.sleep(0.005)
    c.remove_node(nodes[1])  # its raylet and the worker copying a range die
    result = bg.join()

    assert result.status == "success"  # checksum validation: every row once, every value equal
    assert pipe.counters.retries >= 1  # the lost range was copied again
    assert pipe.max_in_flight == 2 and pipe.slots.limit == 2
    assert bg.migration.rows_copied == ROWS + ROWS // 10  # no range counted twice
    assert pipe.digests == expected  # each range's content as the undisturbed run read it


def test_the_remaining_node_runs_a_plain_copy(
    cluster: tuple[Any, list[Any]], src: str, pg_dbs: Callable[[], str], tmp_path: Path
) -> None:
    c, _ = cluster
    result = execute(config(src, pg_dbs(), tmp_path, c.address))
    assert result.status == "success"
    assert sum(t.rows for t in result.tables) == ROWS + ROWS // 10
