"""The run summary: the text a person reads and the one JSON object a script parses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
    monitor: dict[str, Any] | None = None
    resumed: bool = False
    #: rows this process wrote to the target: a resume counts only what it copied itself
    rows_copied: int = 0

    @property
    def rows_transferred(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def rows_per_second(self) -> float:
        return self.rows_transferred / self.copy_seconds if self.copy_seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["tables"] = [{**asdict(t), "seconds": round(t.seconds, 3)} for t in self.tables]
        out["rows_transferred"] = self.rows_transferred
        out["rows_per_second"] = round(self.rows_per_second, 1)
        out["duration_seconds"] = round(self.duration_seconds, 3)
        out["copy_seconds"] = round(self.copy_seconds, 3)
        return out

    def text(self) -> str:
        lines = [
            f"Migrated {len(self.tables)} table(s), {self.rows_transferred} rows in "
            f"{self.duration_seconds:.2f}s ({self.rows_per_second:,.0f} rows/s while copying)",
        ]
        width = max((len(t.name) for t in self.tables), default=5)
        for t in self.tables:
            lines.append(f"  {t.name:<{width}}  {t.rows:>12,} rows  {t.seconds:8.2f}s")
        if self.value_conversions:
            conv = ", ".join(f"{k}={v}" for k, v in sorted(self.value_conversions.items()))
            lines.append(f"  values converted: {conv}")
        if self.adjustments:
            lines.append(f"  runtime adjustments applied: {len(self.adjustments)}")
        ai = (self.monitor or {}).get("ai") or {}
        if ai.get("calls"):
            lines.append(
                f"  AI: {ai['calls']} call(s), {ai.get('input_tokens', 0)}+"
                f"{ai.get('output_tokens', 0)} tokens, ${ai.get('cost_usd', 0):.4f}"
            )
        return "\n".join(lines)


def plan_text(data: dict[str, Any]) -> str:
    """``dmt plan``'s text: tables, what the target loses or gains, what is not migrated."""
    lines = [f"Plan: {data['source']} -> {data['target']}"]
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
    nm = data["not_migrated"]
    for kind in ("views", "triggers", "routines"):
        if nm[kind]:
            lines.append(f"Not migrated ({kind}): {', '.join(nm[kind])}")
    for w in data["warnings"]:
        lines.append(f"Warning: {w}")
    return "\n".join(lines)
