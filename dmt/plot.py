"""Charts of a run's runtime tuning: throughput, writers and chunk size over time, with every
decision marked. SVG and HTML are written by hand (no dependency); PNG needs matplotlib.

The input is what the monitor persisted: per-interval ``samples`` (``t``, ``at``,
``rows_per_sec``, ``writers``, ``chunk_size``, ...) and decision ``records`` (``id``, ``at``,
``source``, ``action``, the settings before and after, ``reasoning``, ``effect_percent``).
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["FORMATS", "PlotError", "render", "write_plot"]

FORMATS = ("svg", "html", "png")
COLORS = {
    "fallback": "#1f77b4",
    "ai": "#9467bd",
    "cache": "#9467bd",
    "rollback": "#d62728",
    "manual": "#7f7f7f",
}
PANELS = (
    ("rows_per_sec", "throughput (rows/s)", "#2ca02c"),
    ("writers", "writers", "#ff7f0e"),
    ("chunk_size", "chunk size (rows)", "#17becf"),
)
W, PANEL_H, LEFT, RIGHT, TOP, GAP, BOTTOM = 960, 150, 80, 20, 40, 30, 60


class PlotError(ValueError):
    """The chart cannot be made (no samples, unknown format, missing matplotlib)."""


def _t0(samples: Sequence[dict[str, Any]]) -> float:
    s = samples[0]
    return float(s["at"]) - float(s["t"])


def decision_times(
    samples: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]]
) -> list[tuple[float, dict[str, Any]]]:
    """Each decision with its time on the samples' timeline: its own ``t``, or (a record
    without one) its monotonic ``at`` against the first sample's."""
    t0 = _t0(samples)
    out = []
    for r in records:
        if r.get("t") is not None:
            out.append((float(r["t"]), r))
        elif r.get("at") is not None:
            out.append((float(r["at"]) - t0, r))
    return out


def _nice(hi: float) -> float:
    """A round axis maximum ≥ ``hi``."""
    if hi <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(hi))
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * mag >= hi:
            return m * mag
    return 10 * mag


def _num(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def _label(r: dict[str, Any]) -> str:
    eff = r.get("effect_percent")
    effect = f", effect {eff:+.1f}%" if isinstance(eff, int | float) else ""
    return (
        f"#{r.get('id')} {r.get('source')} {r.get('action')}: writers {r.get('writers_before')}"
        f"→{r.get('writers_after')}, chunk {r.get('chunk_size_before')}→"
        f"{r.get('chunk_size_after')}{effect}{' (reverted)' if r.get('reverted') else ''}"
        f" — {r.get('reasoning', '')}"
    )


def svg(
    samples: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]], title: str = ""
) -> str:
    """The chart as a standalone SVG document."""
    if not samples:
        raise PlotError("the run has no monitor samples (was migration.ai_adjust on?)")
    ts = [float(s["t"]) for s in samples]
    t_max = max(ts[-1], 1e-9)
    plot_w = W - LEFT - RIGHT
    height = TOP + len(PANELS) * (PANEL_H + GAP) + BOTTOM - GAP

    def x(t: float) -> float:
        return LEFT + plot_w * max(0.0, min(t, t_max)) / t_max

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" '
        f'viewBox="0 0 {W} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{W}" height="{height}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="14" font-weight="bold">{html.escape(title)}</text>',
    ]
    decisions = decision_times(samples, records)
    for i, (key, name, color) in enumerate(PANELS):
        top = TOP + i * (PANEL_H + GAP)
        bottom = top + PANEL_H
        values = [float(s.get(key) or 0) for s in samples]
        y_max = _nice(max(values) * 1.05)

        def y(v: float, top: float = top, y_max: float = y_max) -> float:
            return top + PANEL_H * (1 - v / y_max)

        out.append(
            f'<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL_H}" fill="#fafafa" '
            'stroke="#ccc"/>'
        )
        out.append(f'<text x="{LEFT + 4}" y="{top + 13}" fill="#333">{html.escape(name)}</text>')
        for k in range(5):
            v = y_max * k / 4
            yy = y(v)
            out.append(
                f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{yy:.1f}" y2="{yy:.1f}" '
                'stroke="#e5e5e5"/>'
            )
            out.append(
                f'<text x="{LEFT - 6}" y="{yy + 4:.1f}" text-anchor="end" fill="#555">'
                f"{_num(v)}</text>"
            )
        # every sample covers the interval that ends at its time: draw steps
        path = f"M{x(0):.1f},{y(values[0]):.1f}"
        for j, v in enumerate(values):
            path += f" L{x(ts[j - 1] if j else 0):.1f},{y(v):.1f} L{x(ts[j]):.1f},{y(v):.1f}"
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="1.8"/>')
        for t, r in decisions:
            c = COLORS.get(str(r.get("source")), "#333")
            out.append(
                f'<line class="decision-line" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" '
                f'y2="{bottom}" stroke="{c}" stroke-dasharray="3,3" stroke-width="1"/>'
            )
    # markers with the decision number above the first panel, tooltips with the reasoning
    for t, r in decisions:
        c = COLORS.get(str(r.get("source")), "#333")
        xx = x(t)
        shape = (
            "▲"
            if (r.get("writers_after", 0) or 0) > (r.get("writers_before", 0) or 0)
            else (
                "▼" if (r.get("writers_after", 0) or 0) < (r.get("writers_before", 0) or 0) else "◆"
            )
        )
        out.append(
            f'<g class="decision" data-id="{html.escape(str(r.get("id")))}" '
            f'data-source="{html.escape(str(r.get("source")))}">'
            f"<title>{html.escape(_label(r))}</title>"
            f'<text x="{xx:.1f}" y="{TOP - 4}" text-anchor="middle" fill="{c}">{shape}'
            f"{html.escape(str(r.get('id')))}</text></g>"
        )
    axis_y = TOP + len(PANELS) * (PANEL_H + GAP) - GAP
    for k in range(6):
        t = t_max * k / 5
        out.append(
            f'<text x="{x(t):.1f}" y="{axis_y + 16}" text-anchor="middle" fill="#555">'
            f"{t:.0f}s</text>"
        )
    legend = "  ".join(f"{src}" for src in ("fallback", "ai", "rollback"))
    out.append(
        f'<text x="{LEFT}" y="{axis_y + 36}" fill="#555">time since the monitor started · '
        f"decisions: ▲ more writers, ▼ fewer, ◆ chunk size; colour = source ({legend})</text>"
    )
    x0 = LEFT + 560
    for j, src in enumerate(("fallback", "ai", "rollback")):
        out.append(
            f'<rect x="{x0 + j * 80}" y="{axis_y + 27}" width="10" height="10" '
            f'fill="{COLORS[src]}"/><text x="{x0 + j * 80 + 14}" y="{axis_y + 36}">{src}</text>'
        )
    out.append("</svg>")
    return "\n".join(out)


