"""What validation found, per table and in all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TableCheck:
    """The outcome for one table: rows on each side, chunks compared, the first mismatch."""

    table: str
    source_rows: int
    target_rows: int
    chunks: int = 0
    mismatch: str | None = None


@dataclass
class ValidationReport:
    mode: str
    tables: list[TableCheck] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the whole validation

    @property
    def mismatches(self) -> list[str]:
        return [t.mismatch for t in self.tables if t.mismatch]

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {"table": t.table, "source_rows": t.source_rows, "target_rows": t.target_rows,
             "chunks": t.chunks, "mismatch": t.mismatch}
            for t in self.tables
        ]  # fmt: skip
