"""Throughput benchmark: ``dmt run`` against a command-line reference pipe, per direction.

For every direction (source engine -> target engine, same-engine included) and every table it
runs ``dmt run -c <generated config> --output-json`` with default settings (only
``validate: none``, ``include_tables`` and a private ``state_dir`` are set) and, in the same
session, the reference pipe of command-line clients into an equivalent empty table with the
same primary key. Both are timed wall-clock end to end (process start to exit) and both
targets are row-counted afterwards. dmt's peak RSS comes from ``/usr/bin/time -f %M``.

::

    python bench/pipeline_bench.py [--scale 1.0] [--directions pg-pg,my-pg,...]
                                   [--tables votes,posts] [--repeat 1] [--timeout 600]
                                   [--fixed-cost [--fixed-repeat 5]] [--validate]
                                   [--chunk-sizes 119000,500000] [--no-reference]

Prints one line per (direction, table) and writes the JSON to ``bench/out/``. With
``--repeat N`` every figure is the median of N runs (dmt and reference alternate their order).
A direction whose dmt run fails (e.g. an unfinished dialect) is reported as FAIL and the
benchmark carries on. ``--fixed-cost`` adds each direction's fixed cost on a one-row table
(``bench/fixed_cost.py``); ``--tables ''`` skips the throughput runs. ``--chunk-sizes`` runs
every direction once per ``migration.chunk_size`` given (the memory check: peak RSS must stay
under ``RSS_TARGET_MB`` whatever chunk_size is); ``--no-reference`` skips the pipes (no
ratio). ``--tables votes+posts`` copies both tables in one run (two tables in flight, no
reference pipe). With ``--validate``, every dmt run is followed by ``dmt validate`` of its
table in ``count`` and ``checksum`` mode, and a second line gives their time as a ratio to the
copy's (``validate_bench.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datagen
import fixed_cost
import psutil
import validate_bench
from datagen import (
    DST_DB,
    ENGINES,
    MY_HOST,
    MY_PORT,
    MY_USER,
    OUT_DIR,
    PG_HOST,
    PG_PORT,
    PG_USER,
    TABLES,
    column_names,
    count_rows,
    create_sql,
    duck_cmd,
    mariadb,
    psql,
    sh,
    sqlite3_cmd,
)

REPO = datagen.BENCH_DIR.parent
SQLITE_DST = OUT_DIR / "dst.db"  # dmt's SQLite target
SQLITE_REF = OUT_DIR / "ref.db"  # the reference pipe's SQLite target
DUCK_DST = OUT_DIR / "dst.duckdb"  # dmt's DuckDB target
DUCK_REF = OUT_DIR / "ref.duckdb"  # the reference pipe's DuckDB target
LOG_DIR = OUT_DIR / "logs"
STATE_DIR = OUT_DIR / "state"
ALL_DIRECTIONS = [f"{s}-{t}" for s in ENGINES for t in ENGINES]
#: dmt rows/s over reference rows/s that a direction must reach
#: the ratio to the pipe every direction must reach (issue 18); pg-my is held above 0.9
TARGETS = {**dict.fromkeys(ALL_DIRECTIONS, 0.8), "pg-my": 0.9}
#: dmt's peak RSS in every direction, on both tables, at any chunk_size (issue 18)
RSS_TARGET_MB = 300


# ----------------------------------------------------------------------------- configs
def endpoint(engine: str, side: str) -> dict[str, Any]:
    """The dmt config section for one side of a direction."""
    db = datagen.SRC_DB if side == "source" else DST_DB
    if engine in ("pg", "my"):
        return datagen.server_endpoint(engine, db)
    if engine == "duck":
        return {"type": "duckdb", "path": str(datagen.DUCK_SRC if side == "source" else DUCK_DST)}
    return {"type": "sqlite", "path": str(datagen.SQLITE_SRC if side == "source" else SQLITE_DST)}


def write_config(src: str, dst: str, table: str, path: Path, chunk_size: int | None = None) -> None:
    """A dmt config (JSON is valid YAML): default migration settings except the three below
    (and ``chunk_size`` when given)."""
    cfg: dict[str, Any] = {
        "source": endpoint(src, "source"),
        "target": endpoint(dst, "target"),
        "migration": {
            "include_tables": table.split("+"),
            "validate": "none",
            "state_dir": str(STATE_DIR),
        },
    }
    if chunk_size is not None:
        cfg["migration"]["chunk_size"] = chunk_size
    path.write_text(json.dumps(cfg, indent=2) + "\n")


# ----------------------------------------------------------------------------- reference pipes
def _load_data(table: str, options: str = "", null_marker: str | None = None) -> str:
    """``LOAD DATA LOCAL INFILE '/dev/stdin'``; nullable columns read through ``NULLIF``."""
    sql = f"LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE ref_{table} CHARACTER SET utf8mb4" + (
        f" {options}" if options else ""
    )
    if null_marker is not None:
        nullable = {c[0] for c in datagen.COLUMNS[table] if c[4]}
        cols = column_names(table)
        fields = [f"@{c}" if c in nullable else c for c in cols]
        sets = [
            f"{c} = NULLIF(@{c}, '{null_marker}')" for c in column_names(table) if c in nullable
        ]
        sql += f" ({', '.join(fields)})"
        if sets:
            sql += " SET " + ", ".join(sets)
    return sql


def reference_pipe(src: str, dst: str, table: str) -> str:
    """The command-line pipe copying ``table`` from the source into ``ref_<table>`` (none for
    tables copied together)."""
    if "+" in table:
        return ""
    ref = f"ref_{table}"
    # DuckDB <-> PostgreSQL: CSV, the one format both COPYs read and write (see bench/README.md)
    null = "'\\N'"
    # source side
    if src == "pg":
        fmt = {"pg": " (FORMAT binary)", "my": "", "sqlite": " (FORMAT csv)",
               "duck": f" (FORMAT csv, NULL {null})"}[dst]  # fmt: skip
        out = psql(datagen.SRC_DB, f"COPY {table} TO STDOUT{fmt}")
    elif src == "duck":
        export = f"COPY {table} TO '/dev/stdout' (FORMAT csv, HEADER false, NULLSTR {null})"
        out = duck_cmd(datagen.DUCK_SRC, export, read_only=True)
    elif src == "my":
        out = mariadb(datagen.SRC_DB, f"SELECT * FROM {table}", "--quick")
    else:
        out = sqlite3_cmd(datagen.SQLITE_SRC, f"SELECT * FROM {table}", csv=True)
    # target side
    if dst == "pg":
        opts = {"pg": " (FORMAT binary)", "my": " (NULL 'NULL')", "sqlite": " (FORMAT csv)",
                "duck": f" (FORMAT csv, NULL {null})"}[src]  # fmt: skip
        into = psql(DST_DB, f"COPY {ref} FROM STDIN{opts}")
    elif dst == "duck":
        into = duck_cmd(DUCK_REF, f"COPY {ref} FROM '/dev/stdin' (FORMAT csv, NULLSTR {null})")
    elif dst == "my":
        if src == "pg":
            load = _load_data(table)
        elif src == "my":
            load = _load_data(table, null_marker="NULL")
        else:
            csv = (
                "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' "
                "LINES TERMINATED BY '\\n'"
            )
            load = _load_data(table, csv, null_marker="")
        into = mariadb(DST_DB, load, "--local-infile=1")
    else:
        mode = ".import /dev/stdin" if src == "my" else ".import --csv /dev/stdin"
        cmds = ["PRAGMA synchronous=OFF", *([".mode tabs"] if src == "my" else []), f"{mode} {ref}"]
        into = sqlite3_cmd(SQLITE_REF, *cmds)
    return f"{sh(out)} | {sh(into)}"


def prepare_reference(dst: str, table: str) -> None:
    """An empty ``ref_<table>`` on the target with the source's columns and primary key."""
    ref = f"ref_{table}"
    if dst == "pg":
        datagen.run(psql(DST_DB, f"DROP TABLE IF EXISTS {ref}", create_sql("pg", table, ref)))
    elif dst == "my":
        datagen.run(mariadb(DST_DB, f"DROP TABLE IF EXISTS {ref}; {create_sql('my', table, ref)}"))
    elif dst == "duck":
        _unlink_duck(DUCK_REF)
        datagen.run(duck_cmd(DUCK_REF, create_sql("duck", table, ref)))
    else:
        SQLITE_REF.unlink(missing_ok=True)
        datagen.run(sqlite3_cmd(SQLITE_REF, create_sql("sqlite", table, ref)))


