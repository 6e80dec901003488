"""Everything decided before a row moves: connect, reflect the source, map it onto the
target, and say what would be dropped, created or emptied. What ``dmt plan`` prints."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dmt.config import Config
from dmt.dialects.base import Dialect, get_dialect, value_options
from dmt.model.schema import NativeObject, Schema
from dmt.schema.ddl import PrepareReport, plan_target
from dmt.schema.notices import WarningGroup, group
from dmt.schema.objects import carried_objects
from dmt.schema.translate import TablePlan, key_for, translate
from dmt.schema.views import translated_views

log = logging.getLogger("dmt")


@dataclass
class Plan:
    """Everything decided before a row moves: what ``dmt plan`` prints."""

    source: Dialect
    target: Dialect
    schema: Schema
    tables: list[TablePlan]
    target_actions: PrepareReport
    warnings: list[str] = field(default_factory=list)
    #: objects the target receives as the source's own DDL (same engine)
    objects: list[NativeObject] = field(default_factory=list)
    #: the source's views translated for a target of another engine
    views: list[NativeObject] = field(default_factory=list)
    consistency: str = "snapshot"
    executor: str = "threads"  # migration.executor

    @property
    def warning_groups(self) -> list[WarningGroup]:
        """The warnings grouped by kind, most severe first (see :mod:`dmt.schema.notices`)."""
        return group(self.warnings)

    def to_dict(self) -> dict[str, Any]:
        carried = {o.name for o in [*self.objects, *self.views]}
        return {
            "source": self.source.endpoint.describe(),
            "target": self.target.endpoint.describe(),
            "consistency": self.consistency,
            "executor": self.executor,
            "snapshot_holds_writers": self.source.snapshot_holds_writers,
            "tables": [
                {
                    "source": p.source.name,
                    "target": p.target.name,
                    "rows_estimate": p.source.row_estimate,
                    "columns": {c.name: p.types[c.name] for c in p.target.columns},
                    "collations": {
                        c.name: c.collation.name for c in p.target.columns if c.collation
                    },
                    "primary_key": list(p.target.primary_key),
                }
                for p in self.tables
            ],
            "will_drop": self.target_actions.dropped,
            "will_create": self.target_actions.created,
            "will_empty": self.target_actions.emptied,
            "will_append": self.target_actions.kept,
            "carried": [{"kind": o.kind, "name": o.name} for o in self.objects],
            "translated_views": [v.name for v in self.views],
            "not_migrated": {
                kind: [n for n in getattr(self.schema, kind) if n not in carried]
                for kind in ("views", "triggers", "routines")
            },
            "warnings": self.warnings,
            "warning_groups": [g.to_dict() for g in self.warning_groups],
        }


@contextmanager
def connected(dialect: Dialect, timed: bool = False) -> Iterator[Any]:
    """A connection of ``dialect`` (with ``timed``, its statement timeout:
    :meth:`~dmt.dialects.base.Dialect.timed_connect`), closed on exit (a failed close is only
    logged)."""
    conn = dialect.timed_connect() if timed else dialect.connect()
    try:
        yield conn
    finally:
        try:
            conn.close()
        except Exception as exc:  # nothing useful to do with a failed close
            log.debug("close failed: %s", exc)


def make_plan(cfg: Config, then: Callable[[Plan, Any], None] | None = None) -> Plan:
    """Connect to both sides, reflect the source and map it onto the target. Changes nothing
    itself; ``then(plan, target_connection)`` runs on the same target connection before it
    closes (a run creates its tables there: one connection fewer before the first row)."""
    options = value_options(cfg.migration)
    source = get_dialect(cfg.source, "source", options)
    target = get_dialect(cfg.target, "target", options)
    with connected(source) as sconn:
        schema = source.reflect(sconn, cfg.migration.selects)
    objects, warnings = carried_objects(schema, source, target, cfg)
    views, untranslated = translated_views(schema, source, target)
    warnings += untranslated
    with connected(target) as tconn:
        target.learn_collations(tconn)
        plans = translate(
            schema.tables, target, cfg.migration, cfg.type_overrides, native=bool(objects)
        )
        warnings += [w for p in plans for w in p.warnings]
        for p in plans:
            if not key_for(p.source):
                warnings.append(f"{p.source.name}: no primary key; copied as one ordered stream")
        actions = plan_target(target, tconn, plans, cfg.migration.target_mode)
        consistency = cfg.migration.consistency
        if consistency == "snapshot":
            warnings += [w for p in plans if (w := source.snapshot_exceptions(p.source))]
        plan = Plan(source, target, schema, plans, actions, warnings, objects, views, consistency,
                    cfg.migration.executor)  # fmt: skip
        if then is not None:
            then(plan, tconn)
    return plan


def fingerprint_parts(cfg: Config) -> dict[str, Any]:
    """The settings a resume must share with the run it continues (tuning knobs excluded)."""
    m = cfg.migration
    return {
        "source": cfg.source.describe(),
        "source_schema": cfg.source.schema,
        "target": cfg.target.describe(),
        "target_schema": cfg.target.schema,
        "include_tables": list(m.include_tables),
        "exclude_tables": list(m.exclude_tables),
        "target_mode": m.target_mode,
        "identifier_case": m.identifier_case,
        "zero_dates": m.zero_dates,
        "nul_bytes": m.nul_bytes,
        "create_indexes": m.create_indexes,
        "create_foreign_keys": m.create_foreign_keys,
        "type_overrides": {
            "columns": dict(cfg.type_overrides.columns),
            "types": dict(cfg.type_overrides.types),
        },
    }


def setting_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between the settings of two runs, one line per key (for `resume`)."""
    keys = sorted(set(old) | set(new))
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in keys if old.get(k) != new.get(k)]
