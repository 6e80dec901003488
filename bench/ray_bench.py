"""Threads vs Ray: the same copy (``votes`` PostgreSQL -> PostgreSQL) by the thread executor
and by the Ray executor on a local Ray cluster this script starts, in one process, alternating.

::

    DMT_BENCH_DB=dmt_bench_ray python bench/ray_bench.py [--scale 1.0] [--repeat 3]
                                                       [--writers 2] [--chunk-size 50000]

Each run is ``Migration(cfg).execute()`` with ``validate: none`` and ``writers`` writers
(threads: the writer pool; Ray: ranges in flight, the cluster having as many CPUs). The figure
compared is the copy's own time (``copy_seconds``: planning, dispatch, rows moved; Ray joins
its cluster before the clock starts, as a run joins a running cluster), median of the
repeats after one cold run of each (reported apart: Ray starts its worker processes then,
and both import their drivers); the overhead ratio is Ray's over the threads'. The Ray
runs' per-range timings (rows, seconds, time in the source's read and the target's write)
feed the scaling model of docs/distributed.md; everything goes to ``bench/out/ray_bench.json``.
The last Ray copy is checked against the source (``dmt validate --mode checksum``, untimed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray stays on the loopback

import datagen

from dmt.config import build_config
from dmt.run import Migration


def config(executor: str, state: str, writers: int, chunk: int, address: str) -> Any:
    return build_config(
        {
            "source": datagen.server_endpoint("pg", datagen.SRC_DB),
            "target": datagen.server_endpoint("pg", datagen.DST_DB),
            "migration": {
                "executor": executor,
                "state_dir": state,
                "validate": "none",
                "include_tables": ["votes"],
                "write_ahead_writers": writers,
                "chunk_size": chunk,
            },
            "ray": {"address": address},
            "ai": {"provider": "none"},
        }
    )


def one(executor: str, writers: int, chunk: int, address: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as state:
        m = Migration(config(executor, state, writers, chunk, address))
        t0 = time.monotonic()
        result = m.execute()
        wall = time.monotonic() - t0
    out = {"copy_seconds": result.copy_seconds, "wall_seconds": wall,
           "rows": result.rows_transferred}  # fmt: skip
    if executor == "ray":
        out["ranges"] = m.pipeline.timings
    return out


def model(ranges: list[dict[str, Any]], in_flight: int) -> dict[str, float]:
    """Single-task figures the scaling model starts from (docs/distributed.md)."""
    rows = sum(r["rows"] for r in ranges)
    return {
        "rows_per_task_second": rows / sum(r["seconds"] for r in ranges),
        "source_rows_per_read_second": rows / max(1e-9, sum(r["read"] for r in ranges)),
        "target_rows_per_write_second": rows / max(1e-9, sum(r["write"] for r in ranges)),
        "median_range_seconds": statistics.median(r["seconds"] for r in ranges),
        "ranges": len(ranges),
        "in_flight": in_flight,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--writers", type=int, default=2)
    ap.add_argument("--chunk-size", type=int, default=50_000)
    ap.add_argument("--nice", default="0", help="the Ray workers' niceness (Ray's default: 15)")
    args = ap.parse_args()
    status = datagen.ensure_data(args.scale, engines=("pg",))
    if status.get("pg") != "ok":
        print(f"no benchmark data: {status}")
        return 1
    datagen.ensure_database("pg", datagen.DST_DB)
    import ray

    # Ray starts its workers at nice 15, the thread executor runs at 0: on a shared machine the
    # comparison would measure the niceness (--nice 15 shows how much)
    os.environ.update({"RAY_worker_niceness": args.nice})  # read when the raylet starts
    ctx = ray.init(num_cpus=args.writers, include_dashboard=False, log_to_driver=False,
                   _node_ip_address="127.0.0.1")  # fmt: skip
    runs: dict[str, list[dict[str, Any]]] = {"threads": [], "ray": []}
    cold: dict[str, float] = {}
    try:
        address = str(ctx.address_info["gcs_address"])  # type: ignore[attr-defined]
        for i in range(args.repeat + 1):
            order = ("threads", "ray") if i % 2 == 0 else ("ray", "threads")
            for executor in order:
                r = one(executor, args.writers, args.chunk_size, address)
                if i == 0:  # cold: Ray starts its worker processes, both import their drivers
                    cold[executor] = r["copy_seconds"]
                    print(f"{executor:8s} cold run: copy {r['copy_seconds']:.2f}s", flush=True)
                    continue
                runs[executor].append(r)
                took = f"copy {r['copy_seconds']:.2f}s (wall {r['wall_seconds']:.2f}s)"
                print(f"{executor:8s} run {i + 1}: {took}, {r['rows']:,} rows", flush=True)
    finally:
        ray.shutdown()
    med = {e: statistics.median(r["copy_seconds"] for r in rs) for e, rs in runs.items()}
    ratio = med["ray"] / med["threads"]
    ranges = [t for r in runs["ray"] for t in r["ranges"]]
    figures = model(ranges, args.writers)
    print(f"median copy: threads {med['threads']:.2f}s, ray {med['ray']:.2f}s; "
          f"overhead ratio ray/threads = {ratio:.2f} (target <= 1.25)")  # fmt: skip
    print("per-range figures: " + ", ".join(f"{k} {v:,.1f}" for k, v in figures.items()))
    out = Path(datagen.OUT_DIR) / "ray_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"cold runs (not in the medians): threads {cold['threads']:.2f}s, ray "
          f"{cold['ray']:.2f}s")  # fmt: skip
    out.write_text(json.dumps({"args": vars(args), "median_copy_seconds": med, "ratio": ratio,
                               "cold_copy_seconds": cold,
                               "model": figures, "runs": runs}, indent=1))  # fmt: skip
    check = datagen.run([sys.executable, "-m", "dmt", "validate", "--mode", "checksum", "-c",
                         str(_validate_config())], timeout=1800)  # fmt: skip
    print("checksum of the last copy:", check.strip().splitlines()[-1] if check.strip() else "ok")
    return 0


def _validate_config() -> Path:
    import yaml

    path = Path(tempfile.mkdtemp()) / "validate.yaml"
    path.write_text(yaml.safe_dump({
        "source": datagen.server_endpoint("pg", datagen.SRC_DB),
        "target": datagen.server_endpoint("pg", datagen.DST_DB),
        "migration": {"include_tables": ["votes"]}, "ai": {"provider": "none"},
    }))  # fmt: skip
    return path


if __name__ == "__main__":
    sys.exit(main())