def _unlink_duck(path: Path) -> None:
    for f in (path, Path(f"{path}.wal")):
        f.unlink(missing_ok=True)


def dst_file(engine: str) -> Path:
    """dmt's target file of a file engine."""
    return DUCK_DST if engine == "duck" else SQLITE_DST


def drop_table(engine: str, name: str) -> None:
    try:
        if engine == "pg":
            datagen.run(psql(DST_DB, f"DROP TABLE IF EXISTS {name} CASCADE"))
        elif engine == "my":
            datagen.run(mariadb(DST_DB, f"DROP TABLE IF EXISTS {name}"))
    except RuntimeError as exc:
        print(f"warning: could not drop {name}: {exc}", file=sys.stderr)


def settle(src: str, dst: str) -> None:
    """Flush PostgreSQL's dirty buffers before a measurement, so no run pays for the last."""
    if "pg" in (src, dst):
        datagen.run(psql("postgres", "CHECKPOINT"))


# ----------------------------------------------------------------------------- running
@dataclass
class Proc:
    rc: int | None
    seconds: float
    stdout: str
    stderr: str
    timed_out: bool = False
    host_cpu: float | None = None  # busy CPU seconds of the whole machine (all processes)


def _busy_cpu() -> float:
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def run_timed(argv: list[str], timeout: float, stdin_devnull: bool = True) -> Proc:
    """Run ``argv`` in its own process group; kill the whole group after ``timeout`` s."""
    t0, cpu0 = time.monotonic(), _busy_cpu()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL if stdin_devnull else None,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        return Proc(proc.returncode, time.monotonic() - t0, out, err, False, _busy_cpu() - cpu0)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return Proc(None, time.monotonic() - t0, out, err, timed_out=True)


