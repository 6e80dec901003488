"""Run the real ``dmt`` CLI in a subprocess and stop it at a moment read from its state store.

A moment is relative to what the state store showed when the process started, so every kill
lands on progress made by *that* process (a resumed run starts with chunks already done).

The moment is checked while holding the state store's write lock, and the lock is kept until
the signal is sent: the process cannot record any progress in between (its next write waits
on the lock), so a process reported "killed" was killed exactly at the moment the store shows
- never a moment later, never after it finished. What it does between state writes (copying
a batch, building an index, validating) goes on until the signal.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_SQL = """
SELECT (SELECT phase FROM runs ORDER BY started DESC LIMIT 1),
       (SELECT pid FROM runs ORDER BY started DESC LIMIT 1),
       (SELECT status FROM runs ORDER BY started DESC LIMIT 1),
       (SELECT COUNT(*) FROM chunks WHERE done = 1),
       (SELECT COUNT(*) FROM chunks WHERE started = 1),
       (SELECT COUNT(*) FROM chunks WHERE started = 1 AND done = 0),
       (SELECT COUNT(*) FROM post_load),
       (SELECT COALESCE(SUM(rows), 0) FROM chunks WHERE done = 1)
"""
#: ends dmt's PostgreSQL sessions on a database (parameter: its name); returns how many
TERMINATE = (
    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE application_name = 'dmt' AND datname = %s AND pid <> pg_backend_pid()"
)
CHUNKS_SQL = "SELECT tbl, idx, done, copies, COALESCE(rows, 0) FROM chunks"


@dataclass(frozen=True)
class State:
    phase: str | None = None
    pid: int | None = None
    status: str | None = None
    done: int = 0
    started: int = 0
    in_flight: int = 0
    post_load: int = 0
    rows_done: int = 0  # rows of the chunks done
    #: (table, chunk index) -> (done, how many times a process started copying it, rows)
    chunks: dict[tuple[str, int], tuple[bool, int, int]] = field(default_factory=dict, repr=False)


# how often the state store is read while waiting for a moment: each read opens SQLite, and at
# 3 ms the polling took CPU from the run it watches on a slow 2-core machine
POLL_SECONDS = 0.01


def _read(c: sqlite3.Connection) -> State:
    row = c.execute(STATE_SQL).fetchone()
    chunks = {(t, i): (bool(d), n, r) for t, i, d, n, r in c.execute(CHUNKS_SQL)}
    return State(*row, chunks=chunks)


def read_state(state_dir: Path) -> State:
    path = state_dir / "state.db"
    if not path.exists():
        return State()
    try:
        c = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
    except sqlite3.Error:
        return State()
    try:
        return _read(c)
    except sqlite3.Error:  # the schema is not created yet, or the file is being set up
        return State()
    finally:
        c.close()


class StateLock:
    """The state store's write lock, taken between the watched process's writes: while it is
    held, the store cannot change, so what it shows is where the process is."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._conn: sqlite3.Connection | None = None

    def hold(self) -> State | None:
        """Take the lock and read the state; None if the store is not set up yet or busy."""
        if self._conn is None:
            if read_state(self.state_dir).pid is None:  # never lock a store being created
                return None
            uri = f"file:{self.state_dir / 'state.db'}?mode=rw"
            self._conn = sqlite3.connect(uri, uri=True, timeout=0.05, isolation_level=None)
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:  # the process is writing: try again
            return None
        return _read(self._conn)

    def release(self) -> None:
        if self._conn is not None and self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self.release()
        if self._conn is not None:
            self._conn.close()
            self._conn = None


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


def at_moment(
    state_dir: Path, moment: Moment, pid: int, action: Callable[[], Any], timeout: float = 120
) -> State:
    """Wait for ``moment`` (``pid`` is the process that must reach it), then run ``action``
    with the state store held still: returns the state it ran at."""
    base = read_state(state_dir)
    lock = StateLock(state_dir)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            now = lock.hold()
            if now is not None and moment.reached(now, base, pid):
                action()
                return now
            lock.release()
            time.sleep(POLL_SECONDS)
    finally:
        lock.close()
    raise AssertionError(f"{moment.label} not reached in {timeout}s")


def stop_at(
    proc: subprocess.Popen[bytes],
    state_dir: Path,
    moment: Moment,
    sig: int = signal.SIGKILL,
    timeout: float = 120,
) -> tuple[str, State]:
    """Send ``sig`` at ``moment``, holding the state store still from the moment it is seen
    until the signal is sent (see the module docstring). Returns ("killed" | "signalled" |
    "finished", the state at the signal); "finished" when the process ended before the
    moment. After SIGKILL the process has been reaped; after another signal it may run on."""
    base = read_state(state_dir)
    lock = StateLock(state_dir)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if proc.poll() is not None:
                return "finished", read_state(state_dir)
            if time.monotonic() > deadline:
                raise AssertionError(f"{moment.label} not reached in {timeout}s")
            now = lock.hold()
            if now is not None and moment.reached(now, base, proc.pid):
                break
            lock.release()
            time.sleep(POLL_SECONDS)
        if moment.delay_ms:  # the process works on, but cannot record leaving the moment
            time.sleep(moment.delay_ms / 1000)
        if proc.poll() is not None:  # it died on its own (its output says why)
            return "finished", now
        os.kill(proc.pid, sig)
        if sig != signal.SIGKILL:
            return "signalled", now
        proc.wait(30)
        return "killed", now
    finally:
        lock.close()
        if sig == signal.SIGKILL and proc.poll() is None:
            proc.kill()
            proc.wait()


def assert_skipped_done_chunks(at_kill: State, later: State, killed: bool = True) -> None:
    """Every chunk done at ``at_kill`` was never copied again up to ``later``. When the process
    was killed then, every chunk done ``later`` that was not done then was copied since (a
    chunk without rows is never started: it has no batch); a process that lived on may have
    finished a chunk it had in flight."""
    for key, (done, copies, _) in at_kill.chunks.items():
        now_done, now_copies, rows = later.chunks[key]
        if done:
            assert (now_done, now_copies) == (True, copies), (key, at_kill.chunks[key], now_copies)
        elif now_done and killed:
            assert now_copies > copies or rows == 0, (key, at_kill.chunks[key], now_copies)


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python -m dmt ARGS`` to completion, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "dmt", *args],
        capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip
