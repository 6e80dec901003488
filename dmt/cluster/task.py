"""One key range copied end to end in a worker process: the body of the Ray task.

The task opens its own source and target connections from the run's :class:`RunSpec` (the
endpoints without their passwords) and the passwords handed to it as a task argument, reads
the range through the same data path the thread executor would use
(:func:`~dmt.pipeline.reading.read_batches`; one reader thread ahead of the writing thread,
one batch in between), writes and commits each batch, and returns a :class:`RangeOutcome`
as a plain dict: rows, bytes, per-batch timings, the range's content digest, the node's CPU
and memory, and the error, if any, as words (never an exception object, never a secret).

Nothing here imports Ray: the task is registered in :mod:`dmt.cluster.session`.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import queue
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from dmt.config import Endpoint
from dmt.dialects.base import Dialect, ValueCounters, ValueOptions, get_dialect
from dmt.errors import ConnectError, DmtError, TransferError
from dmt.model.job import Batch, TableJob
from dmt.model.ranges import Chunk
from dmt.paths.choose import choose as choose_path
from dmt.paths.rows import bridge_rows
from dmt.pipeline.failures import read_failed, write_failed
from dmt.pipeline.reading import read_batches
from dmt.pipeline.stop import StopFlag
from dmt.schema.translate import TablePlan

#: batches read ahead of the one being written, per task
READ_AHEAD = 1


@dataclass(frozen=True)
class RunSpec:
    """What every task of a run needs, without a secret: put in Ray's object store once."""

    run: str  # tells one run's cached dialects from another's in a reused worker
    source: Endpoint  # password None
    target: Endpoint  # password None
    options: ValueOptions
    data_path: str  # migration.data_path
    snapshot: str | None  # the source's shared snapshot (Dialect.shared_snapshot)
    learned: tuple[dict[str, Any], dict[str, Any]]  # portable_state() of source and target
    tables: dict[str, tuple[TablePlan, tuple[str, ...], str]]  # name -> plan, key, path name


#: dialects built per run in this worker process (the source joined to the run's snapshot)
_DIALECTS: dict[str, tuple[Dialect, Dialect]] = {}
_LOCK = threading.Lock()


def _dialects(spec: RunSpec, passwords: tuple[str | None, str | None]) -> tuple[Dialect, Dialect]:
    with _LOCK:
        if spec.run not in _DIALECTS:
            _DIALECTS.clear()  # one run at a time per worker: forget the last one's
            source = get_dialect(
                replace(spec.source, password=passwords[0]), "source", spec.options
            )
            target = get_dialect(
                replace(spec.target, password=passwords[1]), "target", spec.options
            )
            vars(source).update(spec.learned[0])
            vars(target).update(spec.learned[1])
            if spec.snapshot:
                source.join_snapshot(spec.snapshot)
            _DIALECTS[spec.run] = (source, target)
        return _DIALECTS[spec.run]


#: a dialect's attributes that are this process's own: its endpoint (with the password), its
#: hold on the source's snapshot; attributes named with ``_`` (connections, processes) too
_LOCAL = ("endpoint", "in_snapshot", "snapshot_id", "columnar_in_snapshot")


def portable_state(dialect: Dialect) -> dict[str, Any]:
    """What reflection and planning taught ``dialect`` (which tables are partitioned, the
    target's collations, the server's flavour...), for the same dialect in a worker."""
    out = {}
    for name, value in vars(dialect).items():
        if name.startswith("_") or name in _LOCAL:
            continue
        try:
            pickle.dumps(value)
        except Exception:  # a connection or a lock: not state to carry
            continue
        out[name] = value
    return out


def copy_range(
    spec: RunSpec, passwords: tuple[str | None, str | None], table: str, chunk: Chunk,
    max_rows: int, max_bytes: int, node: str = "",
) -> dict[str, Any]:  # fmt: skip
    """Copy ``chunk`` of ``table``; never raises (the outcome says what went wrong)."""
    started = time.monotonic()
    out: dict[str, Any] = {"rows": 0, "bytes": 0, "batches": [], "digest": "", "node": node,
                           "conversions": {}, "error": None}  # fmt: skip
    try:
        source, target = _dialects(spec, passwords)
        plan, key, path_name = spec.tables[table]
        values = ValueCounters()
        convert = bridge_rows(source, plan.source, target, plan.target, values)
        job = TableJob(plan.source, plan.target, key, convert)
        path = choose_path(source, target, plan, spec.data_path)
        if (path.name if path is not None else "rows") != path_name:
            raise TransferError(
                f"this worker would carry it by the `{path.name if path else 'rows'}` path, the "
                f"driver chose `{path_name}`: install the same dmt and drivers on every node",
                table, chunk.describe(),
            )  # fmt: skip
        try:
            _copy(spec.run, source, target, path, job, chunk, max_rows, max_bytes, out)
        finally:
            if path is not None:
                path.close()
        out["conversions"] = dict(values.counts)
    except Exception as exc:
        out["error"] = describe(exc, table, chunk)
    out["seconds"] = time.monotonic() - started
    out["cpu"], out["memory"] = _node_load()
    return out


def describe(exc: BaseException, table: str, chunk: Chunk) -> dict[str, Any]:
    """An error as the driver gets it: its kind, one line, exit code, and whether copying the
    range again may help (a lost connection, a stall: yes; a value the target refuses: no)."""
    if not isinstance(exc, DmtError):
        exc = TransferError(f"{type(exc).__name__}: {exc}", table, chunk.describe())
    return {
        "kind": type(exc).__name__,
        "message": str(exc),
        "exit_code": exc.exit_code,
        "retry": isinstance(exc, ConnectError),
    }


