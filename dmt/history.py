"""`dmt history`: past runs and one run's tables and runtime decisions, as text and JSON."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from dmt.errors import ConfigError, DmtIOError
from dmt.state import StateStore


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _duration(run: dict[str, Any]) -> float | None:
    return run["ended"] - run["started"] if run.get("ended") else None


def show(folder: Path, run_id: str | None, plot: Path | None) -> tuple[str, dict[str, Any]]:
    """``dmt history``: the text and JSON of the runs in ``folder``, or of one run (charted to
    ``plot`` when given)."""
    store = StateStore(folder)
    try:
        text, data = render_run(store, run_id) if run_id else render_runs(store)
        if plot is not None and run_id:
            written = plot_run(store, run_id, plot)
            text += f"\nchart written to {written}"
            data["plot"] = str(written)
    finally:
        store.close()
    return text, data


def render_runs(store: StateStore) -> tuple[str, dict[str, Any]]:
    runs = store.runs()
    rows = []
    lines = [f"{'run':<13} {'started':<19} {'duration':>9} {'status':<20} {'rows':>12} "
             f"{'rows/s':>10} {'adjust':>6}"]  # fmt: skip
    for r in runs:
        d = _duration(r)
        adjust = sum(1 for a in store.adjustments(r["id"]) if a.get("kind") == "applied")
        rows.append({
            "id": r["id"], "started": r["started"], "duration_seconds": d, "status": r["status"],
            "phase": r["phase"], "rows": r["rows"], "rows_per_second": r["rows_per_second"],
            "adjustments_applied": adjust, "source": r["source"], "target": r["target"],
        })  # fmt: skip
        lines.append(
            f"{r['id']:<13} {_when(r['started']):<19} "
            f"{(f'{d:.1f}s' if d is not None else '-'):>9} {r['status']:<20} {r['rows']:>12,} "
            f"{(r['rows_per_second'] or 0):>10,.0f} {adjust:>6}"
        )
    if not runs:
        lines = ["no runs recorded yet"]
    return "\n".join(lines), {"runs": rows}


def render_run(store: StateStore, run_id: str) -> tuple[str, dict[str, Any]]:
    run = store.run(run_id)
    if run is None:
        raise ConfigError("--run", f"no run `{run_id}` in {store.path}")
    tables = store.tables(run["id"])
    adjustments = store.adjustments(run["id"])
    d = _duration(run)
    lines = [
        f"run {run['id']}: {run['status']} (phase {run['phase']}), {run['source']} -> "
        f"{run['target']}",
        f"  started {_when(run['started'])}, "
        + (f"took {d:.1f}s, " if d is not None else "")
        + f"{run['rows']:,} rows, {(run['rows_per_second'] or 0):,.0f} rows/s",
    ]
    if run.get("error"):
        lines.append(f"  error: {run['error']}")
    lines.append("  tables:")
    for t in tables:
        lines.append(
            f"    {t['name']:<30} {t['status']:<8} {t['rows_done']:>12,} rows  "
            f"{t['chunks_done']:,}/{t['chunks']:,} chunks"
        )
    decisions = [a for a in adjustments if a.get("kind") == "decision"]
    applied = [a for a in adjustments if a.get("kind") == "applied"]
    samples = [a for a in adjustments if a.get("kind") == "sample"]
    starts = [a for a in adjustments if a.get("kind") == "start"]
    for a in starts:
        lines.append(
            f"  {a['table']} votes: starting at {a['writers']} writers / {a['chunk_size']} rows "
            f"({a['how']}, from runs {', '.join(r[:6] for r in a['runs'])})"
        )
    if samples:
        lines.append(
            f"  monitor: {len(samples):,} interval samples over {samples[-1].get('t', 0):.0f}s "
            "(draw them with --plot out.svg|out.html|out.png)"
        )
    if decisions:
        lines.append("  decisions:")
        for a in decisions:
            effect = a.get("effect_percent")
            eff = f"{effect:+.1f}%" if isinstance(effect, int | float) else "n/a"
            lines.append(
                f"    #{a['id']} {a['source']:<8} {a['action']:<12} writers "
                f"{a['writers_before']}->{a['writers_after']}, chunk {a['chunk_size_before']:,}->"
                f"{a['chunk_size_after']:,}, effect {eff}"
                f"{' (reverted)' if a.get('reverted') else ''} - {a.get('reasoning', '')}"
            )
    if applied:
        lines.append("  applied in the pipeline:")
        for a in applied:
            lines.append(
                f"    at {a['at_seconds']:.1f}s {a['knob']} {a['before']:,} -> {a['after']:,} "
                f"({a['source']}, table {a.get('table')})"
            )
    data = {
        "run": {k: v for k, v in run.items() if k not in ("result", "settings")},
        "settings": json.loads(run["settings"]),
        "tables": tables,
        "decisions": decisions,
        "applied": applied,
        "samples": [{k: v for k, v in a.items() if k != "kind"} for a in samples],
        "learned_starts": [{k: v for k, v in a.items() if k != "kind"} for a in starts],
    }
    return "\n".join(lines), data


def plot_run(store: StateStore, run_id: str, path: Path) -> Path:
    """Draw one run's throughput, writers and chunk size over time with its decisions marked
    (format from the suffix: .svg, .html or .png)."""
    from dmt.plot import PlotError, write_plot

    run = store.run(run_id)
    if run is None:
        raise ConfigError("--run", f"no run `{run_id}` in {store.path}")
    adjustments = store.adjustments(run["id"])
    samples = [a for a in adjustments if a.get("kind") == "sample"]
    decisions = [a for a in adjustments if a.get("kind") == "decision"]
    title = f"dmt run {run['id']}: {run['source']} → {run['target']} ({run['status']})"
    try:
        if not samples:
            raise PlotError(
                f"run `{run['id']}` has no monitor samples: only runs with "
                "migration.ai_adjust: true record a time series"
            )
        return write_plot(path, samples, decisions, title)
    except PlotError as exc:
        raise ConfigError("--plot", str(exc)) from None
    except OSError as exc:
        raise DmtIOError(f"--plot: cannot write `{path}`: {exc.strerror or exc}") from None
