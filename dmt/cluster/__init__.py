"""Running the migration's key ranges on a Ray cluster (``migration.executor: ray``).

- :mod:`~dmt.cluster.session`: joining the cluster, the Ray task, what Ray is given;
- :mod:`~dmt.cluster.task`: one key range copied end to end in a worker process;
- :mod:`~dmt.cluster.pipeline`: the driver's pipeline that dispatches the ranges.

Imported only when the executor is ``ray`` (this package imports Ray). It knows the pipeline
and the data paths; :mod:`dmt.run` wires it in. docs/distributed.md tells the design.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from typing import Any

from dmt.cluster.pipeline import ClusterPipeline
from dmt.cluster.session import RaySession
from dmt.cluster.task import RunSpec, portable_state
from dmt.config import Config
from dmt.dialects.base import ValueCounters, value_options
from dmt.model.job import TableJob
from dmt.paths.base import DataPath

__all__ = ["ClusterPipeline", "RaySession", "cluster_pipeline"]

log = logging.getLogger("dmt")


def cluster_pipeline(
    cfg: Config, session: RaySession, jobs: list[TableJob], paths: dict[str, DataPath],
    values: ValueCounters, plans: list[Any], *args: Any, **kw: Any,
) -> ClusterPipeline:  # fmt: skip
    """The run's :class:`ClusterPipeline` (``args``/``kw``: the Pipeline's own), its spec
    handed to Ray; the source's snapshot must be open already (its id goes in the spec)."""
    source = args[0]
    session.open()
    spec = RunSpec(
        run=uuid.uuid4().hex,
        source=replace(cfg.source, password=None),
        target=replace(cfg.target, password=None),
        options=value_options(cfg.migration),
        data_path=cfg.migration.data_path,
        snapshot=source.shared_snapshot(),
        learned=(portable_state(source), portable_state(args[1])),
        tables={
            p.source.name: (
                p,
                j.key,
                paths[j.source.name].name if j.source.name in paths else "rows",
            )
            for p, j in zip(plans, jobs, strict=True)
        },
    )
    if spec.snapshot is None and cfg.migration.consistency == "snapshot":
        log.warning("the Ray tasks cannot read the run's snapshot of this source: each key "
                    "range reads what is committed when its task runs")  # fmt: skip
    session.start_run(spec, (cfg.source.password, cfg.target.password))
    return ClusterPipeline(
        *args, session=session, values=values, retries=cfg.ray.range_retries, paths=paths, **kw
    )