def _copy(
    run: str, source: Dialect, target: Dialect, path: Any, job: TableJob, chunk: Chunk,
    max_rows: int, max_bytes: int, out: dict[str, Any],
) -> None:  # fmt: skip
    # SHA-1 runs in hardware here (2.7x BLAKE2b): an identity of the bytes, not a seal
    digest = hashlib.sha1(usedforsecurity=False)
    kept = _take_kept(run) or _Kept(run, target)
    try:
        sconn, tconn = kept.open(source)
        _pump(source, target, path, sconn, tconn, job, chunk, max_rows, max_bytes, out, digest)
    except BaseException:
        kept.close()  # a connection that failed is never lent again
        raise
    _keep(kept)
    out["digest"] = digest.hexdigest()


#: seconds a worker process keeps its connections after a task, for the run's next task
KEEP_SECONDS = 3.0


class _Kept:
    """One worker's source and target connections, lent from one task of a run to the next
    (as a reader thread and a writer keep theirs from range to range), closed once idle."""

    def __init__(self, run: str, target: Dialect) -> None:
        self.run = run
        self.target = target
        self.conns: tuple[Any, Any] | None = None
        self.timer: threading.Timer | None = None

    def open(self, source: Dialect) -> tuple[Any, Any]:
        if self.conns is None:
            sconn = source.connect()
            try:
                tconn = self.target.connect()
                self.target.begin_load(tconn)
            except BaseException:
                sconn.close()
                raise
            self.conns = (sconn, tconn)
        return self.conns

    def close(self) -> None:
        conns, self.conns = self.conns, None
        if conns is None:
            return
        for conn, end in ((conns[1], self.target.end_load), (conns[0], None)):
            with contextlib.suppress(Exception):  # a broken connection: nothing to undo
                if end is not None:
                    end(conn)
            with contextlib.suppress(Exception):
                conn.close()


_KEPT: list[_Kept] = []  # at most one: a worker runs one task at a time


def _take_kept(run: str) -> _Kept | None:
    with _LOCK:
        kept = _KEPT.pop() if _KEPT else None
    if kept is not None and kept.timer is not None:
        kept.timer.cancel()
    if kept is not None and kept.run != run:
        kept.close()
        return None
    return kept


def _keep(kept: _Kept) -> None:
    def expire() -> None:
        with _LOCK:
            if kept not in _KEPT:
                return
            _KEPT.remove(kept)
        kept.close()

    kept.timer = threading.Timer(KEEP_SECONDS, expire)
    kept.timer.daemon = True
    with _LOCK:
        _KEPT.append(kept)
    kept.timer.start()


_DONE = object()


def _pump(
    source: Dialect, target: Dialect, path: Any, sconn: Any, tconn: Any, job: TableJob,
    chunk: Chunk, max_rows: int, max_bytes: int, out: dict[str, Any], digest: Any,
) -> None:  # fmt: skip
    """Read on a thread of the task, write on the calling one: reads overlap writes."""
    handoff: queue.Queue[Any] = queue.Queue(maxsize=READ_AHEAD)
    stop = StopFlag()

    def read() -> None:
        try:
            for item in read_batches(source, path, sconn, job, chunk, max_rows, max_bytes, stop):
                if stop.is_set():
                    return
                handoff.put(item)
            handoff.put(_DONE)
        except Exception as exc:
            handoff.put(read_failed(source, job, chunk, exc))

    reader = threading.Thread(target=read, name="dmt-range-reader", daemon=True)
    reader.start()
    seq = 0
    try:
        while (item := _take(handoff, out)) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            payload, n, nbytes, read_s, by_path = item
            feed(digest, payload)
            batch = Batch(job, chunk, seq, payload, nbytes, nrows=n, by_path=by_path)
            t0 = time.monotonic()
            try:
                written = path.write(tconn, job, payload) if by_path else target.write_rows(
                    tconn, job.target, payload)  # fmt: skip
            except Exception as exc:
                lost = write_failed(target, batch, exc)
                raise (lost or target.translate_error(
                    exc, "write failed", job.source.name, chunk.describe())) from exc  # fmt: skip
            out["batches"].append((written, nbytes, read_s, time.monotonic() - t0))
            out["rows"] += written
            out["bytes"] += nbytes
            seq += 1
            del batch, payload, item
    finally:
        stop.set()
        while reader.is_alive():  # let a reader blocked on a full hand-off finish
            with contextlib.suppress(queue.Empty):
                handoff.get(timeout=0.05)
        reader.join()


def _take(handoff: queue.Queue[Any], out: dict[str, Any]) -> Any:
    t0 = time.monotonic()
    item = handoff.get()
    out["wait"] = out.get("wait", 0.0) + time.monotonic() - t0
    return item


def feed(digest: Any, payload: Any) -> None:
    """Add one batch to the range's digest: a path's bytes as they are, Arrow data by its
    buffers, rows by their repr (deterministic for the same values in the same order)."""
    if isinstance(payload, bytes | bytearray | memoryview):
        digest.update(payload)
    elif isinstance(getattr(payload, "pieces", None), list):  # a COPY stream's pieces
        for piece in payload.pieces:
            digest.update(piece)
    elif hasattr(payload, "to_batches"):  # an Arrow table
        for rb in payload.to_batches():
            for col in rb.columns:
                for buf in col.buffers():
                    if buf is not None:
                        digest.update(memoryview(buf))
    else:
        digest.update(repr(payload).encode("utf-8", "backslashreplace"))


def _node_load() -> tuple[float, float]:
    """This node's CPU (since this worker's last task) and memory use, in percent."""
    import psutil

    return psutil.cpu_percent(None), psutil.virtual_memory().percent
