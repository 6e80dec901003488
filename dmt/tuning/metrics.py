"""Turn cumulative pipeline counters and host readings into per-interval metrics and trends.

The collector differences two successive :class:`~dmt.pipeline.stats.PipelineSnapshot` values,
so every rate is *instantaneous* over the last interval, not an average since the start (rows
per second over the interval's commits, see :func:`_commit_rate`). A rolling window of recent
metrics gives the trends the controller and the AI look at.
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from dmt.pipeline.stats import PipelineSnapshot

MB = 1024 * 1024
CPU_SATURATED_PERCENT = 90.0


@dataclass(frozen=True)
class HostSample:
    """One reading of the machine dmt runs on."""

    process_rss_mb: float
    process_cpu_percent: float  # may exceed 100 on several cores, like top
    system_cpu_percent: float
    system_memory_percent: float
    system_memory_available_mb: float
    cpu_count: int
    nodes: int = 1  # machines doing the copy (a Ray cluster's alive nodes); cpu_count: theirs


class PsutilSampler:
    """The default host sampler. CPU figures are averages since the previous call."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first reading is always 0: prime it
        psutil.cpu_percent(None)

    def __call__(self) -> HostSample:
        ps = self._psutil
        vm = ps.virtual_memory()
        return HostSample(
            process_rss_mb=self._process.memory_info().rss / MB,
            process_cpu_percent=self._process.cpu_percent(None),
            system_cpu_percent=ps.cpu_percent(None),
            system_memory_percent=vm.percent,
            system_memory_available_mb=vm.available / MB,
            cpu_count=ps.cpu_count() or 1,
        )


@dataclass(frozen=True)
class MetricsSnapshot:
    """The metrics of one interval plus trends over the rolling window. JSON-ready via
    :meth:`to_dict`; it never holds row values or connection details."""

    taken_at: float
    interval_seconds: float
    # throughput
    rows_per_sec: float
    bytes_per_sec: float
    mb_per_sec: float
    rows_in_interval: int
    batches_in_interval: int
    rows_total: int
    bytes_total: int
    avg_rows_per_sec: float  # since the collector started
    progress_percent: float
    eta_seconds: float | None
    # latency (seconds per batch)
    read_latency_p50: float
    read_latency_p95: float
    write_latency_p50: float
    write_latency_p95: float
    # where thread time went in the interval
    query_percent: float
    write_percent: float
    wait_percent: float
    # host
    process_rss_mb: float
    system_memory_percent: float
    system_memory_available_mb: float
    process_cpu_percent: float
    system_cpu_percent: float
    cpu_count: int
    # pipeline shape
    active_writers: int
    target_writers: int
    active_readers: int
    queue_depth: int
    queue_capacity: int
    queue_fill_ratio: float
    batches_in_flight: int
    chunk_size: int
    errors_in_interval: int
    retries_in_interval: int
    errors_total: int
    retries_total: int
    tables_done: int
    tables_total: int
    current_table: str | None
    column_count: int
    avg_row_bytes: float
    rows_expected: int
    # trends over the window
    window_size: int
    throughput_change_percent: float  # vs the previous interval
    throughput_trend_percent: float  # vs the mean of the earlier samples in the window
    throughput_noise_percent: float  # coefficient of variation in the window
    memory_growth_mb_per_sample: float  # least-squares slope of RSS
    latency_trend_percent: float  # write p95 vs the mean of the earlier samples
    cpu_saturated: bool
    reader_slots: int = 0  # batches the readers may hold at once (settings.batch_budget)
    nodes: int = 1  # machines doing the copy (HostSample.nodes)

    @property
    def rows_per_batch(self) -> float:
        """Rows per batch written in the interval (0 when none was)."""
        n = self.batches_in_interval
        return self.rows_in_interval / n if n else 0.0

    def to_dict(self) -> dict[str, object]:
        """Plain values, rounded for a compact prompt and readable JSON."""
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0–100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _slope(ys: Sequence[float]) -> float:
    """Least-squares slope of ``ys`` against 0..n-1."""
    n = len(ys)
    if n < 2:
        return 0.0
    mean_x, mean_y = (n - 1) / 2, sum(ys) / n
    num = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(ys))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den


def _commit_rate(s: PipelineSnapshot, p: PipelineSnapshot | None, rows: int, dt: float) -> float:
    """Rows per second between the last commits of the previous interval and of this one.

    Rows are counted when a batch commits, so dividing an interval's rows by its length counts
    whole batches: at 0.7 s batches a 2 s interval held 2 to 7 commits, its rate moved in steps
    of 25 %, and the controller's noise threshold reached 126 %. The rows committed after the
    previous interval's last commit, over the time until this interval's last commit, measure
    whole batches over exactly the time they took. Before any commit, the interval itself.

    Commits closer together than half the interval are no span to time: batches longer than
    the interval, written by several writers, finish in clusters (3 s batches of 4 writers
    committed three times within 0.1 s: 690K rows/s for a load moving 65K, and the spike then
    read as a 48 % fall that backed writers off). Then the interval itself again."""
    if p is not None and p.last_commit_at > 0:
        span = s.last_commit_at - p.last_commit_at
        if span >= dt / 2:
            return rows / span
    return rows / dt


def _change(current: float, reference: float) -> float:
    return (current - reference) / reference * 100 if reference > 0 else 0.0