@dataclass
class Sample:
    ok: bool
    seconds: float | None = None
    rows: int | None = None
    copy_seconds: float | None = None
    rss_mb: float | None = None
    cpu_seconds: float | None = None  # user + system CPU of the dmt process
    host_cpu_seconds: float | None = None  # busy CPU of the machine: client(s) + server(s)
    error: str | None = None


def run_dmt(
    src: str, dst: str, table: str, expected: int, timeout: float, tag: str,
    chunk_size: int | None = None,
) -> Sample:  # fmt: skip
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    size = f"-c{chunk_size}" if chunk_size is not None else ""
    cfg = OUT_DIR / "configs" / f"{src}-{dst}-{table}{datagen.TAG}{size}.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    write_config(src, dst, table, cfg, chunk_size)
    if dst == "sqlite":
        SQLITE_DST.unlink(missing_ok=True)
    elif dst == "duck":
        _unlink_duck(DUCK_DST)
    with tempfile.NamedTemporaryFile("r", suffix=".time", delete=False) as tf:
        time_file = Path(tf.name)
    argv = ["/usr/bin/time", "-f", "%M %U %S", "-o", str(time_file)]
    argv += [sys.executable, "-m", "dmt", "run", "-c", str(cfg), "--output-json"]
    p = run_timed(argv, timeout)
    (LOG_DIR / f"{tag}.stderr.log").write_text(p.stderr)
    rss_mb = cpu_s = None
    try:
        # "%M %U %S": peak RSS in KiB, user and system CPU seconds (the last line; earlier
        # lines are time's own notes such as "Command exited with non-zero status")
        fields = time_file.read_text().split("\n")[-2].split()
        rss_mb, cpu_s = int(fields[0]) / 1024, float(fields[1]) + float(fields[2])
    except (IndexError, ValueError):
        pass
    finally:
        time_file.unlink(missing_ok=True)
    if p.timed_out:
        return Sample(False, p.seconds, rss_mb=rss_mb, error=f"killed after {timeout:.0f}s")
    if p.rc != 0:
        return Sample(False, p.seconds, rss_mb=rss_mb, error=f"exit {p.rc}: {_last_error(p)}")
    try:
        result = json.loads(p.stdout)
    except ValueError:
        return Sample(False, p.seconds, rss_mb=rss_mb, error="stdout is not one JSON object")
    db: str | Path = dst_file(dst) if dst in datagen.FILE_ENGINES else DST_DB
    counts = [count_rows(dst, db, t) for t in table.split("+")]
    rows = None if None in counts else sum(c or 0 for c in counts)
    sample = Sample(True, p.seconds, rows, result.get("copy_seconds"), rss_mb, cpu_s, p.host_cpu)
    if rows != expected:
        sample.ok, sample.error = False, f"target has {rows} rows, expected {expected}"
    return sample


