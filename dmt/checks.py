"""The read-only commands' work: probing both endpoints (``dmt status``) and validating a
target as it stands (``dmt validate``). Nothing here writes to either database."""

from __future__ import annotations

import threading
import time
from typing import Any

from dmt.config import Config, Endpoint
from dmt.dialects.base import get_dialect
from dmt.errors import DmtError, ValidationMismatch
from dmt.logs import redact
from dmt.plan import make_plan
from dmt.signals import signals_to
from dmt.validate import ValidationReport, validate


def probe(endpoint: Endpoint, side: str) -> dict[str, Any]:
    """Connect to one endpoint: engine, server version, latency, table count, or the error."""
    info: dict[str, Any] = {"endpoint": endpoint.describe(), "engine": endpoint.engine}
    try:
        d = get_dialect(endpoint, side)
        conn = d.connect()
        try:
            t0 = time.perf_counter()
            d.ping(conn)
            info["latency_ms"] = round((time.perf_counter() - t0) * 1000, 2)
            info["server_version"] = d.server_version(conn)
            info["tables"] = len(d.existing_tables(conn))
            info["ok"] = True
        finally:
            conn.close()
    except DmtError as exc:
        info.update(ok=False, error=redact(str(exc)))
    return info


class ValidationResult:
    """A validation report where ``ValidationMismatch.result`` expects a run result."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report

    def to_json(self) -> dict[str, Any]:
        r = self.report
        return {"mode": r.mode, "seconds": round(r.seconds, 3), "tables": r.to_json()}


def validate_target(cfg: Config, mode: str | None) -> tuple[str, ValidationReport]:
    """Compare the planned tables as they stand, in ``mode`` (default: the config's
    ``migration.validate``, ``count`` when that is ``none``). A planned table missing on the
    target, or any difference, raises ValidationMismatch."""
    m = cfg.migration
    how = mode or (m.validate if m.validate != "none" else "count")
    p = make_plan(cfg)
    actions = p.target_actions
    existing = set(actions.dropped) | set(actions.emptied) | set(actions.kept)
    missing = [t.target.name for t in p.tables if t.target.name not in existing]
    if missing:
        raise ValidationMismatch([f"table `{t}` does not exist on the target" for t in missing])
    abort = threading.Event()
    with signals_to(abort):
        report = validate(
            p.source, p.target, p.tables, how,
            chunk_size=m.chunk_size, tables_in_flight=m.tables_in_flight, abort=abort,
        )  # fmt: skip
    if report.mismatches:
        raise ValidationMismatch(report.mismatches, result=ValidationResult(report))
    return how, report
