from __future__ import annotations

import dataclasses
import json
import threading

import pytest

from dmt.pipeline.stats import PipelineCounters, PipelineSnapshot
from dmt.tuning.metrics import HostSample, MetricsCollector, PsutilSampler, percentile

from .sim import FakeClock

BASE = PipelineSnapshot(
    taken_at=0.0,
    rows_total=0,
    bytes_total=0,
    batches_written=0,
    read_seconds=0.0,
    write_seconds=0.0,
    wait_seconds=0.0,
    read_latencies=(),
    write_latencies=(),
    active_writers=4,
    target_writers=4,
    active_readers=2,
    queue_depth=6,
    queue_capacity=8,
    batches_in_flight=3,
    chunk_size=10_000,
    errors=0,
    retries=0,
    tables_done=1,
    tables_total=5,
    current_table="orders",
    column_count=7,
    avg_row_bytes=120.0,
    rows_expected=1_000_000,
)


def host(rss: float = 500.0, cpu: float = 50.0, mem: float = 40.0) -> HostSample:
    return HostSample(rss, cpu * 2, cpu, mem, 2048.0, 8)


class Script:
    """Serves scripted snapshots and host samples in order."""

    def __init__(self, snaps: list[PipelineSnapshot], hosts: list[HostSample]) -> None:
        self.snaps, self.hosts = list(snaps), list(hosts)

    def sample(self) -> PipelineSnapshot:
        return self.snaps.pop(0)

    def host(self) -> HostSample:
        return self.hosts.pop(0)


def test_interval_rates_and_breakdown_come_from_the_difference_of_two_snapshots() -> None:
    clock = FakeClock(100.0)
    s1 = dataclasses.replace(
        BASE, rows_total=100_000, bytes_total=12_000_000, batches_written=10, read_seconds=5.0,
        write_seconds=30.0, wait_seconds=5.0, errors=1, retries=2, write_latencies=(9.0,) * 10,
    )  # fmt: skip
    lat = (9.0,) * 10 + (1.0, 1.0, 2.0, 2.0, 3.0)  # older batches first; the last 5 are new
    s2 = dataclasses.replace(
        s1, rows_total=150_000, bytes_total=18_000_000, batches_written=15, read_seconds=7.0,
        write_seconds=36.0, wait_seconds=7.0, errors=1, retries=5, write_latencies=lat,
        read_latencies=lat, rows_expected=1_000_000,
    )  # fmt: skip
    script = Script([s1, s2], [host(rss=500), host(rss=520, cpu=95)])
    col = MetricsCollector(script.sample, clock=clock, host=script.host)
    clock.advance(10)
    first = col.collect()
    assert first.rows_per_sec == pytest.approx(10_000)  # since construction
    clock.advance(10)
    m = col.collect()
    assert m.interval_seconds == pytest.approx(10)
    assert m.rows_per_sec == pytest.approx(5_000)
    assert m.bytes_per_sec == pytest.approx(600_000)
    assert m.rows_in_interval == 50_000 and m.batches_in_interval == 5
    assert m.write_latency_p50 == 2.0 and m.write_latency_p95 == 3.0
    assert (m.query_percent, m.write_percent, m.wait_percent) == pytest.approx((20, 60, 20))
    assert m.errors_in_interval == 0 and m.retries_in_interval == 3
    assert m.queue_fill_ratio == pytest.approx(0.75)
    assert m.throughput_change_percent == pytest.approx(-50)
    assert m.memory_growth_mb_per_sample == pytest.approx(20)
    assert m.cpu_saturated and not first.cpu_saturated
    assert m.progress_percent == pytest.approx(15)
    assert m.eta_seconds == pytest.approx(850_000 / 5_000)
    assert m.avg_rows_per_sec == pytest.approx(150_000 / 20)