def run_reference(src: str, dst: str, table: str, expected: int, timeout: float) -> Sample:
    prepare_reference(dst, table)
    p = run_timed(["bash", "-o", "pipefail", "-c", reference_pipe(src, dst, table)], timeout)
    if p.timed_out:
        return Sample(False, p.seconds, error=f"killed after {timeout:.0f}s")
    if p.rc != 0:
        return Sample(False, p.seconds, error=f"exit {p.rc}: {_last_error(p)}")
    db: str | Path = {"sqlite": SQLITE_REF, "duck": DUCK_REF}.get(dst, DST_DB)
    rows = count_rows(dst, db, f"ref_{table}")
    sample = Sample(True, p.seconds, rows, host_cpu_seconds=p.host_cpu)
    if rows != expected:
        sample.ok, sample.error = False, f"reference target has {rows} rows, expected {expected}"
    drop_table(dst, f"ref_{table}")
    return sample


def _last_error(p: Proc) -> str:
    lines = [ln.strip() for ln in (p.stderr or p.stdout).splitlines() if ln.strip()]
    return lines[-1][:300] if lines else "(no output)"


# ----------------------------------------------------------------------------- results
@dataclass
class Result:
    direction: str
    table: str
    rows: int
    reference: str
    target: float | None
    chunk_size: int | None = None  # migration.chunk_size, None: the default
    dmt: list[Sample] = field(default_factory=list)
    ref: list[Sample] = field(default_factory=list)
    error: str | None = None
    validation: validate_bench.Validation | None = None  # with --validate

    @staticmethod
    def _median(values: list[float | None]) -> float | None:
        got = [v for v in values if v is not None]
        return statistics.median(got) if got else None

    def dmt_seconds(self) -> float | None:
        return self._median([s.seconds for s in self.dmt if s.ok])

    def ref_seconds(self) -> float | None:
        return self._median([s.seconds for s in self.ref if s.ok])

    def dmt_rate(self) -> float | None:
        s = self.dmt_seconds()
        return self.rows / s if s else None

    def dmt_copy_rate(self) -> float | None:
        s = self._median([x.copy_seconds for x in self.dmt if x.ok])
        return self.rows / s if s else None

    def ref_rate(self) -> float | None:
        s = self.ref_seconds()
        return self.rows / s if s else None

    def ratio(self) -> float | None:
        d, r = self.dmt_rate(), self.ref_rate()
        return d / r if d and r else None

    def cpu_percent(self) -> float | None:
        """dmt's CPU time over its wall time: 100 = one core busy (GIL-bound Python)."""
        got = [
            100 * s.cpu_seconds / s.seconds
            for s in self.dmt
            if s.ok and s.cpu_seconds and s.seconds
        ]
        return statistics.median(got) if got else None

    def rss_mb(self) -> float | None:
        return self._median([s.rss_mb for s in self.dmt if s.ok])

    def failed(self) -> str | None:
        if self.error:
            return self.error
        bad = [s.error for s in self.dmt if not s.ok]
        return bad[0] if bad else None

    def verdict(self) -> str:
        if self.failed():
            return "FAIL"
        rss = self.rss_mb()
        if rss is not None and rss >= RSS_TARGET_MB:
            return "MISS (RSS)"
        ratio = self.ratio()
        if self.target is None or ratio is None:
            return "-"
        return "PASS" if ratio >= self.target else "MISS"

    def to_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "table": self.table,
            "chunk_size": self.chunk_size,
            "rows": self.rows,
            "reference_pipe": self.reference,
            "target_ratio": self.target,
            "verdict": self.verdict(),
            "error": self.failed(),
            "dmt_seconds": self.dmt_seconds(),
            "dmt_rows_per_s": self.dmt_rate(),
            "dmt_copy_phase_rows_per_s": self.dmt_copy_rate(),
            "dmt_peak_rss_mb": self.rss_mb(),
            "dmt_cpu_percent": self.cpu_percent(),
            "dmt_host_cpu_seconds": self._median([s.host_cpu_seconds for s in self.dmt if s.ok]),
            "reference_host_cpu_seconds": self._median(
                [s.host_cpu_seconds for s in self.ref if s.ok]
            ),
            "dmt_peak_rss_mb_max": max((s.rss_mb or 0 for s in self.dmt), default=None),
            "reference_seconds": self.ref_seconds(),
            "reference_rows_per_s": self.ref_rate(),
            "ratio": self.ratio(),
            "reference_errors": [s.error for s in self.ref if not s.ok],
            "dmt_samples": [asdict(s) for s in self.dmt],
            "reference_samples": [asdict(s) for s in self.ref],
            "validation": self.validation.to_json() if self.validation else None,
        }


