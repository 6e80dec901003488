"""Does the runtime adjustment help? A static grid, then dmt with ``ai_adjust: true`` from three
starts, with the rule-based controller and with a deterministic fake AI in the loop.

::

    python bench/tuning_bench.py                 # everything, full size (long: see README)
    python bench/tuning_bench.py --quick         # small data, reduced grid, ~10 minutes
    python bench/tuning_bench.py --workloads narrow,wide --writers 1,2,4,8 --chunks 1000,10000,50000

For every workload:

1. **grid**: ``write_ahead_writers`` × ``chunk_size`` with ``ai_adjust: false``; the fastest
   cell is the *best static* configuration; it is run ``--noise-repeat`` more times to measure
   the run-to-run noise (coefficient of variation of the copy time);
2. **adaptive**: ``ai_adjust: true`` with a short interval from the *bad* (1 writer, 1K rows),
   *default* (dmt's: the CPU count in writers, 2-4, and 50K rows) and *best* static start,
   once per arm: ``fallback`` (rules only, ``ai.provider: none``) and ``fake-ai`` (the real AI
   path against the fake Messages API of ``tests/support/fake_anthropic.py``, answering with
   the controller's first candidate);
3. per run: copy time, regret (time ÷ best static time − 1), changes, reversals, time until
   throughput first stays within 10 % of the best static rate, peak RSS; the time series of
   every adaptive run is drawn to ``bench/out/tuning/<workload>-<start>-<arm>.svg``.

Disturbances (``throttled``: a concurrent write load on the target PostgreSQL in the middle of
the run; ``memory``: a process holding ``--pressure-mb`` in the middle) compare against the best
static configuration run under the same disturbance.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datagen
from datagen import create_sql, mariadb, psql

REPO = datagen.BENCH_DIR.parent
sys.path.insert(0, str(REPO))

from dmt.settings import default_writers  # noqa: E402  (the repository, not an installed dmt)

OUT = datagen.OUT_DIR / "tuning"
SRC_DB, DST_DB = "dmt_tune_src", "dmt_tune_dst"
BAD, DEFAULT = (1, 1_000), (default_writers(), 50_000)  # dmt's defaults
WORKLOADS = ("narrow", "wide", "indexed", "throttled", "memory")


# ----------------------------------------------------------------------------- workloads
@dataclass(frozen=True)
class Workload:
    name: str
    src: str  # pg | my
    table: str
    rows: int
    disturbance: str | None = None  # throttled | memory
    indexed: bool = False  # target pre-created with secondary indexes and a foreign key
    grid: bool = True  # run the static grid (disturbed workloads reuse their base's best)
    base: str | None = None  # the workload whose best static configuration this one reuses
    src_db: str = SRC_DB  # a workload of another size keeps its own copy of the table

    @property
    def describe(self) -> str:
        what = {
            "narrow": "PostgreSQL → PostgreSQL `votes` (6 narrow columns)",
            "wide": "MariaDB → PostgreSQL `posts` (16 columns, ~1.3 KB rows)",
            "indexed": "PostgreSQL → PostgreSQL `votes` into a target with 2 secondary indexes "
            "and a foreign key",
            "throttled": "narrow, with a concurrent write load on the target mid-run",
            "memory": "narrow, with a process holding memory mid-run",
        }
        return what[self.name]


def workloads(args: argparse.Namespace) -> dict[str, Workload]:
    return {
        "narrow": Workload("narrow", "pg", "votes", args.narrow_rows),
        "wide": Workload("wide", "my", "posts", args.wide_rows),
        "indexed": Workload(
            "indexed", "pg", "votes", args.indexed_rows, indexed=True, src_db=SRC_DB + "_indexed"
        ),
        "throttled": Workload(
            "throttled", "pg", "votes", args.narrow_rows, "throttled", grid=False, base="narrow"
        ),
        "memory": Workload(
            "memory", "pg", "votes", args.narrow_rows, "memory", grid=False, base="narrow"
        ),
    }


def _log(msg: str) -> None:
    print(f"[tuning {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def prepare_data(wl: Workload, seed: int) -> None:
    """``dmt_tune_src`` holds ``votes`` (PostgreSQL) and ``posts`` (MariaDB) of the sizes asked;
    regenerated only when the row count differs."""
    if wl.src == "pg":
        datagen.ensure_database("pg", wl.src_db)
        if datagen.count_rows("pg", wl.src_db, wl.table) == wl.rows:
            return
        _log(f"generating PostgreSQL {wl.table}: {wl.rows:,} rows")
        n_posts = max(1, wl.rows // 10)
        datagen.run(
            psql(
                wl.src_db,
                f"DROP TABLE IF EXISTS {wl.table}",
                create_sql("pg", wl.table),
                "SET synchronous_commit = off",
                datagen.votes_sql(wl.rows, n_posts, seed),
            )
        )
        datagen.run(psql(wl.src_db, f"VACUUM (FREEZE, ANALYZE) {wl.table}"))
        return
    # MariaDB posts: copies of the scale-1 benchmark posts with shifted ids (fast, same server)
    if datagen.count_rows("my", SRC_DB, "posts") == wl.rows:
        return
    status = datagen.ensure_data(1.0, seed, ("pg", "my"))
    if status.get("my") != "ok":
        raise RuntimeError(f"MariaDB benchmark data unavailable: {status.get('my')}")
    base = datagen.FULL_ROWS["posts"]
    _log(f"building MariaDB posts: {wl.rows:,} rows from {datagen.SRC_DB}.posts")
    datagen.ensure_database("my", SRC_DB)
    datagen.run(mariadb(SRC_DB, f"DROP TABLE IF EXISTS posts; {create_sql('my', 'posts')}"))
    cols = datagen.column_names("posts")
    rest = ", ".join(cols[1:])
    done, k = 0, 0
    while done < wl.rows:
        n = min(base, wl.rows - done)
        datagen.run(
            mariadb(
                SRC_DB,
                f"INSERT INTO posts (id, {rest}) SELECT id + {k * base}, {rest} "
                f"FROM {datagen.SRC_DB}.posts WHERE id <= {n}",
            )
        )
        done, k = done + n, k + 1
    datagen.run(mariadb(SRC_DB, "ANALYZE TABLE posts"))


def prepare_target(wl: Workload) -> None:
    """Before every run: an empty target (and for ``indexed`` the pre-created table)."""
    datagen.ensure_database("pg", DST_DB)
    if not wl.indexed:
        datagen.run(psql(DST_DB, f"DROP TABLE IF EXISTS {wl.table} CASCADE"))
    else:
        n_posts = max(1, wl.rows // 10)
        datagen.run(
            psql(
                DST_DB,
                "DROP TABLE IF EXISTS votes CASCADE",
                "DROP TABLE IF EXISTS post_ids CASCADE",
                "CREATE TABLE post_ids (id integer PRIMARY KEY)",
                f"INSERT INTO post_ids SELECT generate_series(1, {n_posts})",
                create_sql("pg", "votes"),
                "ALTER TABLE votes ADD FOREIGN KEY (post_id) REFERENCES post_ids (id)",
                "CREATE INDEX votes_post_id ON votes (post_id)",
                "CREATE INDEX votes_user_date ON votes (user_id, creation_date)",
            )
        )
    datagen.run(psql("postgres", "CHECKPOINT"))


# ----------------------------------------------------------------------------- configs
endpoint = datagen.server_endpoint


def config(
    wl: Workload,
    writers: int,
    chunk: int,
    args: argparse.Namespace,
    *,
    adaptive: bool,
    ai_url: str | None = None,
) -> dict[str, Any]:
    migration: dict[str, Any] = {
        "include_tables": [wl.table],
        "validate": "none",
        "state_dir": str(OUT / "state"),
        "write_ahead_writers": writers,
        "chunk_size": chunk,
        "parallel_readers": args.readers,  # not a knob the controller turns: fixed per run
        "ai_adjust": adaptive,
        "ai_adjust_interval": args.interval,
        "chunk_size_at": args.chunk_size_at,
        "target_mode": "truncate" if wl.indexed else "drop_recreate",
        "create_foreign_keys": not wl.indexed,
    }
    if args.max_memory_mb:
        migration["max_memory_mb"] = args.max_memory_mb
    cfg: dict[str, Any] = {
        "source": endpoint(wl.src, wl.src_db),
        "target": endpoint("pg", DST_DB),
        "migration": migration,
        "ai": {"provider": "none"},
    }
    if ai_url is not None:
        cfg["ai"] = {
            "provider": "claude",
            "api_key": "sk-ant-fake-benchmark",
            "base_url": ai_url,
            "timeout": 5,
            "cache_ttl": 0,  # a fresh choice every interval: the AI path at its busiest
            "min_call_interval": 0,
        }
    elif args.real_ai:
        cfg["ai"] = {
            "provider": "claude",
            "api_key": "${env:DMT_AI_API_KEY}",
            "cache_ttl": 0,
            "min_call_interval": args.interval,
        }
    return cfg


# ----------------------------------------------------------------------------- disturbances
@contextmanager
def disturbance(kind: str | None, args: argparse.Namespace) -> Iterator[None]:
    """Start ``kind`` ``--disturb-at`` seconds from now for ``--disturb-for`` seconds."""
    if kind is None:
        yield
        return
    stop = threading.Event()
    procs: list[subprocess.Popen[bytes]] = []

    def load() -> None:
        if stop.wait(args.disturb_at):
            return
        if kind == "throttled":
            # writers on the target database: WAL, buffer and CPU contention, as a busy
            # production target would give
            sql = (
                "CREATE TABLE IF NOT EXISTS bench_noise_{i} (a bigint, b text); "
                "INSERT INTO bench_noise_{i} SELECT g, md5(g::text) "
                "FROM generate_series(1, 3000000) g; TRUNCATE bench_noise_{i};"
            )
            for i in range(args.load_clients):
                loop = f"while true; do {datagen.sh(psql(DST_DB, sql.format(i=i)))}; done"
                procs.append(subprocess.Popen(["bash", "-c", loop], start_new_session=True))
        else:
            code = (
                f"import time; b = bytearray({args.pressure_mb} * 1048576); "
                "[b.__setitem__(i, 1) for i in range(0, len(b), 4096)]; "
                f"time.sleep({args.disturb_for})"
            )
            procs.append(subprocess.Popen([sys.executable, "-c", code], start_new_session=True))
        stop.wait(args.disturb_for)
        for p in procs:
            _kill(p)

    t = threading.Thread(target=load, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(5)
        for p in procs:
            _kill(p)
        if kind == "throttled":
            for i in range(args.load_clients):
                datagen.run(psql(DST_DB, f"DROP TABLE IF EXISTS bench_noise_{i}"))


def _kill(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        with suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


# ----------------------------------------------------------------------------- running dmt
@dataclass
class Run:
    workload: str
    kind: str  # static | adaptive
    start: str  # grid cell "8x50000", or bad | default | best
    arm: str  # static | reference | fallback | fake-ai | real-ai
    writers: int
    chunk: int
    ok: bool = False
    error: str | None = None
    wall_seconds: float | None = None
    copy_seconds: float | None = None
    rows: int | None = None
    rss_mb: float | None = None
    changes: int = 0
    reversals: int = 0
    reverted: int = 0
    late_changes: int = 0  # changes in the second half of the copy
    to_best_seconds: float | None = None
    final: tuple[int, int] | None = None
    ai_calls: int = 0
    regret: float | None = None
    ref_seconds: float | None = None  # the best cell's runs around this one (pair_references)
    samples: list[dict[str, Any]] = field(default_factory=list, repr=False)
    records: list[dict[str, Any]] = field(default_factory=list, repr=False)

    @property
    def rate(self) -> float | None:
        return self.rows / self.copy_seconds if self.rows and self.copy_seconds else None


def run_dmt(
    run: Run, cfg: dict[str, Any], wl: Workload, args: argparse.Namespace,
    timeout: float | None = None,
) -> Run:  # fmt: skip
    timeout = timeout or args.timeout
    tag = f"{run.workload}-{run.start}-{run.arm}"
    path = OUT / "configs" / f"{tag}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=2) + "\n")
    prepare_target(wl)
    with tempfile.NamedTemporaryFile("r", suffix=".time", delete=False) as tf:
        time_file = Path(tf.name)
    argv = ["/usr/bin/time", "-f", "%M", "-o", str(time_file)]
    argv += [sys.executable, "-m", "dmt", "run", "-c", str(path), "--output-json"]
    t0 = time.monotonic()
    with disturbance(wl.disturbance, args):
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
            start_new_session=True,
        )  # fmt: skip
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            run.error = f"killed after {timeout:.0f}s"
    run.wall_seconds = time.monotonic() - t0
    (OUT / "logs").mkdir(parents=True, exist_ok=True)
    (OUT / "logs" / f"{tag}.stderr.log").write_text(err)
    with suppress(IndexError, ValueError):
        run.rss_mb = int(time_file.read_text().split("\n")[-2].split()[0]) / 1024
    time_file.unlink(missing_ok=True)
    if run.error:
        return run
    if proc.returncode != 0:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        run.error = f"exit {proc.returncode}: {lines[-1][:200] if lines else ''}"
        return run
    result = json.loads(out)
    run.copy_seconds = float(result.get("copy_seconds") or result["duration_seconds"])
    run.rows = int(result.get("rows_transferred") or 0)
    if run.rows != wl.rows:
        run.error = f"{run.rows} rows copied, expected {wl.rows}"
        return run
    monitor = result.get("monitor") or {}
    run.samples = list(monitor.get("samples") or [])
    run.records = list(monitor.get("records") or [])
    run.ai_calls = int(((monitor.get("ai") or {}).get("calls")) or 0)
    run.ok = True
    return run


def reversals(records: list[dict[str, Any]]) -> int:
    """Changes that move a knob opposite to its previous change (a revert counts)."""
    last: dict[str, int] = {}
    n = 0
    for r in records:
        for knob, a, b in (
            ("writers", r["writers_before"], r["writers_after"]),
            ("chunk", r["chunk_size_before"], r["chunk_size_after"]),
        ):
            if a == b:
                continue
            sign = 1 if b > a else -1
            if last.get(knob, sign) != sign:
                n += 1
            last[knob] = sign
    return n


def time_to_best(
    samples: list[dict[str, Any]], best_rate: float, frac: float = 0.9
) -> float | None:
    """Seconds until throughput first *stays* within 10 % of ``best_rate``: the start of the
    first interval from which the median of every 3 consecutive intervals is ≥ 90 % of it
    (the last interval, cut short by the end of the copy, is left out)."""
    rates = [float(s["rows_per_sec"]) for s in samples[:-1]]
    if len(rates) < 3:
        return None
    med = [statistics.median(rates[i : i + 3]) for i in range(len(rates) - 2)]
    for i in range(len(med)):
        if all(m >= frac * best_rate for m in med[i:]):
            return float(samples[i - 1]["t"]) if i > 0 else 0.0
    return None


def summarize(run: Run, best: Run | None) -> None:
    if not run.ok:
        return
    ref = run.ref_seconds or (best.copy_seconds if best is not None else None)
    if ref:
        assert run.copy_seconds is not None
        run.regret = run.copy_seconds / ref - 1
    if run.kind != "adaptive":
        return
    rec = run.records
    run.changes = len(rec)
    run.reverted = sum(1 for r in rec if r.get("reverted") or r.get("source") == "rollback")
    run.reversals = reversals(rec)
    if run.samples:
        half = float(run.samples[-1]["t"]) / 2
        t0 = float(run.samples[0]["at"]) - float(run.samples[0]["t"])
        run.late_changes = sum(1 for r in rec if float(r["at"]) - t0 >= half)
        last = run.samples[-1]
        run.final = (int(last["writers"]), int(last["chunk_size"]))
        if best is not None and best.rate:
            run.to_best_seconds = time_to_best(run.samples, best.rate)


# ----------------------------------------------------------------------------- fake AI
@contextmanager
def fake_ai() -> Iterator[str]:
    """The fake Messages API, answering every request with the controller's first candidate
    (the rules' own proposal, or `continue`): the AI path without the AI's judgement."""
    from tests.support.fake_anthropic import FakeAnthropic, Reply, Request, context_of, tool_answer

    def policy(request: Request) -> Reply:
        ctx = context_of(request)
        cands = ctx.get("candidates") or []
        cur = ctx["current"]
        if not cands:
            return tool_answer("continue", cur["writers"], cur["chunk_size"], reasoning="(fake)")
        c = cands[0]
        return tool_answer(
            c["action"], c["writers"], c["chunk_size"], reasoning=f"(fake) {c.get('why', '')}"
        )

    with FakeAnthropic() as fake:
        fake.default = policy
        yield fake.url


# ----------------------------------------------------------------------------- the benchmark
def run_workload(
    wl: Workload,
    args: argparse.Namespace,
    bests: dict[str, Run],
    reuse: tuple[list[Run], dict[str, Run]] | None = None,
) -> list[Run]:
    runs: list[Run] = []
    prepare_data(wl, args.seed)

    def go(
        kind: str, start: str, arm: str, w: int, c: int, url: str | None = None,
        timeout: float | None = None,
    ) -> Run:  # fmt: skip
        r = Run(wl.name, kind, start, arm, w, c)
        _log(f"{wl.name}: {kind} {start} {arm} ({w} writers, {c} rows)")
        cfg = config(wl, w, c, args, adaptive=kind == "adaptive", ai_url=url)
        run_dmt(r, cfg, wl, args, timeout)
        _log(
            f"  -> {r.copy_seconds and round(r.copy_seconds, 1)} s copy, "
            f"{r.rss_mb and round(r.rss_mb)} MB" + (f", ERROR {r.error}" if r.error else "")
        )
        runs.append(r)
        return r

    reused = reuse[1].get(wl.name) if reuse else None
    if reused is not None and reuse is not None:
        _log(f"{wl.name}: static runs reused from {args.reuse_static}")
        runs += [r for r in reuse[0] if r.workload == wl.name and r.kind == "static"]
        best = reused
    elif wl.grid:
        grid: list[Run] = []
        # the small-chunk column last, so that --cell-timeout has a fast cell to compare with
        for c in sorted(args.chunks, key=lambda c: c < 10_000):
            for w in args.writers:
                walls = [r.wall_seconds for r in grid if r.ok and r.wall_seconds]
                cap = args.cell_timeout * min(walls) if args.cell_timeout and walls else None
                grid.append(go("static", f"{w}x{c}", "static", w, c, timeout=cap))
        ok = [r for r in grid if r.ok]
        if not ok:
            return runs
        best = min(ok, key=lambda r: r.copy_seconds or 1e9)
        for _ in range(args.noise_repeat):
            go("static", f"{best.writers}x{best.chunk}", "static", best.writers, best.chunk)
        same = [r for r in runs if r.ok and (r.writers, r.chunk) == (best.writers, best.chunk)]
        times = [r.copy_seconds for r in same if r.copy_seconds]
        # the best static time is the median of its repeats, not its luckiest run
        best_t = statistics.median(times)
        best = min(same, key=lambda r: abs((r.copy_seconds or 0) - best_t))
    else:
        base = bests[wl.base or "narrow"]
        # the same disturbance, the base workload's best static setting
        ref = [go("static", f"{base.writers}x{base.chunk}", "static", base.writers, base.chunk)]
        if (base.writers, base.chunk) != DEFAULT:
            ref.append(go("static", f"{DEFAULT[0]}x{DEFAULT[1]}", "static", *DEFAULT))
        ok = [r for r in ref if r.ok]
        if not ok:
            return runs
        best = min(ok, key=lambda r: r.copy_seconds or 1e9)
    bests[wl.name] = best
    starts = {"bad": BAD, "default": DEFAULT, "best": (best.writers, best.chunk)}
    for i, start in enumerate(args.starts):
        w, c = starts[start]
        if args.interleave:  # the machine drifts: measure the best cell beside the arms
            bw, bc = best.writers, best.chunk
            go("static", f"{bw}x{bc}", "reference", bw, bc)
        # the arms take turns at running first after the reference: on a machine that drifts
        # the second run is further from it
        for arm in args.arms if i % 2 == 0 else args.arms[::-1]:
            if arm == "fake-ai":
                with fake_ai() as url:
                    r = go("adaptive", start, arm, w, c, url)
            else:
                r = go("adaptive", start, arm, w, c)
    if args.interleave and args.starts:  # so the last start has a reference after it too
        go("static", f"{best.writers}x{best.chunk}", "reference", best.writers, best.chunk)
    pair_references(runs)
    for r in runs:
        summarize(r, best)
    return runs


def pair_references(runs: list[Run]) -> None:
    """With --interleave, each adaptive run's reference time is the mean of the best cell's
    runs just before and just after its start (the one before alone when no later one ran):
    the machine's speed drifts by several percent within minutes, and a reference on one side
    only carries all of that drift into the regret."""
    refs = [i for i, r in enumerate(runs) if r.arm == "reference" and r.ok]
    for i, r in enumerate(runs):
        if r.kind != "adaptive":
            continue
        near = [j for j in refs if runs[j].workload == r.workload]
        before = [j for j in near if j < i][-1:]
        after = [j for j in near if j > i][:1]
        times = [t for j in before + after if (t := runs[j].copy_seconds)]
        r.ref_seconds = statistics.fmean(times) if times and before else None


def noise_of(runs: list[Run], best: Run) -> float | None:
    times = [
        t
        for r in runs
        if r.kind == "static"
        and r.ok
        and r.workload == best.workload
        and (r.writers, r.chunk) == (best.writers, best.chunk)
        and (t := r.copy_seconds)
    ]
    if len(times) < 2:
        return None
    return statistics.stdev(times) / statistics.fmean(times)


def verdict(r: Run, interval: float) -> str:
    """Targets: regret ≤ 15 % from any start and ≤ 5 % from the best start on undisturbed
    workloads; in steady state (here: the second half of the copy) at most one change per
    steady gap — two minutes at the default 30 s interval, i.e. 4 intervals."""
    if r.kind != "adaptive" or r.regret is None:
        return ""
    marks = []
    if r.workload in ("narrow", "wide", "indexed"):
        target = 0.05 if r.start == "best" else 0.15
        if r.regret > target:
            marks.append(f"MISS regret >{target:.0%}")
    if r.copy_seconds:
        allowed = max(1, int(r.copy_seconds / 2 / (4 * interval)))
        if r.late_changes > allowed:
            marks.append(f"MISS {r.late_changes} late changes > {allowed}")
    undisturbed = r.workload in ("narrow", "wide", "indexed")
    return ", ".join(marks) or ("ok" if undisturbed else "ok (no regret target: disturbed)")


def fmt(v: float | None, spec: str, none: str = "–") -> str:
    return none if v is None else format(v, spec)


def table(runs: list[Run], best_ids: dict[str, int], interval: float) -> str:
    head = (
        "| workload | kind | start | arm | writers×chunk (start → end) | copy s | regret | "
        "changes | reversals | reverted | to within 10 % s | peak RSS MB | AI calls | verdict |"
    )
    lines = [head, "|" + "---|" * 14]
    for r in runs:
        end = f" → {r.final[0]}×{r.final[1]}" if r.final else ""
        v = verdict(r, interval)
        if r.kind == "static":
            v = "best" if best_ids.get(r.workload) == id(r) else ""
        if not r.ok:
            v = f"FAILED: {r.error}"
        lines.append(
            f"| {r.workload} | {r.kind} | {r.start} | {r.arm} | {r.writers}×{r.chunk}{end} | "
            f"{fmt(r.copy_seconds, '.1f')} | {fmt(r.regret and r.regret * 100, '+.0f')}% | "
            f"{r.changes if r.kind == 'adaptive' else ''} | "
            f"{r.reversals if r.kind == 'adaptive' else ''} | "
            f"{r.reverted if r.kind == 'adaptive' else ''} | "
            f"{fmt(r.to_best_seconds, '.0f', 'never') if r.kind == 'adaptive' else ''} | "
            f"{fmt(r.rss_mb, '.0f')} | {r.ai_calls if r.arm == 'fake-ai' else ''} | {v} |"
        )
    return "\n".join(lines)


def report(runs: list[Run], bests: dict[str, Run], interval: float) -> str:
    """The results table and, per workload, the best static setting and the noise."""
    lines = [table(runs, {w: id(b) for w, b in bests.items()}, interval), ""]
    for w, b in bests.items():
        n = noise_of(runs, b)
        lines.append(
            f"{w}: best static {b.writers} writers × {b.chunk} rows, {fmt(b.copy_seconds, '.1f')}"
            f" s copy ({fmt(b.rate, ',.0f')} rows/s); run-to-run noise "
            f"{fmt(n and n * 100, '.1f')}% (CV of the best cell's copy times)"
        )
    return "\n".join(lines)


def load(path: Path) -> tuple[list[Run], dict[str, Run], float]:
    """Runs, best static runs and interval from a saved JSON file (``--report``)."""
    data = json.loads(path.read_text())
    runs = []
    for d in data["runs"]:
        d = dict(d)
        d["final"] = tuple(d["final"]) if d.get("final") else None
        runs.append(Run(**d))
    bests: dict[str, Run] = {}
    for w, (bw, bc, bt) in data["best"].items():
        same = [r for r in runs if r.workload == w and r.kind == "static" and r.ok]
        match = [r for r in same if (r.writers, r.chunk, r.copy_seconds) == (bw, bc, bt)]
        if match:
            bests[w] = match[0]
    pair_references(runs)
    for r in runs:  # recompute with the current definitions
        summarize(r, bests.get(r.workload))
    return runs, bests, float(data["args"]["interval"])


def plot_run(r: Run) -> None:
    if not r.samples:
        return
    from dmt.plot import render

    path = OUT / f"{r.workload}-{r.start}-{r.arm}.svg"
    title = f"{r.workload}: start {r.writers}×{r.chunk}, {r.arm}, {r.copy_seconds:.1f} s"
    path.write_text(render(r.samples, r.records, title=title, fmt="svg"))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    words = lambda s: [x.strip() for x in s.split(",") if x.strip()]  # noqa: E731
    ap.add_argument("--workloads", type=words, default=["narrow", "wide", "indexed", "throttled"])
    ap.add_argument("--writers", type=ints, default=[1, 2, 4, 8, 16])
    ap.add_argument("--chunks", type=ints, default=[1_000, 10_000, 50_000, 200_000])
    ap.add_argument("--starts", type=words, default=["bad", "default", "best"])
    ap.add_argument("--arms", type=words, default=["fallback", "fake-ai"])
    ap.add_argument("--readers", type=int, default=2, help="migration.parallel_readers")
    ap.add_argument(
        "--interleave", action="store_true", help="run the best cell again before each start"
    )
    ap.add_argument("--narrow-rows", type=int, default=20_000_000)
    # every row of the indexed target pays a foreign-key check and two more index inserts:
    # about ten times slower than narrow (2M rows: 21 s through one psql COPY)
    ap.add_argument("--indexed-rows", type=int, default=5_000_000)
    ap.add_argument("--wide-rows", type=int, default=1_200_000)
    ap.add_argument("--noise-repeat", type=int, default=2, help="extra runs of the best cell")
    ap.add_argument("--interval", type=float, default=2.0, help="ai_adjust_interval, seconds")
    ap.add_argument("--chunk-size-at", choices=("table", "chunk"), default="chunk")
    ap.add_argument("--max-memory-mb", type=int, default=0, help="0: dmt's default")
    ap.add_argument("--disturb-at", type=float, default=10.0, help="seconds into the run")
    ap.add_argument("--disturb-for", type=float, default=15.0)
    ap.add_argument("--load-clients", type=int, default=2, help="throttled: concurrent writers")
    ap.add_argument("--pressure-mb", type=int, default=2048, help="memory: MB held")
    ap.add_argument("--real-ai", action="store_true", help="add a real-ai arm (DMT_AI_API_KEY)")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument(
        "--cell-timeout", type=float, default=0.0,
        help="kill a grid cell after this many times the fastest cell so far (0: never); a "
        "killed cell is reported as slower than that, and cannot be the best",
    )  # fmt: skip
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--quick", action="store_true", help="small data and a reduced grid")
    ap.add_argument(
        "--reuse-static", type=Path, help="take the static grid and best of a saved JSON"
    )
    ap.add_argument("--report", type=Path, help="print the table of a saved JSON; run nothing")
    args = ap.parse_args(argv)
    if args.report:
        saved, saved_bests, interval = load(args.report)
        OUT.mkdir(parents=True, exist_ok=True)
        for r in saved:
            plot_run(r)
        print(report(saved, saved_bests, interval))
        return 0
    if args.quick:
        args.narrow_rows, args.wide_rows, args.indexed_rows = 3_000_000, 200_000, 300_000
        args.writers, args.chunks = [1, 2, 4, 8], [1_000, 10_000, 50_000]
        args.noise_repeat, args.interval = 1, 1.0
        args.disturb_at, args.disturb_for = 4.0, 6.0
    if args.real_ai:
        if not os.environ.get("DMT_AI_API_KEY"):
            ap.error("--real-ai needs DMT_AI_API_KEY")
        args.arms = [*args.arms, "real-ai"]
    unknown = set(args.workloads) - set(WORKLOADS)
    if unknown:
        ap.error(f"unknown workload(s): {', '.join(sorted(unknown))}")
    OUT.mkdir(parents=True, exist_ok=True)
    _log(f"bytecode: {datagen.compile_bytecode()}")
    all_wl = workloads(args)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_json = OUT / f"tuning-{stamp}.json"
    runs: list[Run] = []
    bests: dict[str, Run] = {}
    order = sorted(args.workloads, key=lambda n: all_wl[n].base is not None)
    if any(all_wl[n].base and all_wl[n].base not in order for n in order):
        order.insert(0, "narrow")  # a disturbed workload needs the narrow best static

    def save() -> None:
        noises = {w: noise_of(runs, b) for w, b in bests.items()}
        data = {
            "args": {k: v for k, v in vars(args).items()},
            "load_average": os.getloadavg(),
            "noise": noises,
            "best": {w: [b.writers, b.chunk, b.copy_seconds] for w, b in bests.items()},
            "runs": [asdict(r) for r in runs],
        }
        out_json.write_text(json.dumps(data, indent=1, default=str) + "\n")
        (OUT / "tuning-latest.json").write_text(out_json.read_text())

    reuse = None
    if args.reuse_static:
        prev_runs, prev_bests, _ = load(args.reuse_static)
        reuse = (prev_runs, prev_bests)
    for name in order:
        wl = all_wl[name]
        try:
            runs += run_workload(wl, args, bests, reuse)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            _log(f"{name}: FAILED: {exc}")
        save()
    for r in runs:
        try:
            plot_run(r)
        except Exception as exc:  # a chart must not lose the results
            _log(f"plot {r.workload}-{r.start}-{r.arm}: {exc}")
    print(report(runs, bests, args.interval))
    print(f"\nJSON: {out_json}; charts: {OUT}/*.svg; load average now {os.getloadavg()}")
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
