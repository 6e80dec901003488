"""What ``dmt calibrate`` prints and charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dmt.errors import ConfigError


def calibrate_text(data: dict[str, Any]) -> str:
    """The table ``dmt calibrate`` prints: each setting measured, and the one chosen."""
    lines = []
    for t in data["tables"]:
        lines.append(f"{t['table']} (~{t['sample_rows']:,} sample rows, path {t['path']}):")
        lines.append(f"  {'writers':>7} {'chunk':>8} {'median rows/s':>14}  repeats")
        chosen = t["chosen"] or {}
        for pt in t["measured"]:
            mark = "  <- chosen" if (pt["writers"], pt["chunk_size"]) == (
                chosen.get("writers"), chosen.get("chunk_size")) else ""  # fmt: skip
            own = (
                " (own settings)" if [pt["writers"], pt["chunk_size"]] == t["own_settings"] else ""
            )
            reps = ", ".join(f"{r:,.0f}" for r in pt["rates"]) or "not measured (budget)"
            lines.append(
                f"  {pt['writers']:>7} {pt['chunk_size']:>8} {pt['median']:>14,.0f}  {reps}"
                f"{own}{mark}"
            )
    lines.append(f"stored as learned starts ({data['run_id']}); took {data['seconds']}s")
    return "\n".join(lines)


def calibrate_plot(data: dict[str, Any], path: Path) -> Path:
    """Each measurement as one step of the chart (rows/s, writers, chunk size)."""
    from dmt.errors import DmtIOError
    from dmt.plot import PlotError, write_plot

    samples, t = [], 0.0
    for table in data["tables"]:
        for pt in table["measured"]:
            for rate in pt["rates"]:
                t += 1.0
                samples.append({"t": t, "at": t, "rows_per_sec": rate, "writers": pt["writers"],
                                "chunk_size": pt["chunk_size"]})  # fmt: skip
    try:
        return write_plot(path, samples, [], f"dmt calibrate {data['run_id']}")
    except PlotError as exc:
        raise ConfigError("--plot", str(exc)) from None
    except OSError as exc:
        raise DmtIOError(f"--plot: cannot write `{path}`: {exc.strerror or exc}") from None