def _fmt(v: float | None, spec: str) -> str:
    return "n/a" if v is None else format(v, spec)


HEADER = (
    f"{'direction':<13} {'table':<6} {'chunk':>7} {'rows':>9} {'dmt s':>7} {'dmt rows/s':>11} "
    f"{'ref rows/s':>11} {'ratio':>6} {'RSS MB':>7} {'CPU%':>5} {'target':>6}  verdict"
)


def row_line(r: Result) -> str:
    target = f">={r.target:.1f}" if r.target is not None else "none"
    chunk = str(r.chunk_size) if r.chunk_size is not None else "default"
    line = (
        f"{r.direction:<13} {r.table:<6} {chunk:>7} {r.rows:>9,} {_fmt(r.dmt_seconds(), '.1f'):>7} "
        f"{_fmt(r.dmt_rate(), ',.0f'):>11} {_fmt(r.ref_rate(), ',.0f'):>11} "
        f"{_fmt(r.ratio(), '.2f'):>6} {_fmt(r.rss_mb(), '.0f'):>7} "
        f"{_fmt(r.cpu_percent(), '.0f'):>5} {target:>6}  {r.verdict()}"
    )
    if r.failed():
        line += f"  ({r.failed()})"
    elif any(not s.ok for s in r.ref):
        line += f"  (reference: {next(s.error for s in r.ref if not s.ok)})"
    return line


def short_pipe(pipe: str) -> str:
    """The reference pipe without the connection options, for the printed summary."""
    for conn in (
        f"-X -q -At -v ON_ERROR_STOP=1 -h {PG_HOST} -p {PG_PORT} -U {PG_USER} ",
        f"-h{MY_HOST} -P{MY_PORT} -u{MY_USER} ",
        str(OUT_DIR) + "/",
    ):
        pipe = pipe.replace(conn, "")
    return pipe


# ----------------------------------------------------------------------------- main
def content_check(direction: str, table: str, size: str, timeout: float) -> str | None:
    """The last copy's content, checked once per cell (``dmt validate --mode checksum``: every
    value, not only the count); None when it is equal, else why it is not."""
    cfg = OUT_DIR / "configs" / f"{direction}-{table}{datagen.TAG}{size}.yaml"
    v = validate_bench.run_validate(cfg, "checksum", timeout, run_timed)
    print(f"  {direction}-{table}{size} content check: {'ok' if v.ok else v.error}",
          file=sys.stderr, flush=True)  # fmt: skip
    return None if v.ok else f"content differs: {v.error}"