def html_page(
    samples: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]], title: str = ""
) -> str:
    """A self-contained HTML report: the SVG chart and a table of the decisions."""
    rows = []
    for t, r in decision_times(samples, records):
        eff = r.get("effect_percent")
        rows.append(
            f'<tr class="decision-row"><td>#{html.escape(str(r.get("id")))}</td>'
            f"<td>{t:.1f}s</td><td>{html.escape(str(r.get('source')))}</td>"
            f"<td>{html.escape(str(r.get('action')))}</td>"
            f"<td>{r.get('writers_before')} → {r.get('writers_after')}</td>"
            f"<td>{r.get('chunk_size_before')} → {r.get('chunk_size_after')}</td>"
            f"<td>{f'{eff:+.1f}%' if isinstance(eff, int | float) else 'n/a'}"
            f"{' (reverted)' if r.get('reverted') else ''}</td>"
            f"<td>{html.escape(str(r.get('reasoning', '')))}</td></tr>"
        )
    table = (
        "<table><tr><th>decision</th><th>at</th><th>source</th><th>action</th><th>writers</th>"
        "<th>chunk size</th><th>effect</th><th>why</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p>No decisions were made.</p>"
    )
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;margin:20px}}"
        "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ddd;"
        "padding:3px 6px;text-align:left}</style></head><body>\n"
        f"{svg(samples, records, title)}\n{table}\n</body></html>\n"
    )


def png(
    samples: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]], path: Path, title: str
) -> None:
    """The same chart with matplotlib (an optional dependency: ``pip install 'dmt[plot]'``)."""
    if not samples:
        raise PlotError("the run has no monitor samples (was migration.ai_adjust on?)")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotError(
            "PNG output needs matplotlib (pip install 'dmt[plot]'); .svg and .html need nothing"
        ) from None
    ts = [float(s["t"]) for s in samples]
    fig, axes = plt.subplots(len(PANELS), 1, sharex=True, figsize=(10, 7))
    for ax, (key, name, color) in zip(axes, PANELS, strict=True):
        values = [float(s.get(key) or 0) for s in samples]
        ax.step(ts, values, where="pre", color=color)
        ax.set_ylabel(name)
        ax.set_ylim(bottom=0)
        for t, r in decision_times(samples, records):
            ax.axvline(t, color=COLORS.get(str(r.get("source")), "#333"), ls="--", lw=0.8)
    for t, r in decision_times(samples, records):
        axes[0].annotate(
            f"#{r.get('id')}", (t, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
            ha="center", va="bottom",
        )  # fmt: skip
    axes[-1].set_xlabel("seconds since the monitor started")
    fig.suptitle(textwrap.fill(title, 110), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(
    samples: Sequence[dict[str, Any]],
    records: Sequence[dict[str, Any]],
    *,
    title: str = "",
    fmt: str = "svg",
) -> str:
    """The chart as text: ``svg`` or ``html``."""
    if fmt == "svg":
        return svg(samples, records, title)
    if fmt == "html":
        return html_page(samples, records, title)
    raise PlotError(f"cannot render `{fmt}` as text; use svg or html")


def write_plot(
    path: Path,
    samples: Sequence[dict[str, Any]],
    records: Sequence[dict[str, Any]],
    title: str = "",
) -> Path:
    """Write the chart; the format follows the file's suffix (.svg, .html/.htm, .png)."""
    suffix = path.suffix.lower().lstrip(".")
    fmt = "html" if suffix == "htm" else suffix
    if fmt not in FORMATS:
        raise PlotError(f"--plot {path}: unknown format `.{suffix}`; use .svg, .html or .png")
    if fmt == "png":
        png(samples, records, path, title)
    else:
        path.write_text(render(samples, records, title=title, fmt=fmt), encoding="utf-8")
    return path
