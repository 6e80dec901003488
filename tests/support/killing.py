"""Run the real ``dmt`` CLI in a subprocess and stop it at a moment read from its state store.

A moment is relative to what the state store showed when the process started, so every kill
lands on progress made by *that* process (a resumed run starts with chunks already done).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATE_SQL = """
SELECT (SELECT phase FROM runs ORDER BY started DESC LIMIT 1),
       (SELECT pid FROM runs ORDER BY started DESC LIMIT 1),
       (SELECT status FROM runs ORDER BY started DESC LIMIT 1),
       (SELECT COUNT(*) FROM chunks WHERE done = 1),
       (SELECT COUNT(*) FROM chunks WHERE started = 1),
       (SELECT COUNT(*) FROM chunks WHERE started = 1 AND done = 0),
       (SELECT COUNT(*) FROM post_load)
"""


@dataclass(frozen=True)
class State:
    phase: str | None = None
    pid: int | None = None
    status: str | None = None
    done: int = 0
    started: int = 0
    in_flight: int = 0
    post_load: int = 0


# how often the state store is read while waiting for a moment: each read opens SQLite, and at
# 3 ms the polling took CPU from the run it watches on a slow 2-core machine
POLL_SECONDS = 0.01


def read_state(state_dir: Path) -> State:
    path = state_dir / "state.db"
    if not path.exists():
        return State()
    try:
        c = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return State()
    try:
        row = c.execute(STATE_SQL).fetchone()
    except sqlite3.Error:  # the schema is not created yet, or the file is being set up
        return State()
    finally:
        c.close()
    return State(*row)


@dataclass(frozen=True)
class Moment:
    """When to stop the process.

    ``phase``: the run (in this process) entered phase ``arg``, then ``delay_ms`` later;
    ``started``: this process started ``arg`` more chunks; ``done``: it committed ``arg`` more;
    ``in_flight``: it committed ``arg`` more and at least one chunk is in flight;
    ``post_load``: it created ``arg`` more post-load objects.
    """

    kind: str
    arg: Any
    delay_ms: int = 0

    @property
    def label(self) -> str:
        extra = f"+{self.delay_ms}ms" if self.delay_ms else ""
        return f"{self.kind}:{self.arg}{extra}"

    def reached(self, now: State, base: State, pid: int) -> bool:
        if self.kind == "phase":
            return now.pid == pid and now.phase == self.arg
        if self.kind == "started":
            return now.started >= base.started + self.arg
        if self.kind == "done":
            return now.done >= base.done + self.arg
        if self.kind == "in_flight":
            return now.done >= base.done + self.arg and now.in_flight > 0
        if self.kind == "post_load":
            return now.post_load >= base.post_load + self.arg
        raise ValueError(self.kind)


def dmt(*args: str, log: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``python -m dmt ARGS`` (stderr to ``log``)."""
    err: Any = subprocess.DEVNULL
    if log is not None:
        err = open(log, "ab")  # noqa: SIM115 (closed right after the child inherited it)
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "dmt", *args],
            stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    finally:
        if log is not None:
            err.close()


def wait_for(state_dir: Path, moment: Moment, pid: int, timeout: float = 120) -> State:
    """Block until ``moment`` (for an in-process run, ``pid`` is this process)."""
    base = read_state(state_dir)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = read_state(state_dir)
        if moment.reached(now, base, pid):
            if moment.delay_ms:
                time.sleep(moment.delay_ms / 1000)
            return now
        time.sleep(POLL_SECONDS)
    raise AssertionError(f"{moment.label} not reached in {timeout}s")


def stop_at(
    proc: subprocess.Popen[bytes],
    state_dir: Path,
    moment: Moment,
    sig: int = signal.SIGKILL,
    timeout: float = 120,
) -> tuple[str, State]:
    """Send ``sig`` at ``moment``; ("killed" | "signalled" | "finished", the state right
    after). After SIGKILL the process has been reaped; after another signal it may still run."""
    base = read_state(state_dir)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if proc.poll() is not None:
                return "finished", read_state(state_dir)
            if time.monotonic() > deadline:
                raise AssertionError(f"{moment.label} not reached in {timeout}s")
            if moment.reached(read_state(state_dir), base, proc.pid):
                break
            time.sleep(POLL_SECONDS)
        if moment.delay_ms:
            time.sleep(moment.delay_ms / 1000)
        if proc.poll() is not None:
            return "finished", read_state(state_dir)
        os.kill(proc.pid, sig)
        if sig == signal.SIGKILL:
            proc.wait(30)
            return "killed", read_state(state_dir)
        return "signalled", read_state(state_dir)
    finally:
        if sig == signal.SIGKILL and proc.poll() is None:
            proc.kill()
            proc.wait()


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m dmt ARGS`` to completion, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "dmt", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip
