"""Validation cost for ``pipeline_bench.py --validate``: ``dmt validate --mode count`` and
``--mode checksum`` of the table a direction has just copied, timed against that copy.

Two ratios per mode: **phase** = the validation's own seconds (``seconds`` in
``dmt validate --output-json``) over the copy phase's (``copy_seconds`` of ``dmt run``), the
targets' measure (checksum ≤ 1.0, count ≤ 0.1); **wall** = the ``dmt validate`` process over
the ``dmt run`` process, both from start to exit (start-up, reflection and, for the run, post-load
included).
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

#: the largest ratio of validation to copy time each mode may take (issue 18)
TARGETS = {"count": 0.1, "checksum": 1.0}
MODES = ("count", "checksum")


class _Proc(Protocol):
    rc: int | None
    seconds: float
    stdout: str
    stderr: str
    timed_out: bool


@dataclass
class ValSample:
    ok: bool
    wall: float | None = None  # the dmt validate process, start to exit
    seconds: float | None = None  # the validation phase, as dmt reports it
    error: str | None = None


def run_validate(cfg: Path, mode: str, timeout: float, run_timed: Any) -> ValSample:
    """``dmt validate -c cfg --mode mode --output-json``; a mismatch (exit 4) is a failure."""
    argv = [sys.executable, "-m", "dmt", "validate", "-c", str(cfg), "--mode", mode]
    p: _Proc = run_timed([*argv, "--output-json"], timeout)
    if p.timed_out:
        return ValSample(False, p.seconds, error=f"killed after {timeout:.0f}s")
    if p.rc != 0:
        lines = [ln for ln in (p.stderr or p.stdout).splitlines() if ln.strip()]
        return ValSample(False, p.seconds, error=f"exit {p.rc}: {lines[-1] if lines else ''}")
    try:
        seconds = float(json.loads(p.stdout)["seconds"])
    except (ValueError, KeyError, TypeError):
        return ValSample(False, p.seconds, error="stdout is not dmt validate's JSON")
    return ValSample(True, p.seconds, seconds)


@dataclass
class Validation:
    """The validation samples of one (direction, table), against its copy's median times."""

    copy_wall: float | None  # the dmt run process
    copy_phase: float | None  # its copy phase
    samples: dict[str, list[ValSample]] = field(default_factory=lambda: {m: [] for m in MODES})

    def _median(self, mode: str, what: str) -> float | None:
        got = [getattr(s, what) for s in self.samples[mode] if s.ok]
        return statistics.median(got) if got else None

    def ratios(self, mode: str) -> tuple[float | None, float | None]:
        """(phase ratio, wall ratio) of ``mode``."""
        phase, wall = self._median(mode, "seconds"), self._median(mode, "wall")
        return (
            phase / self.copy_phase if phase is not None and self.copy_phase else None,
            wall / self.copy_wall if wall is not None and self.copy_wall else None,
        )

    def error(self) -> str | None:
        return next((s.error for m in MODES for s in self.samples[m] if not s.ok), None)

    def line(self) -> str:
        """``count 0.02x (wall 0.31x, 0.4s)  checksum 0.71x (wall 0.80x, 4.1s)  PASS``."""
        parts, verdict = [], "PASS"
        for mode in MODES:
            phase, wall = self.ratios(mode)
            secs = self._median(mode, "seconds")
            if phase is None or wall is None or secs is None:
                parts.append(f"{mode} -")
                verdict = "FAIL"
                continue
            parts.append(f"{mode} {phase:.2f}x (wall {wall:.2f}x, {secs:.1f}s)")
            if phase > TARGETS[mode] and verdict == "PASS":
                verdict = "MISS"
        err = self.error()
        return "  validate: " + "  ".join(parts) + f"  {verdict}" + (f" ({err})" if err else "")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "copy_wall_seconds": self.copy_wall,
            "copy_phase_seconds": self.copy_phase,
            "error": self.error(),
        }
        for mode in MODES:
            phase, wall = self.ratios(mode)
            out[mode] = {
                "seconds": self._median(mode, "seconds"),
                "wall_seconds": self._median(mode, "wall"),
                "ratio_to_copy_phase": phase,
                "ratio_to_copy_wall": wall,
                "target_ratio": TARGETS[mode],
                "samples": [asdict(s) for s in self.samples[mode]],
            }
        return out
