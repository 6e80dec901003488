"""Objects beyond tables (types, routines, views, triggers, ...): carried as the source's own
DDL when the target is the same engine, else listed as not migrated."""

from __future__ import annotations

import logging
from typing import Any

from dmt.config import Config
from dmt.dialects.base import Dialect
from dmt.model.schema import NativeObject, Schema

log = logging.getLogger("dmt.schema")


def carried_objects(
    schema: Schema, source: Dialect, target: Dialect, cfg: Config
) -> tuple[list[NativeObject], list[str]]:
    """(objects the target receives as the source's DDL, warnings). Only a target of the same
    engine takes them, and only when every name stays as it is: the DDL names tables, types
    and the schema as the source spells them."""
    if not schema.objects or source.name != target.name:
        return [], []
    reason = None
    if cfg.migration.identifier_case != "preserve":
        reason = f"identifier_case `{cfg.migration.identifier_case}` renames what they refer to"
    elif (cfg.source.schema or "") != (cfg.target.schema or ""):
        reason = (
            f"the source schema `{cfg.source.schema}` differs from the target schema "
            f"`{cfg.target.schema}` their definitions name"
        )
    if reason is None:
        return list(schema.objects), []
    kinds = sorted({o.kind for o in schema.objects})
    return [], [f"{len(schema.objects)} objects ({', '.join(kinds)}) not migrated: {reason}"]


def create_objects(
    target: Dialect, conn: Any, objects: list[NativeObject], phase: str
) -> list[str]:
    """Create the carried objects of one phase (``before`` the tables or ``after`` the data);
    each failure is logged as a warning and returned."""
    todo = [o for o in objects if o.phase == phase]
    if not todo:
        return []
    failures = target.create_native_objects(conn, todo)
    for line in failures:
        log.warning("%s", line)
    log.info("%d of %d %s-load object(s) created", len(todo) - len(failures), len(todo),
             "pre" if phase == "before" else "post")  # fmt: skip
    return failures