def bench_one(
    src: str, dst: str, table: str, rows: int, repeat: int, timeout: float,
    chunk_size: int | None = None, reference: bool = True, validate: bool = False,
) -> Result:  # fmt: skip
    direction = f"{src}-{dst}"
    res = Result(direction, table, rows, reference_pipe(src, dst, table), TARGETS.get(direction))
    res.chunk_size = chunk_size
    size = f"-c{chunk_size}" if chunk_size is not None else ""
    val = validate_bench.Validation(None, None)
    for i in range(repeat):
        tag = f"{direction}-{table}{size}-{i + 1}"
        order: tuple[str, ...] = ("ref", "dmt") if i % 2 == 0 else ("dmt", "ref")
        if not reference or "+" in table:
            order = ("dmt",)
        for what in order:
            settle(src, dst)
            if what == "ref":
                s = run_reference(src, dst, table, rows, timeout)
                res.ref.append(s)
            else:
                s = run_dmt(src, dst, table, rows, timeout, tag, chunk_size)
                res.dmt.append(s)
            state = "ok" if s.ok else f"FAILED ({s.error})"
            print(f"  {tag} {what}: {_fmt(s.seconds, '.2f')}s {state}", file=sys.stderr, flush=True)
            if what == "dmt" and s.ok and validate:  # the table dmt just copied, as it stands
                cfg = OUT_DIR / "configs" / f"{direction}-{table}{datagen.TAG}{size}.yaml"
                for mode in validate_bench.MODES:
                    settle(src, dst)
                    v = validate_bench.run_validate(cfg, mode, timeout, run_timed)
                    val.samples[mode].append(v)
                    state = "ok" if v.ok else f"FAILED ({v.error})"
                    print(f"  {tag} validate {mode}: {_fmt(v.seconds, '.2f')}s {state}",
                          file=sys.stderr, flush=True)  # fmt: skip
    if validate:
        val.copy_wall = res.dmt_seconds()
        val.copy_phase = res._median([s.copy_seconds for s in res.dmt if s.ok])
        res.validation = val
    elif res.dmt and res.dmt[-1].ok and "+" not in table:
        res.error = content_check(direction, table, size, timeout)
    if dst not in datagen.FILE_ENGINES:
        for t in table.split("+"):
            drop_table(dst, t)
    return res


def environment() -> dict[str, Any]:
    def out(argv: list[str]) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, cwd=REPO).stdout.strip()
        except OSError:
            return ""

    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "dmt": out([sys.executable, "-m", "dmt", "--version"]),
        "git": out(["git", "rev-parse", "--short", "HEAD"]),
        "git_dirty": bool(out(["git", "status", "--porcelain", "--", "dmt"])),
        "psql": out(["psql", "--version"]),
        "mariadb": out(["mariadb", "--version"]),
        "sqlite3": out(["sqlite3", "--version"]).split(" ")[0],
        "duckdb": out([sys.executable, "-c", "import duckdb; print(duckdb.__version__)"]),
    }


