"""The run's live counters as Prometheus metrics, read through one collector.

:class:`RunMetrics` reads, at every call, the pipeline counters of each copy attempt
(:class:`~dmt.pipeline.stats.PipelineSnapshot`) and the decisions each attempt's monitor
applied: a scrape sees the run as it is, and :meth:`RunMetrics.values` gives the same numbers
for the JSON result. Counters add up over the attempts of a run (a copy retried after a lost
connection counts on); gauges are the latest attempt's. ``prometheus_client`` is imported only
by :func:`serving` and :meth:`RunMetrics.collect`, so a run without a metrics port never loads it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dmt.errors import ConfigError
from dmt.pipeline.stats import PipelineCounters, PipelineSnapshot

log = logging.getLogger("dmt")

#: one copy attempt: its counters, and its monitor's applied decisions by (source, action)
Attempt = tuple[PipelineSnapshot, Mapping[tuple[str, str], int]]


@dataclass(frozen=True)
class Family:
    """One metric: its name (counters end in ``_total`` when exposed), kind, help text, label
    names and ``(label values, value)`` samples."""

    name: str
    kind: str  # counter | gauge
    help: str
    labels: tuple[str, ...] = ()
    samples: tuple[tuple[tuple[str, ...], float], ...] = ()

    @property
    def exposed(self) -> str:
        return f"{self.name}_total" if self.kind == "counter" else self.name


#: (name, kind, help, the PipelineSnapshot field it reads): the metrics without labels
PLAIN = (
    ("dmt_batches_written", "counter", "batches committed on the target", "batches_written"),
    ("dmt_errors", "counter", "errors the copy met (the first one stops it)", "errors"),
    ("dmt_retries", "counter", "copies started again after a lost connection", "retries"),
    ("dmt_read_seconds", "counter", "seconds readers spent in source queries", "read_seconds"),
    ("dmt_write_seconds", "counter", "seconds writers spent writing batches", "write_seconds"),
    ("dmt_wait_seconds", "counter", "seconds readers and writers waited on the queue",
     "wait_seconds"),
    ("dmt_rows_expected", "gauge", "rows the source's estimates add up to", "rows_expected"),
    ("dmt_writers", "gauge", "writer threads alive", "active_writers"),
    ("dmt_writers_target", "gauge", "writer threads the pool is scaling to", "target_writers"),
    ("dmt_readers", "gauge", "reader threads reading a key range", "active_readers"),
    ("dmt_chunk_size", "gauge", "rows per read chunk (key range)", "chunk_size"),
    ("dmt_queue_depth", "gauge", "batches waiting in the read-ahead queue", "queue_depth"),
    ("dmt_queue_capacity", "gauge", "read-ahead queue capacity (batches)", "queue_capacity"),
    ("dmt_batches_in_flight", "gauge", "batches read and not yet written", "batches_in_flight"),
    ("dmt_tables_done", "gauge", "tables copied", "tables_done"),
    ("dmt_tables_total", "gauge", "tables to copy", "tables_total"),
)  # fmt: skip


class RunMetrics:
    """The collector: ``attempts()`` returns every copy attempt of the run so far (none before
    the copy starts). A prometheus_client collector (:meth:`collect`) and the JSON result's
    ``metrics`` (:meth:`values`) read the same :meth:`families`."""

    def __init__(self, attempts: Callable[[], Sequence[Attempt]]) -> None:
        self._attempts = attempts

    def families(self) -> list[Family]:
        attempts = list(self._attempts())
        snaps = [s for s, _ in attempts] or [PipelineCounters().snapshot()]
        last = snaps[-1]
        out = []
        for name, kind, help_, field in PLAIN:
            value = (
                sum(getattr(s, field) for s in snaps) if kind == "counter" else getattr(last, field)
            )
            out.append(Family(name, kind, help_, (), (((), value),)))
        tables: dict[str, list[int]] = {}
        for s in snaps:
            for table, (rows, nbytes) in s.table_totals.items():
                done = tables.setdefault(table, [0, 0])
                done[0] += rows
                done[1] += nbytes
        decisions: dict[tuple[str, str], int] = {}
        for _, counts in attempts:
            for key, n in counts.items():
                decisions[key] = decisions.get(key, 0) + n
        out += [
            Family("dmt_rows_written", "counter", "rows committed on the target, per table",
                   ("table",), tuple(((t,), v[0]) for t, v in sorted(tables.items()))),
            Family("dmt_bytes_written", "counter", "bytes committed on the target, per table, "
                   "as the table's data path counts them",
                   ("table",), tuple(((t,), v[1]) for t, v in sorted(tables.items()))),
            Family("dmt_decisions", "counter", "runtime adjustments applied, by where the "
                   "decision came from (ai, cache: Claude; fallback, rollback: the rules) and "
                   "its action", ("source", "action"),
                   tuple((k, n) for k, n in sorted(decisions.items()))),
        ]  # fmt: skip
        return out

    def values(self) -> dict[str, Any]:
        """The metrics as JSON: exposed name -> number, or for a labelled metric a list of
        ``{label: value, ..., "value": number}``."""
        out: dict[str, Any] = {}
        for f in self.families():
            if f.labels:
                out[f.exposed] = [
                    {**dict(zip(f.labels, labels, strict=True)), "value": _plain(v)}
                    for labels, v in f.samples
                ]
            else:
                out[f.exposed] = _plain(f.samples[0][1])
        return out

    def collect(self) -> Iterator[Any]:
        """prometheus_client's collector protocol: one metric family per :class:`Family`."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        for f in self.families():
            cls = CounterMetricFamily if f.kind == "counter" else GaugeMetricFamily
            family = cls(f.name, f.help, labels=f.labels)
            for labels, value in f.samples:
                family.add_metric(list(labels), value)
            yield family


def _plain(value: float) -> float | int:
    return round(value, 3) if isinstance(value, float) else value


@contextlib.contextmanager
def serving(metrics: RunMetrics, port: int | None, host: str) -> Iterator[None]:
    """Serve ``metrics`` at ``http://host:port/metrics`` (a registry of its own) while the
    block runs; nothing without a port. A port that cannot be bound is a ConfigError, raised
    before the block starts."""
    if port is None:
        yield
        return
    from prometheus_client import CollectorRegistry, start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(metrics)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            "", f"cannot serve metrics on {host}:{port}: {reason.lower()}; choose another "
            "port (--metrics-port or migration.metrics_port)",
        ) from None  # fmt: skip
    log.info("metrics: http://%s:%d/metrics", host, port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
