"""Summarise a py-spy ``--format raw`` profile of ``dmt run``: where the time goes.

Record (``--idle`` keeps waiting threads, ``--threads`` names them)::

    py-spy record --idle --threads -r 200 --format raw -o out.raw -- \\
        python -m dmt run -c bench/out/configs/my-pg-votes.yaml --output-json

then ``python bench/profile_summary.py out.raw [--top 15]``. Prints, per thread role (reader,
writer, main, other), the share of samples in each pipeline stage, and the functions with the
most self and inclusive samples. Percentages are of all samples of the on-CPU (non-idle)
profile unless ``--idle`` was used while recording.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

#: (stage, pattern searched in the stack, innermost frames last); first match wins
STAGES: list[tuple[str, str]] = [
    ("startup/imports", r"_find_and_load"),
    ("main: waiting for threads", r"Thread\.join|_wait_for_tstate_lock"),
    ("queue wait (put)", r"BatchQueue\.put"),
    ("queue wait (get)", r"BatchQueue\.get|DynamicWriterPool\._worker \(.*\);Condition\.wait"),
    ("reader: row_bytes estimate", r"read_chunk .*;row_bytes"),
    ("reader: row conversion", r"\bconvert \(dmt/paths/rows\.py|_compose|<lambda> \(dmt/run"),
    # a leaf ``read_chunk`` at its ``fetch(fetch_n)`` line is a C driver (sqlite3) fetching
    ("reader: driver fetch", r"read_chunk .*;(.*fetch|.*(pymysql|psycopg|sqlite3))"),
    ("reader: driver fetch", r"read_chunk \(dmt/paths/rows\.py:74\)$"),
    ("reader: other", r"RangeReader\.read|read_batches|read_chunk"),
    ("writer: COPY write_row", r"write_rows .*;.*(write_row|Copy\.write)"),
    ("writer: LOAD DATA / encode", r"write_rows .*;.*(_field|_encode|load|LOAD)"),
    ("writer: commit/flush", r"write_rows .*;.*(commit|__exit__|finish)"),
    ("writer: other", r"write_rows|_write_batch"),
    ("chunk planning", r"plan_chunks|key_boundaries"),
    ("schema/reflect/post-load", r"make_plan|reflect|prepare_target|post_load"),
    ("monitor", r"monitor|MetricsCollector|ai_"),
]


def stage_of(stack: str) -> str:
    for name, pattern in STAGES:
        if re.search(pattern, stack):
            return name
    return "other"


def role_of(thread: str) -> str:
    t = thread.lower()
    for role in ("reader", "writer", "table", "monitor"):
        if role in t:
            return role
    return "main" if "mainthread" in t or "main" in t else "other"


_FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^:()]*)(?::\d+)?\)$")


def frame_name(frame: str) -> str:
    """``func (path/file.py:123)`` -> ``func (file.py)``."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    return f"{m.group('fn')} ({Path(m.group('file')).name})"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("raw", type=Path, help="py-spy --format raw output")
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args(argv)

    stages: Counter[tuple[str, str]] = Counter()
    self_time: Counter[str] = Counter()
    incl_time: Counter[str] = Counter()
    roles: Counter[str] = Counter()
    total = 0
    for line in args.raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        # py-spy --threads puts "process ..." and "thread (0x..)" frames first
        code = [f for f in stack.split(";") if not f.startswith(("thread", "process"))]
        role = role_of(stack)
        total += n
        roles[role] += n
        stages[(role, stage_of(";".join(code)))] += n
        if code:
            self_time[frame_name(code[-1])] += n
        for name in {frame_name(f) for f in code}:
            incl_time[name] += n
    if not total:
        print("no samples", file=sys.stderr)
        return 1

    print(f"{total} samples\n\nby thread role and stage:")
    for role, rn in roles.most_common():
        print(f"  {role:<8} {100 * rn / total:5.1f}%")
        for (r, stage), n in stages.most_common():
            if r == role and 100 * n / total >= 0.5:
                print(f"      {stage:<30} {100 * n / total:5.1f}%")
    print(f"\ntop {args.top} functions by self samples:")
    for name, n in self_time.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {name}")
    print(f"\ntop {args.top} functions by inclusive samples:")
    skip = re.compile(r"^(_bootstrap|_bootstrap_inner|run|_run_module_as_main|_run_code)\b")
    shown = 0
    for name, n in incl_time.most_common():
        if skip.match(name) or name.startswith("<module>"):
            continue
        print(f"  {100 * n / total:5.1f}%  {name}")
        shown += 1
        if shown >= args.top:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
