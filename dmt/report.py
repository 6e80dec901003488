"""The run summary: the text a person reads and the one JSON object a script parses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dmt.validate import TableCheck


@dataclass
class TableSummary:
    name: str
    rows: int
    seconds: float
    path: str = "rows"


@dataclass
class RunResult:
    """What a finished (or validated-but-mismatched) run reports."""

    run_id: str
    status: str
    source: str
    target: str
    tables: list[TableSummary]
    duration_seconds: float
    copy_seconds: float
    adjustments: list[dict[str, Any]] = field(default_factory=list)
    value_conversions: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    #: the plan's warnings by kind, each with ``happened``: values converted of that kind
    #: during the copy (None where the kind is not counted)
    warning_groups: list[dict[str, Any]] = field(default_factory=list)
    monitor: dict[str, Any] | None = None
    resumed: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)  # the final values of the live metrics
    #: seconds from the process start (interpreter start-up included) to the commit of the
    #: first and of the last batch holding rows; None when no row was written
    first_row_s: float | None = None
    last_row_s: float | None = None
    #: rows this process wrote to the target: a resume counts only what it copied itself
    rows_copied: int = 0

    @property
    def rows_transferred(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def rows_per_second(self) -> float:
        return self.rows_transferred / self.copy_seconds if self.copy_seconds > 0 else 0.0

    def ai_cost_per_hour(self) -> float | None:
        """The AI's cost (from the tokens the API reported) per hour of this run."""
        ai = (self.monitor or {}).get("ai") or {}
        if not ai.get("calls") or self.duration_seconds <= 0:
            return None
        return float(ai.get("cost_usd") or 0.0) * 3600 / self.duration_seconds

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        hourly = self.ai_cost_per_hour()
        out["ai_cost_per_hour_usd"] = None if hourly is None else round(hourly, 4)
        out["tables"] = [{**asdict(t), "seconds": round(t.seconds, 3)} for t in self.tables]
        out["rows_transferred"] = self.rows_transferred
        out["rows_per_second"] = round(self.rows_per_second, 1)
        out["duration_seconds"] = round(self.duration_seconds, 3)
        out["copy_seconds"] = round(self.copy_seconds, 3)
        for key in ("first_row_s", "last_row_s"):
            out[key] = None if out[key] is None else round(out[key], 3)
        return out

    def text(self) -> str:
        lines = [
            f"Migrated {len(self.tables):,} table(s), {self.rows_transferred:,} rows in "
            f"{self.duration_seconds:.2f}s ({self.rows_per_second:,.0f} rows/s while copying)",
        ]
        width = max((len(t.name) for t in self.tables), default=5)
        for t in self.tables:
            lines.append(f"  {t.name:<{width}}  {t.rows:>12,} rows  {t.seconds:8.2f}s")
        if self.value_conversions:
            conv = ", ".join(f"{k}={v:,}" for k, v in sorted(self.value_conversions.items()))
            lines.append(f"  values converted: {conv}")
        for g in self.warning_groups:
            mark = ""
            if g.get("happened") is not None:
                n = g["happened"]
                mark = f" [happened: {n:,} values]" if n else " [did not happen]"
            lines.append(f"  warning: {g['summary']}{mark}")
        if self.adjustments:
            lines.append(f"  runtime adjustments applied: {len(self.adjustments):,}")
        ai = (self.monitor or {}).get("ai") or {}
        if ai.get("calls"):
            hourly = self.ai_cost_per_hour()
            lines.append(
                f"  AI: {ai['calls']:,} call(s), {ai.get('input_tokens', 0):,}+"
                f"{ai.get('output_tokens', 0):,} tokens, ${ai.get('cost_usd', 0):.4f}"
                + (f" (${hourly:.2f}/hour at this run's rate)" if hourly is not None else "")
            )
        return "\n".join(lines)


def happened(groups: list[Any], conversions: dict[str, int]) -> list[dict[str, Any]]:
    """Each warning group (:class:`dmt.schema.notices.WarningGroup`) as a dict, marked with
    how many values of its kind the run converted."""
    return [{**g.to_dict(), "happened": g.happened(conversions)} for g in groups]


def plan_text(data: dict[str, Any], verbose: bool = False) -> str:
    """``dmt plan``'s text: tables, what the target loses or gains, what is not migrated, and
    one line per kind of warning (``verbose``: every warning under its kind)."""
    lines = [f"Plan: {data['source']} -> {data['target']}"]
    if data.get("consistency") == "snapshot":
        held = (
            "; the copied tables are held still: writers to them wait until the copy ends"
            " (MySQL: unless data_path: rows)"
            if data.get("snapshot_holds_writers")
            else ""
        )
        lines.append(f"Consistency: snapshot (every reader reads one moment of the source{held})")
    elif data.get("consistency"):
        lines.append(
            "Consistency: none (each reader reads what is committed when it reads; a source "
            "written to during the copy may arrive inconsistent)"
        )
    if data.get("executor") == "ray":
        lines.append(f"Executor: ray ({cluster_consistency(data)})")
    for t in data["tables"]:
        lines.append(
            f"  {t['source']} -> {t['target']}  (~{t['rows_estimate']:,} rows, "
            f"{len(t['columns'])} columns, key: {', '.join(t['primary_key']) or 'none'})"
        )
    for label, key in (
        ("drop", "will_drop"),
        ("create", "will_create"),
        ("empty", "will_empty"),
        ("append to", "will_append"),
    ):
        if data[key]:
            lines.append(f"Will {label}: {', '.join(data[key])}")
    for start in data.get("learned_starts", ()):
        lines.append(f"Learned start: {start['line']}")
    nm = data["not_migrated"]
    for kind in ("views", "triggers", "routines"):
        if nm[kind]:
            lines.append(f"Not migrated ({kind}): {', '.join(nm[kind])}")
    for g in data["warning_groups"]:
        lines.append(f"Warning: {g['summary']}")
        if verbose:
            lines += [f"  {m}" for m in g["messages"]]
    return "\n".join(lines)


def status_text(out: dict[str, dict[str, Any]]) -> str:
    """``dmt status``'s text: one line per side."""
    lines = []
    for side, info in out.items():
        if info["ok"]:
            lines.append(
                f"{side}: {info['endpoint']}  {info['server_version']}  "
                f"latency {info['latency_ms']} ms  {info['tables']:,} table(s)"
            )
        else:
            lines.append(f"{side}: {info['endpoint']}  FAILED: {info['error']}")
    return "\n".join(lines)


def validate_text(how: str, tables: Sequence[TableCheck]) -> str:
    """``dmt validate``'s text: what was found equal, table by table."""
    lines = []
    for t in tables:
        what = "rows" if how == "count" else f"rows, {t.chunks:,} chunk(s) with equal checksums"
        lines.append(f"{t.table}: {t.source_rows:,} {what} on both sides")
    return "\n".join(lines)


def cluster_consistency(data: dict[str, Any]) -> str:
    """What the Ray tasks of a run read (docs/distributed.md, "Consistency")."""
    if data.get("consistency") != "snapshot":
        return "each task reads what is committed when it runs"
    if data.get("snapshot_holds_writers"):
        return (
            "the driver holds the copied tables still for the whole copy, so every task on "
            "every node reads that one moment; with data_path: rows a MySQL source is not held "
            "and each task reads what is committed when it runs"
        )
    return "every task on every node imports the driver's exported snapshot"