def parse_list(value: str, allowed: list[str] | tuple[str, ...], what: str) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    bad = [v for v in items if v not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown {what}: {', '.join(bad)}")
    return items


def parse_chunk_sizes(value: str) -> list[int | None]:
    """``119000,500000`` -> those sizes; ``default`` (or nothing) is the config default."""
    sizes: list[int | None] = []
    for item in (v.strip() for v in value.split(",")):
        if item in ("", "default"):
            sizes.append(None)
        elif item.isdigit():
            sizes.append(int(item))
        else:
            raise argparse.ArgumentTypeError(f"chunk size `{item}` is not a whole number")
    return list(dict.fromkeys(sizes))


def main(argv: list[str] | None = None) -> int:
    doc = __doc__ or ""
    ap = argparse.ArgumentParser(
        description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scale", type=float, default=1.0, help="data scale; 1.0 = 2M votes")
    ap.add_argument("--directions", default=",".join(ALL_DIRECTIONS), help="e.g. pg-pg,my-pg")
    ap.add_argument(
        "--tables", default=",".join(TABLES), help="votes,posts; votes+posts: both in one run"
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs per measurement (median)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds before a run is killed")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--fixed-cost", action="store_true", help="also measure the fixed cost")
    ap.add_argument("--fixed-repeat", type=int, default=5, help="runs per fixed-cost median")
    ap.add_argument(
        "--chunk-sizes", default="", help="run each direction at these migration.chunk_size "
        "values (e.g. 119000,500000; `default` for the default) to check peak RSS",
    )  # fmt: skip
    ap.add_argument("--no-reference", action="store_true", help="skip the reference pipes")
    ap.add_argument(
        "--validate", action="store_true",
        help="after each dmt copy, time `dmt validate` count and checksum of the table",
    )  # fmt: skip
    args = ap.parse_args(argv)
    try:
        directions = parse_list(args.directions, ALL_DIRECTIONS, "direction")
        together = [a + "+" + b for a in TABLES for b in TABLES if a != b]
        tables = parse_list(args.tables, [*TABLES, *together], "table")
        chunk_sizes = parse_chunk_sizes(args.chunk_sizes)
    except argparse.ArgumentTypeError as exc:
        ap.error(str(exc))
    if args.repeat < 1 or args.fixed_repeat < 1:
        ap.error("--repeat and --fixed-repeat must be at least 1")

    engines = tuple(e for e in ENGINES if any(e in d.split("-") for d in directions))
    data = datagen.ensure_data(args.scale, args.seed, engines) if tables else {}
    for engine in ("pg", "my"):
        if any(d.endswith(f"-{engine}") for d in directions) and data.get(engine, "ok") == "ok":
            try:
                datagen.ensure_database(engine, DST_DB)
            except RuntimeError as exc:
                data[engine] = f"failed: {exc}"
    sizes = datagen.sizes_for(args.scale)
    bytecode = datagen.compile_bytecode()
    print(f"bytecode: {bytecode}", file=sys.stderr, flush=True)

    results: list[Result] = []
    if tables:
        print(HEADER, flush=True)
    for direction in directions:
        src, dst = direction.split("-")
        for table in tables:
            rows = sum(sizes.rows(t) for t in table.split("+"))
            broken = [f"{e}: {data[e]}" for e in (src, dst) if data.get(e, "ok") != "ok"]
            if broken:
                res = Result(direction, table, rows, reference_pipe(src, dst, table), None)
                res.target = TARGETS.get(direction)
                res.error = "; ".join(broken)
                results.append(res)
                print(row_line(res), flush=True)
                continue
            for size in chunk_sizes:
                res = bench_one(
                    src, dst, table, rows, args.repeat, args.timeout, size,
                    not args.no_reference, args.validate,
                )  # fmt: skip
                results.append(res)
                print(row_line(res), flush=True)
                if res.validation is not None:
                    print(res.validation.line(), flush=True)
    fixed = fixed_cost.measure(directions, args.fixed_repeat) if args.fixed_cost else None

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    report = {
        "scale": args.scale,
        "seed": args.seed,
        "repeat": args.repeat,
        "environment": {**environment(), "bytecode": bytecode},
        "measures": (
            "wall-clock seconds from process start to exit; dmt with default settings "
            "(validate: none); rows/s = rows / median seconds; ratio = dmt / reference"
        ),
        "results": [r.to_json() for r in results],
        "fixed_cost": fixed,
    }
    path = OUT_DIR / f"pipeline-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    (OUT_DIR / "pipeline-latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nresults: {path.relative_to(REPO)}")
    print("reference pipes:" if results else "")
    seen = set()
    for r in results:
        key = (r.direction, r.table)
        if key not in seen and r.table == tables[0] and r.reference:
            seen.add(key)
            print(f"  {r.direction:<13} {short_pipe(r.reference)}")
    failed = any(d["error"] for d in (fixed or {}).get("directions", []))
    invalid = any(r.validation is not None and r.validation.error() for r in results)
    return 1 if failed or invalid or any(r.verdict() == "FAIL" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
