"""A simulated pipeline with a known throughput curve, for testing the controller.

Throughput follows the Universal Scalability Law over writers (contention ``sigma``, coherency
``kappa``) and a per-batch fixed cost plus a large-batch penalty over chunk size, so both knobs
have an interior optimum. Noise is multiplicative and seeded.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from dmt.pipeline.stats import PipelineSnapshot
from dmt.settings import Update
from dmt.tuning.metrics import HostSample

MB = 1024 * 1024


@dataclass(frozen=True)
class ThroughputModel:
    """Rows/s as a function of (writers, chunk_size)."""

    base_rate: float = 30_000.0  # rows/s of one uncontended writer
    sigma: float = 0.1
    kappa: float = 0.02
    batch_overhead: float = 0.05  # seconds of fixed cost per batch
    big_batch: float = 2_000_000.0  # chunk size at which per-row cost doubles
    noise: float = 0.03

    def per_writer_rate(self, w: int) -> float:
        usl = w / (1 + self.sigma * (w - 1) + self.kappa * w * (w - 1))
        return self.base_rate * usl / w

    def batch_seconds(self, w: int, c: int) -> float:
        return self.batch_overhead + c / self.per_writer_rate(w) * (1 + c / self.big_batch)

    def throughput(self, w: int, c: int) -> float:
        return w * c / self.batch_seconds(w, c)

    def optimum(self, allowed: Callable[[int, int], bool] = lambda w, c: True) -> float:
        return max(
            self.throughput(w, c)
            for w in range(1, 17)
            for c in range(1_000, 500_001, 1_000)
            if allowed(w, c)
        )


class SimPipeline:
    """Cumulative counters driven by the model; ``apply`` takes a Update immediately."""

    def __init__(
        self,
        model: ThroughputModel,
        writers: int,
        chunk_size: int,
        *,
        seed: int = 1,
        avg_row_bytes: float = 200.0,
        queue_capacity: int = 8,
        memory_percent: Callable[[SimPipeline], float] = lambda sim: 40.0,
        cpu_percent: Callable[[SimPipeline], float] = lambda sim: 20.0 + 4.0 * sim.writers,
        range_rows: int | None = None,
        tables_total: int = 1,
        writer_bound: bool = False,
        rows_expected: int = 10**12,
        disturb: Callable[[float], float] = lambda now: 1.0,
        writer_start_lag: bool = False,
    ) -> None:
        self.model = model
        self.writers: int = writers
        self.chunk_size: int = chunk_size
        self.rng = random.Random(seed)
        self.avg_row_bytes, self.queue_capacity = avg_row_bytes, queue_capacity
        self.memory_percent, self.cpu_percent = memory_percent, cpu_percent
        self.now = 0.0
        self.rows = self.bytes = self.batches = 0
        self.read_s = self.write_s = self.wait_s = 0.0
        self.errors = 0
        self.lat: tuple[float, ...] = ()
        self.history: list[tuple[float, int, int]] = []  # (time, writers, chunk) per change
        # key ranges planned at the table start: no batch is larger, whatever chunk_size says
        # (the pipeline's `chunk_size_at: chunk` on one big table)
        self.range_rows = range_rows
        self.tables_total = tables_total
        # writer-bound: the read-ahead queue stays full; writers added empty it over the next
        # two intervals, its rows committed on top of the rate the model gives
        self.writer_bound = writer_bound
        self.depth = queue_capacity if writer_bound else queue_capacity // 2
        self.draining: list[int] = []  # batches the next intervals take from the queue
        self.rows_expected = rows_expected
        # a factor on throughput at time ``now`` (a stall, a concurrent load)
        self.disturb = disturb
        # an added writer commits nothing until its first batch is written
        self.writer_start_lag = writer_start_lag
        self.lag: tuple[float, float] = (0.0, 1.0)  # (until, share of throughput before it)

    @property
    def batch_rows(self) -> int:
        """Rows per batch actually written."""
        if self.range_rows is None:
            return self.chunk_size
        return min(self.chunk_size, self.range_rows)

    def clock(self) -> float:
        return self.now

    def advance(self, dt: float) -> None:
        m = self.model
        c = self.batch_rows
        rps = m.throughput(self.writers, c) * (1 + self.rng.gauss(0, m.noise))
        rps *= self.disturb(self.now)
        until, share = self.lag
        lagged = min(max(until - self.now, 0.0), dt)
        rows = int(rps * (dt - lagged + lagged * share))
        if self.draining:
            drained = self.draining.pop(0)
            rows += drained * c
            self.depth -= drained
        batches = max(1, rows // c)
        self.rows += rows
        self.bytes += int(rows * self.avg_row_bytes)
        self.batches += batches
        self.write_s += self.writers * dt * 0.7
        self.read_s += dt * 0.2
        self.wait_s += self.writers * dt * 0.1
        seconds = m.batch_seconds(self.writers, c)
        self.lat = tuple(seconds * (1 + self.rng.gauss(0, 0.02)) for _ in range(min(batches, 64)))
        self.now += dt

    def apply(self, update: Update | None) -> None:
        if update is None:
            return
        if self.writer_bound and (update.writers or 0) > self.writers:
            self.draining = [self.depth - self.depth // 2, self.depth // 2]
        elif self.writer_bound and (update.writers or self.writers) < self.writers:
            self.draining, self.depth = [], self.queue_capacity  # refilled: nothing counted
        new_w = update.writers or self.writers
        if self.writer_start_lag and new_w > self.writers:
            lag = self.model.batch_seconds(new_w, self.batch_rows)
            self.lag = (self.now + lag, self.writers / new_w)
        self.writers = new_w
        self.chunk_size = update.chunk_size or self.chunk_size
        self.history.append((self.now, self.writers, self.chunk_size))

    def snapshot(self) -> PipelineSnapshot:
        return PipelineSnapshot(
            taken_at=self.now,
            rows_total=self.rows,
            bytes_total=self.bytes,
            batches_written=self.batches,
            read_seconds=self.read_s,
            write_seconds=self.write_s,
            wait_seconds=self.wait_s,
            read_latencies=self.lat,
            write_latencies=self.lat,
            active_writers=self.writers,
            target_writers=self.writers,
            active_readers=2,
            queue_depth=self.depth,
            queue_capacity=self.queue_capacity,
            batches_in_flight=self.writers,
            chunk_size=self.chunk_size,
            errors=self.errors,
            retries=0,
            tables_done=0,
            tables_total=self.tables_total,
            current_table="big",
            column_count=12,
            avg_row_bytes=self.avg_row_bytes,
            rows_expected=self.rows_expected,
        )

    def host(self) -> HostSample:
        rss = 100 + self.chunk_size * self.avg_row_bytes * (self.queue_capacity + self.writers) / MB
        return HostSample(
            process_rss_mb=rss,
            process_cpu_percent=self.cpu_percent(self),
            system_cpu_percent=self.cpu_percent(self),
            system_memory_percent=self.memory_percent(self),
            system_memory_available_mb=4096,
            cpu_count=8,
        )


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
