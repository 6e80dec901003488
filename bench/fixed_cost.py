"""Fixed cost: what one ``dmt run`` costs before and after its rows, per direction.

A one-row table (the ``votes`` shape) is copied with default settings as a user runs it
(``python -m dmt run -c cfg.yaml --output-json``, ``validate: none``), several times per
direction. Three figures per run, all from the process start:

- **first row**: dmt's own ``first_row_s`` (the run's JSON): the commit of the first batch
  holding rows, measured from the moment the kernel started the process
  (``/proc/self/stat``), so interpreter start-up and imports count;
- **last row**: ``last_row_s``, the same clock (equal to the first on one row);
- **exit**: wall clock here, from just before ``Popen`` to the process's exit.

plus the process's CPU seconds (user + system), steadier than wall time on a shared machine,
and for reference the interpreter's own floor (``python -c pass``) and the import of the
command line (``python -c "import dmt.cli"``). Figures are medians.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datagen
from datagen import DATA_DIR, OUT_DIR, create_sql, duck_cmd, mariadb, psql, sqlite3_cmd

SRC_DB = "dmt_bench_fc_src"
DST_DB = "dmt_bench_fc_dst"
SQLITE_SRC = DATA_DIR / "fc_src.db"
SQLITE_DST = OUT_DIR / "fc_dst.db"
DUCK_SRC = DATA_DIR / "fc_src.duckdb"
DUCK_DST = OUT_DIR / "fc_dst.duckdb"
TABLE = "one_row"
ROW = "(1, 2, 3, NULL, 2, '2020-01-02 03:04:05')"
#: start -> first row written on PostgreSQL -> PostgreSQL (issue 18)
TARGET_FIRST_ROW_S = {"pg-pg": 0.4}


def prepare(engines: set[str]) -> None:
    """The one-row source table on each engine, and empty target databases."""
    create = create_sql
    if "pg" in engines:
        for db in (SRC_DB, DST_DB):
            datagen.ensure_database("pg", db)
        datagen.run(psql(SRC_DB, f"DROP TABLE IF EXISTS {TABLE}", create("pg", "votes", TABLE),
                         f"INSERT INTO {TABLE} VALUES {ROW}", f"ANALYZE {TABLE}"))  # fmt: skip
    if "my" in engines:
        for db in (SRC_DB, DST_DB):
            datagen.ensure_database("my", db)
        sql = f"DROP TABLE IF EXISTS {TABLE}; {create('my', 'votes', TABLE)}; "
        datagen.run(mariadb(SRC_DB, sql + f"INSERT INTO {TABLE} VALUES {ROW}"))
    if "sqlite" in engines:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        SQLITE_SRC.unlink(missing_ok=True)
        datagen.run(sqlite3_cmd(SQLITE_SRC, create("sqlite", "votes", TABLE),
                                f"INSERT INTO {TABLE} VALUES {ROW}"))  # fmt: skip
    if "duck" in engines:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        _unlink_duck(DUCK_SRC)
        datagen.run(duck_cmd(DUCK_SRC, create("duck", "votes", TABLE),
                             f"INSERT INTO {TABLE} VALUES {ROW}"))  # fmt: skip


def _unlink_duck(path: Path) -> None:
    for f in (path, Path(f"{path}.wal")):
        f.unlink(missing_ok=True)


def config(src: str, dst: str, path: Path, state_dir: Path) -> Path:
    def side(engine: str, db: str, file: Path) -> dict[str, Any]:
        if engine == "sqlite":
            return {"type": "sqlite", "path": str(file)}
        if engine == "duck":
            return {"type": "duckdb", "path": str(file.with_suffix(".duckdb"))}
        return datagen.server_endpoint(engine, db)

    cfg = {
        "source": side(src, SRC_DB, SQLITE_SRC),
        "target": side(dst, DST_DB, SQLITE_DST),
        "migration": {"include_tables": [TABLE], "validate": "none", "state_dir": str(state_dir)},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    return path


@dataclass
class Timed:
    wall: float
    cpu: float
    rc: int
    stdout: str
    stderr: str


def timed(argv: list[str]) -> Timed:
    """Run ``argv``: wall seconds from just before the spawn to the exit, and its CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Timed(wall, cpu, p.returncode, p.stdout, p.stderr)


