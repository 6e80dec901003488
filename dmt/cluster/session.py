"""The run's connection to Ray: joining (or starting) the cluster, the key-range task, the
cluster's shape, and the one place that knows Ray's exceptions.

What Ray is given: the task's name (``dmt:<table>:<chunk index>``, no key values), the
:class:`~dmt.cluster.task.RunSpec` (no secret; put in the object store once per run) and, as
an inline task argument, the two passwords. Inline arguments travel inside the task's
specification, held in memory by the driver, the raylet and the worker; Ray's state API and
dashboard list a task's name, function, state, node and error, never its arguments, and no
runtime_env or job metadata is set (docs/distributed.md; tests/test_ray_local.py greps
Ray's session folder and task list for a password).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import ray

from dmt.cluster.task import RunSpec, copy_range
from dmt.errors import ConnectError
from dmt.model.ranges import Chunk

log = logging.getLogger("dmt")


@ray.remote(num_cpus=1, max_retries=0)
def _copy_range_task(
    spec: RunSpec, passwords: tuple[str | None, str | None], table: str, chunk: Chunk,
    max_rows: int, max_bytes: int,
) -> dict[str, Any]:  # fmt: skip
    node = ray.get_runtime_context().get_node_id()
    return copy_range(spec, passwords, table, chunk, max_rows, max_bytes, node)


class RaySession:
    """Ray for one run: :meth:`open` joins the cluster ``address`` names (or starts a local one
    with ``local``; reuses the connection a embedding process already made), :meth:`close`
    leaves it (and stops the local cluster it started)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.owned = False
        self.spec_ref: Any = None
        self._passwords: tuple[str | None, str | None] = (None, None)
        self._shape: tuple[int, float] = (1, 1.0)
        self._shape_at = 0.0

    def open(self) -> None:
        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,  # the tasks' logs stay in Ray's session folder
            "logging_level": logging.WARNING,
        }
        try:
            if self.address == "local":  # one machine: loopback only, and the copy is the
                # work, not a guest: Ray's workers run at nice 15 unless told otherwise
                os.environ.setdefault("RAY_worker_niceness", "0")
                ray.init(_node_ip_address="127.0.0.1", **kwargs)
            else:
                ray.init(address=self.address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConnectError(
                "the Ray cluster", f"`ray.address: {self.address}`: {str(exc).splitlines()[0]}"
                " (start one with `ray start --head`, or set `ray.address: local`)",
            ) from None  # fmt: skip
        self.owned = True
        nodes, cpus = self.shape()
        log.info("running key ranges on Ray: %d node(s), %g CPU(s)", nodes, cpus)

    def close(self) -> None:
        if self.owned:
            self.owned = False
            ray.shutdown()

    def start_run(self, spec: RunSpec, passwords: tuple[str | None, str | None]) -> None:
        """Hand the run's spec to the object store; the passwords stay here until each task
        is submitted."""
        self.spec_ref = ray.put(spec)
        self._passwords = passwords

    def submit(self, table: str, chunk: Chunk, max_rows: int, max_bytes: int) -> Any:
        task = _copy_range_task.options(name=f"dmt:{table}:{chunk.index}")
        return task.remote(self.spec_ref, self._passwords, table, chunk, max_rows, max_bytes)

    @staticmethod
    def wait(refs: list[Any], timeout: float) -> list[Any]:
        ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        return list(ready)

    @staticmethod
    def outcome(ref: Any) -> dict[str, Any]:
        """A finished task's outcome; a task Ray lost (its worker or node died, it was
        cancelled) as an error worth copying the range again for."""
        try:
            return dict(ray.get(ref))
        except ray.exceptions.RayTaskError as exc:  # the task's own code failed to run
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[-1][:300]
            return {"error": {"kind": "TransferError", "message": why, "exit_code": 3,
                              "retry": False}}  # fmt: skip
        except ray.exceptions.RayError as exc:
            first = (str(exc).strip().splitlines() or [""])[0].split(". ")[0].rstrip(".")
            why = f"Ray lost the task ({type(exc).__name__}: {first[:200]})"
            return {"error": {"kind": "ConnectionLost", "message": why, "exit_code": 2,
                              "retry": True}}  # fmt: skip

    @staticmethod
    def cancel(ref: Any) -> None:
        try:
            ray.cancel(ref, force=True)
        except Exception as exc:  # already finished, or its node is gone
            log.debug("cancelling a Ray task failed: %s", exc)

    def shape(self) -> tuple[int, float]:
        """(alive nodes, CPUs) of the cluster, asked at most every 5 seconds."""
        now = time.monotonic()
        if now - self._shape_at >= 5.0:
            alive = [n for n in ray.nodes() if n.get("Alive")]
            cpus = sum(float(n.get("Resources", {}).get("CPU", 0.0)) for n in alive)
            self._shape, self._shape_at = (len(alive), cpus), now
        return self._shape
