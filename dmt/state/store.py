"""The state store: one SQLite file (``state_dir/state.db``, owner-only, WAL) holding runs,
per-table chunk plans and checkpoints, post-load progress, runtime adjustments and what was
learned of each table's copy (:mod:`dmt.state.learned`).

A chunk is recorded done only after every batch of it is committed on the target, so after a
crash at any moment the store says exactly which key ranges are safely on the target.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from dmt.errors import DmtError, StateError
from dmt.state.faults import state_fault
from dmt.state.keys import decode_key, encode_key

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY, target TEXT NOT NULL, source TEXT NOT NULL, fingerprint TEXT NOT NULL,
  settings TEXT NOT NULL, started REAL NOT NULL, ended REAL, status TEXT NOT NULL,
  phase TEXT NOT NULL, rows INTEGER NOT NULL DEFAULT 0, rows_per_second REAL,
  error TEXT, pid INTEGER, resumed INTEGER NOT NULL DEFAULT 0, result TEXT
);
CREATE TABLE IF NOT EXISTS tables (
  run_id TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL, rows INTEGER DEFAULT 0,
  seconds REAL, PRIMARY KEY (run_id, name)
);
CREATE TABLE IF NOT EXISTS chunks (
  run_id TEXT NOT NULL, tbl TEXT NOT NULL, idx INTEGER NOT NULL, lower TEXT, upper TEXT,
  started INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0, rows INTEGER,
  copies INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (run_id, tbl, idx)
);
CREATE TABLE IF NOT EXISTS post_load (
  run_id TEXT NOT NULL, object TEXT NOT NULL, PRIMARY KEY (run_id, object)
);
CREATE TABLE IF NOT EXISTS adjustments (
  run_id TEXT NOT NULL, seq INTEGER NOT NULL, record TEXT NOT NULL, PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS learned (
  id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, created REAL NOT NULL,
  pair TEXT NOT NULL, versions TEXT NOT NULL, endpoints TEXT NOT NULL, tbl TEXT NOT NULL,
  path TEXT NOT NULL, shape TEXT NOT NULL, start_writers INTEGER NOT NULL,
  start_chunk INTEGER NOT NULL, start_kind TEXT NOT NULL, start_rate REAL,
  writers INTEGER NOT NULL, chunk_size INTEGER NOT NULL, steady_rate REAL,
  seconds_to_steady REAL, votes INTEGER NOT NULL, forgotten INTEGER NOT NULL DEFAULT 0
);
"""

RUNNING = "running"