def test_rate_counts_whole_batches_over_the_time_between_commits() -> None:
    # one writer commits 50K rows every 0.7 s; the monitor looks every 2 s, so an interval holds
    # two or three commits: counted per interval the rate jumps between 50K and 75K rows/s
    clock = FakeClock(0.0)
    counters = PipelineCounters(clock=clock)
    col = MetricsCollector(counters.snapshot, clock=clock, host=lambda: host())
    commits = iter(round(0.7 * k, 6) for k in range(1, 100))
    due = next(commits)
    rates, per_interval = [], []
    for _ in range(8):
        end = clock.now + 2.0
        while due <= end:
            clock.now = due
            counters.record_write(50_000, 1_000_000, 0.7)
            due = next(commits)
        clock.now = end
        m = col.collect()
        rates.append(m.rows_per_sec)
        per_interval.append(m.rows_in_interval / m.interval_seconds)
    assert min(per_interval[1:]) <= 50_000 and max(per_interval[1:]) >= 75_000
    for rate in rates[1:]:
        assert rate == pytest.approx(50_000 / 0.7)
    # an interval without a commit moved no rows
    clock.advance(2.0)
    assert col.collect().rows_per_sec == 0


def test_commits_clustered_in_a_moment_are_timed_over_the_interval() -> None:
    # four writers with 3 s batches: three commits within 0.25 s of the previous interval's
    # last one, then none; timed between the last commits that is 600K rows/s for 75K moved
    clock = FakeClock(0.0)
    counters = PipelineCounters(clock=clock)
    col = MetricsCollector(counters.snapshot, clock=clock, host=lambda: host())
    rates = []
    for commits, end in (((1.0, 1.9), 2.0), ((3.0, 3.8), 4.0), ((4.01, 4.03, 4.05), 6.0)):
        for at in commits:
            clock.now = at
            counters.record_write(50_000, 1_000_000, 3.0)
        clock.now = end
        rates.append(col.collect().rows_per_sec)
    assert rates[1] == pytest.approx(100_000 / 1.9)  # commits spread out: timed between them
    assert rates[2] == pytest.approx(150_000 / 2.0)


def test_trends_use_the_rolling_window() -> None:
    clock = FakeClock()
    rows = [0]

    def sample() -> PipelineSnapshot:
        return dataclasses.replace(BASE, rows_total=rows[0])

    col = MetricsCollector(sample, clock=clock, host=lambda: host(), window=3)
    for rate in (1000, 1000, 1000, 2000, 2000, 2000, 2600):
        clock.advance(10)
        rows[0] += rate * 10
        m = col.collect()
    assert len(col.window()) == 3 and m.window_size == 3
    assert m.throughput_trend_percent == pytest.approx(30)  # 2600 vs mean(2000, 2000)
    assert m.throughput_noise_percent > 0
    assert col.latest() is m


def test_snapshot_has_at_least_thirty_metrics_and_is_json_ready() -> None:
    col = MetricsCollector(lambda: BASE, clock=FakeClock(), host=lambda: host())
    d = col.collect().to_dict()
    assert len(d) >= 30
    json.dumps(d)


def test_percentile_nearest_rank() -> None:
    assert percentile([], 50) == 0.0
    assert percentile([3, 1, 2, 4], 50) == 2
    assert percentile(list(range(1, 101)), 95) == 95


def test_collect_is_thread_safe() -> None:
    counter = [0]
    lock = threading.Lock()

    def sample() -> PipelineSnapshot:
        with lock:
            counter[0] += 1000
            return dataclasses.replace(BASE, rows_total=counter[0])

    clock = FakeClock()
    col = MetricsCollector(sample, clock=clock, host=lambda: host(), window=5)
    totals: list[int] = []

    def work() -> None:
        for _ in range(50):
            totals.append(col.collect().rows_in_interval)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(totals) == counter[0]  # every interval counted exactly once


def test_psutil_sampler_reads_this_process() -> None:
    h = PsutilSampler()()
    assert h.process_rss_mb > 1 and 0 <= h.system_memory_percent <= 100 and h.cpu_count >= 1
