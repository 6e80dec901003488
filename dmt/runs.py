"""Opening a run's record in the state store: a new run, or the unfinished one a resume
continues."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from dmt.config import Config
from dmt.dialects.base import get_dialect
from dmt.dialects.snapshot import RESUMED
from dmt.errors import ConfigError, ConnectionLost, DmtError
from dmt.plan import fingerprint_parts, setting_changes
from dmt.state import StateStore, fingerprint

log = logging.getLogger("dmt")


def open_run(store: StateStore, cfg: Config, resume: bool, force: bool) -> tuple[str, str]:
    """Open the run record: the latest unfinished run into this target when resuming (its
    config must match, or ``force``), else a new run (an unfinished older one is abandoned).
    Returns (run id, phase to start from)."""
    parts = fingerprint_parts(cfg)
    fp = fingerprint(parts)
    target_id = cfg.target.describe()
    if resume:
        prev = store.latest_unfinished(target_id)
        if prev is None:
            raise ConfigError(
                "", f"nothing to resume for {target_id}: its latest run finished "
                "(or none was started); use `dmt run`",
            )  # fmt: skip
        if prev["fingerprint"] != fp:
            changed = setting_changes(json.loads(prev["settings"]), parts)
            if not force:
                raise ConfigError(
                    "", f"run `{prev['id']}` was started with a different config ("
                    + "; ".join(changed) + "); resume with --force to accept the change",
                )  # fmt: skip
            log.warning("resuming with a changed config (--force): %s", "; ".join(changed))
        store.resume_run(prev["id"])
        new = f"; {RESUMED}" if cfg.migration.consistency == "snapshot" else ""
        log.info("Resuming run %s from phase `%s`%s", prev["id"], prev["phase"], new)
        return prev["id"], prev["phase"]
    old = store.latest_unfinished(target_id)
    if old is not None:
        log.info(
            "run %s into this target did not finish; starting over (`dmt resume` would "
            "continue it)", old["id"],
        )  # fmt: skip
        store.finish_run(old["id"], "abandoned", error="superseded by a new run")
    run_id = uuid.uuid4().hex[:12]
    store.start_run(run_id, cfg.source.describe(), target_id, fp, parts)
    log.info("Run %s", run_id)
    return run_id, "prepare"


def save_adjustments(
    store: StateStore, run_id: str, monitor: Any, applied: list[dict[str, Any]],
    samples: bool = True,
) -> None:  # fmt: skip
    """Store one copy attempt's runtime decisions, its per-interval samples (what `dmt history
    --plot` draws; not with ``samples=False``, when they were stored as they were taken) and
    the changes the pipeline applied."""
    records: list[dict[str, Any]] = []
    if monitor is not None:
        data = monitor.to_dict()
        records += [{"kind": "decision", **r} for r in data["records"]]
        if samples:
            records += [{"kind": "sample", **s} for s in data.get("samples", ())]
    records += [{"kind": "applied", **a} for a in applied]
    if records:
        store.save_adjustments(run_id, records)


def untranslated(cfg: Config, exc: Exception) -> DmtError:
    """A driver error no layer translated: a ConnectionLost when the target's or the source's
    dialect sees a broken connection in it, else a TransferError naming it."""
    target = get_dialect(cfg.target, "target").translate_error(exc)
    if isinstance(target, ConnectionLost):
        return target
    return get_dialect(cfg.source, "source").translate_error(
        exc, f"unexpected {type(exc).__name__}"
    )
