"""The generic (SQLAlchemy) dialect against the hand-tuned ones, on the benchmark tables.

For each direction given, the same table is copied by ``dmt run`` three ways, alternating
within each repeat: hand-tuned with default settings (PostgreSQL -> PostgreSQL: the binary
COPY pass-through), hand-tuned with ``data_path: rows`` (the exact row path: driver reads,
COPY / LOAD DATA / batched inserts), and with both endpoints ``type: generic`` (SQLAlchemy
reads, Core INSERT executemany writes). Each is timed wall clock from process start to exit;
the figure is the median of ``--repeat`` runs and the ratio of each to the generic run.

::

    DMT_BENCH_DB=dmt_bench_generic python bench/generic_bench.py --scale 0.1 \\
        [--directions pg-pg,sqlite-sqlite] [--tables votes,posts] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import datagen

ROOT = Path(__file__).resolve().parents[1]
NAMES = {"pg": "postgres", "my": "mysql", "sqlite": "sqlite"}


def url(engine: str, db: str | Path) -> str:
    """The SQLAlchemy URL of a benchmark database."""
    if engine == "pg":
        return f"postgresql+psycopg://{datagen.PG_USER}@{datagen.PG_HOST}:{datagen.PG_PORT}/{db}"
    if engine == "my":
        return (
            f"mysql+pymysql://{datagen.MY_USER}@{datagen.MY_HOST}:{datagen.MY_PORT}/{db}"
            "?charset=utf8mb4&local_infile=1"
        )
    return f"sqlite:///{db}"


def endpoint(engine: str, side: str, generic: bool) -> dict[str, Any]:
    db: str | Path
    if engine == "sqlite":
        db = datagen.SQLITE_SRC if side == "source" else datagen.OUT_DIR / "generic_dst.db"
    else:
        db = datagen.SRC_DB if side == "source" else datagen.DST_DB
    if generic:
        return {"type": "generic", "url": url(engine, db)}
    if engine == "sqlite":
        return {"type": "sqlite", "path": str(db)}
    return datagen.server_endpoint(engine, str(db))


def run_once(src: str, dst: str, table: str, how: str, state: Path) -> float:
    generic = how == "generic"
    migration: dict[str, Any] = {
        "include_tables": [table],
        "validate": "none",
        "state_dir": str(state),
    }
    if how == "rows":
        migration["data_path"] = "rows"
    cfg = {
        "source": endpoint(src, "source", generic),
        "target": endpoint(dst, "target", generic),
        "migration": migration,
        "ai": {"provider": "none"},
    }
    path = state / "cfg.yaml"
    path.write_text(json.dumps(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "dmt", "run", "-c", str(path), "--output-json"],
        capture_output=True, text=True, env=env, timeout=3600,
    )  # fmt: skip
    secs = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{src}-{dst} {table} {how}: {r.stderr.strip()[-400:]}")
    out = json.loads(r.stdout)
    if out["rows_transferred"] != datagen.sizes_for(SCALE).rows(table):
        raise RuntimeError(f"{src}-{dst} {table} {how}: {out['rows_transferred']} rows")
    return secs


SCALE = 0.1


def main() -> int:
    global SCALE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.1)
    ap.add_argument("--directions", default="pg-pg")
    ap.add_argument("--tables", default="votes,posts")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    SCALE = args.scale
    directions = [d.split("-") for d in args.directions.split(",")]
    engines = tuple(sorted({e for d in directions for e in d}))
    datagen.ensure_data(args.scale, engines=engines)
    for e in engines:
        if e != "sqlite":
            datagen.ensure_database(e, datagen.DST_DB)
    hows = ("default", "rows", "generic")
    for src, dst in directions:
        for table in args.tables.split(","):
            times: dict[str, list[float]] = {h: [] for h in hows}
            with tempfile.TemporaryDirectory() as tmp:
                for i in range(args.repeat):
                    for how in hows if i % 2 == 0 else reversed(hows):
                        times[how].append(run_once(src, dst, table, how, Path(tmp)))
            med = {h: statistics.median(v) for h, v in times.items()}
            rows = datagen.sizes_for(args.scale).rows(table)
            print(
                f"{src}-{dst} {table} ({rows:,} rows, median of {args.repeat}): "
                + ", ".join(f"{h} {med[h]:.2f}s" for h in hows)
                + f"; generic/default {med['generic'] / med['default']:.2f}x,"
                f" generic/rows {med['generic'] / med['rows']:.2f}x"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