def _median(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return statistics.median(got) if got else None


@dataclass
class Direction:
    direction: str
    first_row: list[float | None] = field(default_factory=list)
    last_row: list[float | None] = field(default_factory=list)
    exit: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "first_row_s": _median(self.first_row),
            "last_row_s": _median(self.last_row),
            "exit_s": _median(list(self.exit)),
            "cpu_s": _median(list(self.cpu)),
            "target_first_row_s": TARGET_FIRST_ROW_S.get(self.direction),
            "samples": {"first_row_s": self.first_row, "exit_s": self.exit, "cpu_s": self.cpu},
            "error": self.error,
        }


def one_direction(src: str, dst: str, repeat: int, state_dir: Path) -> Direction:
    res = Direction(f"{src}-{dst}")
    cfg = config(src, dst, OUT_DIR / "configs" / f"fixed-{src}-{dst}.yaml", state_dir)
    for _ in range(repeat):
        if dst == "sqlite":
            SQLITE_DST.unlink(missing_ok=True)
        elif dst == "duck":
            _unlink_duck(DUCK_DST)
        t = timed([sys.executable, "-m", "dmt", "run", "-c", str(cfg), "--output-json"])
        if t.rc != 0:
            lines = [ln for ln in t.stderr.splitlines() if ln.strip()]
            res.error = f"exit {t.rc}: {lines[-1][:200] if lines else '(no output)'}"
            return res
        out = json.loads(t.stdout)
        if out.get("rows_transferred") != 1:
            res.error = f"copied {out.get('rows_transferred')} rows, expected 1"
            return res
        res.first_row.append(out.get("first_row_s"))
        res.last_row.append(out.get("last_row_s"))
        res.exit.append(t.wall)
        res.cpu.append(t.cpu)
    db: str | Path = {"sqlite": SQLITE_DST, "duck": DUCK_DST}.get(dst, DST_DB)
    if datagen.count_rows(dst, db, TABLE) != 1:
        res.error = "the target does not hold the one row"
    return res


def floors(repeat: int) -> dict[str, dict[str, float | None]]:
    """The interpreter's own start-up and the import of dmt's command line, for reference."""
    out: dict[str, dict[str, float | None]] = {}
    for label, code in (("python -c pass", "pass"), ("import dmt.cli", "import dmt.cli")):
        runs = [timed([sys.executable, "-c", code]) for _ in range(repeat)]
        out[label] = {"exit_s": _median([r.wall for r in runs]),
                      "cpu_s": _median([r.cpu for r in runs])}  # fmt: skip
    return out


def _f(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.3f}"


def measure(directions: list[str], repeat: int) -> dict[str, Any]:
    """Fixed cost of every direction (medians of ``repeat``), printed and returned as JSON."""
    engines = {e for d in directions for e in d.split("-")}
    try:
        prepare(engines)
    except RuntimeError as exc:  # a server down: every direction fails, the rest still prints
        broken = str(exc).splitlines()[0]
        print(f"\nfixed cost: FAIL ({broken})")
        failed = [Direction(d, error=broken).to_json() for d in directions]
        return {"repeat": repeat, "directions": failed, "floors": {}}
    state_dir = OUT_DIR / "state-fixed"
    print(f"\nfixed cost: one-row table, medians of {repeat} (seconds from process start)")
    print(f"{'direction':<13} {'first row':>9} {'last row':>9} {'exit':>7} {'CPU s':>6}  target")
    results = []
    for direction in directions:
        src, dst = direction.split("-")
        r = one_direction(src, dst, repeat, state_dir)
        results.append(r.to_json())
        j = results[-1]
        target = j["target_first_row_s"]
        verdict = ""
        if target is not None and j["first_row_s"] is not None:
            verdict = f"<={target} {'PASS' if j['first_row_s'] <= target else 'MISS'}"
        line = (f"{direction:<13} {_f(j['first_row_s']):>9} {_f(j['last_row_s']):>9} "
                f"{_f(j['exit_s']):>7} {_f(j['cpu_s']):>6}  {verdict}")  # fmt: skip
        print(line + (f"  FAIL ({r.error})" if r.error else ""), flush=True)
    base = floors(repeat)
    for label, f in base.items():
        print(f"{label:<22} exit {_f(f['exit_s'])}  CPU {_f(f['cpu_s'])}")
    for engine in engines - set(datagen.FILE_ENGINES):
        datagen.run(psql(DST_DB, f"DROP TABLE IF EXISTS {TABLE}") if engine == "pg"
                    else mariadb(DST_DB, f"DROP TABLE IF EXISTS {TABLE}"))  # fmt: skip
    return {"repeat": repeat, "directions": results, "floors": base}