class MetricsCollector:
    """Builds a :class:`MetricsSnapshot` per :meth:`collect` call. Thread-safe.

    ``sample`` returns the pipeline's cumulative counters, ``clock`` measures intervals and
    ``host`` reads memory and CPU (psutil unless injected).
    """

    def __init__(
        self,
        sample: Callable[[], PipelineSnapshot],
        *,
        clock: Callable[[], float] = time.monotonic,
        host: Callable[[], HostSample] | None = None,
        window: int = 10,
    ) -> None:
        self._sample = sample
        self._clock = clock
        self._host = host if host is not None else PsutilSampler()
        self._lock = threading.Lock()
        self._size = max(2, window)
        self._window: deque[MetricsSnapshot] = deque(maxlen=self._size)
        self._started = clock()
        self._prev: PipelineSnapshot | None = None
        self._prev_at = self._started

    def window(self) -> tuple[MetricsSnapshot, ...]:
        with self._lock:
            return tuple(self._window)

    def latest(self) -> MetricsSnapshot | None:
        with self._lock:
            return self._window[-1] if self._window else None

    def collect(self) -> MetricsSnapshot:
        """Sample the pipeline and the host, and return the metrics of the interval since the
        previous call (or since construction for the first one)."""
        with self._lock:
            snap = self._sample()
            host = self._host()
            now = self._clock()
            metrics = self._build(snap, host, now)
            self._prev, self._prev_at = snap, now
            self._window.append(metrics)
            return metrics

    def _build(self, s: PipelineSnapshot, host: HostSample, now: float) -> MetricsSnapshot:
        p = self._prev
        dt = max(now - self._prev_at, 1e-9)
        d_rows = s.rows_total - (p.rows_total if p else 0)
        d_bytes = s.bytes_total - (p.bytes_total if p else 0)
        d_batches = s.batches_written - (p.batches_written if p else 0)
        d_read = s.read_seconds - (p.read_seconds if p else 0.0)
        d_write = s.write_seconds - (p.write_seconds if p else 0.0)
        d_wait = s.wait_seconds - (p.wait_seconds if p else 0.0)
        busy = d_read + d_write + d_wait
        # the latency tuples hold the most recent batches; keep those of this interval
        recent = d_batches if d_batches > 0 else len(s.write_latencies)
        write_lat = s.write_latencies[-recent:] if recent else ()
        read_lat = s.read_latencies[-recent:] if recent else ()
        rps = _commit_rate(s, p, d_rows, dt)
        elapsed = max(now - self._started, 1e-9)
        remaining = max(s.rows_expected - s.rows_total, 0)
        earlier = list(self._window)[-(self._size - 1) :]
        prev_rps = earlier[-1].rows_per_sec if earlier else 0.0
        mean_rps = statistics.fmean(m.rows_per_sec for m in earlier) if earlier else 0.0
        rates = [m.rows_per_sec for m in earlier] + [rps]
        noise = 0.0
        if len(rates) >= 3 and statistics.fmean(rates) > 0:
            noise = statistics.stdev(rates) / statistics.fmean(rates) * 100
        p95_w = percentile(write_lat, 95)
        mean_p95 = statistics.fmean(m.write_latency_p95 for m in earlier) if earlier else 0.0
        rss = [m.process_rss_mb for m in earlier] + [host.process_rss_mb]
        return MetricsSnapshot(
            taken_at=now,
            interval_seconds=dt,
            rows_per_sec=rps,
            bytes_per_sec=d_bytes / dt,
            mb_per_sec=d_bytes / dt / MB,
            rows_in_interval=d_rows,
            batches_in_interval=d_batches,
            rows_total=s.rows_total,
            bytes_total=s.bytes_total,
            avg_rows_per_sec=s.rows_total / elapsed,
            progress_percent=min(100.0, s.rows_total / s.rows_expected * 100)
            if s.rows_expected
            else 0.0,
            eta_seconds=remaining / rps if rps > 0 and s.rows_expected else None,
            read_latency_p50=percentile(read_lat, 50),
            read_latency_p95=percentile(read_lat, 95),
            write_latency_p50=percentile(write_lat, 50),
            write_latency_p95=p95_w,
            query_percent=d_read / busy * 100 if busy > 0 else 0.0,
            write_percent=d_write / busy * 100 if busy > 0 else 0.0,
            wait_percent=d_wait / busy * 100 if busy > 0 else 0.0,
            process_rss_mb=host.process_rss_mb,
            system_memory_percent=host.system_memory_percent,
            system_memory_available_mb=host.system_memory_available_mb,
            process_cpu_percent=host.process_cpu_percent,
            system_cpu_percent=host.system_cpu_percent,
            cpu_count=host.cpu_count,
            nodes=host.nodes,
            active_writers=s.active_writers,
            target_writers=s.target_writers,
            active_readers=s.active_readers,
            queue_depth=s.queue_depth,
            queue_capacity=s.queue_capacity,
            queue_fill_ratio=s.queue_depth / s.queue_capacity if s.queue_capacity else 0.0,
            batches_in_flight=s.batches_in_flight,
            chunk_size=s.chunk_size,
            errors_in_interval=s.errors - (p.errors if p else 0),
            retries_in_interval=s.retries - (p.retries if p else 0),
            errors_total=s.errors,
            retries_total=s.retries,
            tables_done=s.tables_done,
            tables_total=s.tables_total,
            current_table=s.current_table,
            column_count=s.column_count,
            avg_row_bytes=s.avg_row_bytes,
            rows_expected=s.rows_expected,
            window_size=len(earlier) + 1,
            throughput_change_percent=_change(rps, prev_rps),
            throughput_trend_percent=_change(rps, mean_rps),
            throughput_noise_percent=noise,
            memory_growth_mb_per_sample=_slope(rss),
            latency_trend_percent=_change(p95_w, mean_p95),
            cpu_saturated=host.system_cpu_percent >= CPU_SATURATED_PERCENT,
            reader_slots=s.reader_slots,
        )