class StateStore:
    """Thread-safe access to the state database; one connection guarded by a lock."""

    #: seconds a statement waits for another process's lock on the file before failing
    busy_timeout: float = 30.0

    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir).expanduser()
        self.path = self.dir / "state.db"
        self._lock = threading.Lock()
        self._lock_file: Any = None
        try:
            self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            new = not self.path.exists()
            if new:
                fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600)
                os.close(fd)
            self._conn = sqlite3.connect(
                self.path, check_same_thread=False, timeout=self.busy_timeout
            )
        except (OSError, sqlite3.Error) as exc:
            raise self._fault(exc) from exc
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.executescript(SCHEMA)
            _add_columns(self._conn)
            self._conn.commit()
        except (OSError, sqlite3.Error) as exc:
            self._conn.close()
            raise self._fault(exc) from exc

    def _fault(self, exc: BaseException) -> DmtError:
        return state_fault(self.path, exc, self.busy_timeout)

    def close(self) -> None:
        self.release()
        self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
                self._conn.commit()
            except sqlite3.Error as exc:
                with suppress(sqlite3.Error):  # a failed rollback must not mask the fault
                    self._conn.rollback()
                raise self._fault(exc) from exc

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            self._conn.row_factory = sqlite3.Row
            try:
                return list(self._conn.execute(sql, params).fetchall())
            except sqlite3.Error as exc:
                raise self._fault(exc) from exc
            finally:
                self._conn.row_factory = None

    # ------------------------------------------------------------------ exclusive target lock
    def acquire(self, target: str) -> None:
        """Hold an exclusive lock for ``target`` until :meth:`release`; refuse if taken."""
        name = hashlib.sha256(target.encode()).hexdigest()[:16]
        try:
            f = open(self.dir / f"target-{name}.lock", "a+")  # noqa: SIM115 (held for the run)
        except OSError as exc:
            raise self._fault(exc) from exc
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.close()
            running = self._query(
                "SELECT id, pid, started FROM runs WHERE target = ? AND status = ? "
                "ORDER BY started DESC LIMIT 1",
                (target, RUNNING),
            )
            who = f"run `{running[0]['id']}` (pid {running[0]['pid']})" if running else "a run"
            raise StateError(
                f"{who} is already migrating into {target}; wait for it or stop it first"
            ) from None
        self._lock_file = f

    def release(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    # ------------------------------------------------------------------ runs
    def start_run(
        self, run_id: str, source: str, target: str, fp: str, settings: dict[str, Any]
    ) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO runs (id, target, source, fingerprint, settings, started, status, "
                "phase, pid) VALUES (?,?,?,?,?,?,?,?,?)",
                (run_id, target, source, fp, json.dumps(settings, default=str), time.time(),
                 RUNNING, "prepare", os.getpid()),
            )  # fmt: skip

    def mark_crashed(self, target: str) -> None:
        """Runs left `running` by a process that no longer exists were interrupted."""
        rows = self._query(
            "SELECT id, pid FROM runs WHERE target = ? AND status = ?", (target, RUNNING)
        )
        for r in rows:
            if r["pid"] and not _alive(r["pid"]):
                self.finish_run(r["id"], "interrupted", error="the dmt process died")

    def resume_run(self, run_id: str) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET status = ?, pid = ?, ended = NULL, error = NULL, "
                "resumed = resumed + 1 WHERE id = ?",
                (RUNNING, os.getpid(), run_id),
            )

    def set_phase(self, run_id: str, phase: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE runs SET phase = ? WHERE id = ?", (phase, run_id))

    def finish_run(
        self, run_id: str, status: str, *, error: str | None = None,
        rows: int | None = None, rows_per_second: float | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        with self._tx() as c:
            c.execute(
                "UPDATE runs SET status = ?, ended = ?, error = ?, rows = COALESCE(?, rows), "
                "rows_per_second = COALESCE(?, rows_per_second), "
                "result = COALESCE(?, result) WHERE id = ?",
                (status, time.time(), error, rows, rows_per_second,
                 json.dumps(result, default=str) if result else None, run_id),
            )  # fmt: skip

    def latest_unfinished(self, target: str) -> dict[str, Any] | None:
        rows = self._query(
            "SELECT * FROM runs WHERE target = ? AND status NOT IN ('success') "
            "ORDER BY started DESC LIMIT 1",
            (target,),
        )
        latest_any = self._query(
            "SELECT id, status FROM runs WHERE target = ? ORDER BY started DESC LIMIT 1", (target,)
        )
        if not rows or (latest_any and latest_any[0]["id"] != rows[0]["id"]):
            return None
        return dict(rows[0])

    def run(self, run_id: str) -> dict[str, Any] | None:
        rows = self._query("SELECT * FROM runs WHERE id = ? OR id LIKE ?", (run_id, run_id + "%"))
        return dict(rows[0]) if len(rows) == 1 else None

    def runs(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT r.*, (SELECT COUNT(*) FROM adjustments a WHERE a.run_id = r.id) AS adjustments "
            "FROM runs r ORDER BY started DESC LIMIT ?",
            (limit,),
        )
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ tables and chunks
    def plan_table(self, run_id: str, table: str, bounds: list[tuple[Any, Any]]) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT OR REPLACE INTO tables (run_id, name, status) VALUES (?,?,?)",
                (run_id, table, "copying"),
            )
            c.execute("DELETE FROM chunks WHERE run_id = ? AND tbl = ?", (run_id, table))
            c.executemany(
                "INSERT INTO chunks (run_id, tbl, idx, lower, upper) VALUES (?,?,?,?,?)",
                [
                    (run_id, table, i, encode_key(lo), encode_key(hi))
                    for i, (lo, hi) in enumerate(bounds)
                ],
            )

    def table_plan(self, run_id: str, table: str) -> list[tuple[int, Any, Any, bool]] | None:
        """(index, lower, upper, done) of every planned chunk, or None if never planned."""
        rows = self._query(
            "SELECT idx, lower, upper, done FROM chunks WHERE run_id = ? AND tbl = ? ORDER BY idx",
            (run_id, table),
        )
        if not rows:
            return None
        return [
            (r["idx"], decode_key(r["lower"]), decode_key(r["upper"]), bool(r["done"]))
            for r in rows
        ]

    def chunks_started(self, run_id: str, table: str, idxs: Sequence[int]) -> None:
        """Mark chunks started (and count one more copy of each), all in one transaction."""
        with self._tx() as c:
            c.executemany(
                "UPDATE chunks SET started = 1, copies = copies + 1 "
                "WHERE run_id = ? AND tbl = ? AND idx = ?",
                [(run_id, table, idx) for idx in idxs],
            )

    def started_chunks(self, run_id: str, table: str) -> set[int]:
        rows = self._query(
            "SELECT idx FROM chunks WHERE run_id = ? AND tbl = ? AND started = 1 AND done = 0",
            (run_id, table),
        )
        return {r["idx"] for r in rows}

    def chunks_done(self, run_id: str, table: str, rows: Sequence[tuple[int, int]]) -> None:
        """Mark chunks done with their ``(index, rows)``, all in one transaction."""
        with self._tx() as c:
            c.executemany(
                "UPDATE chunks SET done = 1, rows = ? WHERE run_id = ? AND tbl = ? AND idx = ?",
                [(n, run_id, table, idx) for idx, n in rows],
            )

    def table_done(self, run_id: str, table: str, rows: int, seconds: float) -> None:
        with self._tx() as c:
            c.execute(
                "UPDATE tables SET status = 'done', rows = ?, seconds = ? "
                "WHERE run_id = ? AND name = ?",
                (rows, seconds, run_id, table),
            )

    def tables(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT t.*, (SELECT COUNT(*) FROM chunks c WHERE c.run_id = t.run_id AND "
            "c.tbl = t.name) AS chunks, (SELECT COUNT(*) FROM chunks c WHERE c.run_id = t.run_id "
            "AND c.tbl = t.name AND c.done = 1) AS chunks_done, (SELECT COALESCE(SUM(rows), 0) "
            "FROM chunks c WHERE c.run_id = t.run_id AND c.tbl = t.name AND c.done = 1) AS "
            "rows_done FROM tables t WHERE t.run_id = ? ORDER BY t.name",
            (run_id,),
        )
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ post-load, adjustments
    def post_load_done(self, run_id: str) -> set[str]:
        return {
            r["object"]
            for r in self._query("SELECT object FROM post_load WHERE run_id = ?", (run_id,))
        }

    def mark_post_load(self, run_id: str, obj: str) -> None:
        with self._tx() as c:
            c.execute("INSERT OR IGNORE INTO post_load VALUES (?, ?)", (run_id, obj))

    def save_adjustments(self, run_id: str, records: list[dict[str, Any]]) -> None:
        with self._tx() as c:
            start = c.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM adjustments WHERE run_id = ?", (run_id,)
            ).fetchone()[0]
            c.executemany(
                "INSERT INTO adjustments VALUES (?,?,?)",
                [
                    (run_id, start + i + 1, json.dumps(r, default=str))
                    for i, r in enumerate(records)
                ],
            )

    def adjustments(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._query(
            "SELECT record FROM adjustments WHERE run_id = ? ORDER BY seq", (run_id,)
        )
        return [json.loads(r["record"]) for r in rows]


#: columns added since the first release: (table, column, declaration) for older stores
ADDED_COLUMNS = (("chunks", "copies", "INTEGER NOT NULL DEFAULT 0"),)


def _add_columns(conn: sqlite3.Connection) -> None:
    for table, column, decl in ADDED_COLUMNS:
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
