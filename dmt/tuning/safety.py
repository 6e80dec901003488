"""Safety: the memory budget every proposal stays inside, and the back-offs that preempt the
search (memory pressure, a chunk size past the budget, errors, a saturated CPU whose throughput
falls). A back-off caps the knob it lowered for ``ceiling_seconds``."""

from __future__ import annotations

from dmt.settings import CHUNK_SIZE, WRITERS, max_batch_rows
from dmt.tuning.decisions import Decision, Point, change, on_grid
from dmt.tuning.measure import batches_capped
from dmt.tuning.metrics import MetricsSnapshot
from dmt.tuning.params import ControllerSettings


def max_chunk(budget_mb: float, writers: int, m: MetricsSnapshot | None) -> int:
    """Largest chunk a memory budget of ``budget_mb`` allows with ``writers`` writers: the rows
    of one batch at the rows' average size (as the data path counts them), the budget shared
    as the pipeline shares it (:func:`~dmt.settings.batch_budget`: one batch per queue slot,
    per writer and per reader slot), so a proposal never exceeds what the batches can hold."""
    if m is None or m.avg_row_bytes <= 0:
        return CHUNK_SIZE.high
    rows = max_batch_rows(
        budget_mb, m.avg_row_bytes, max(m.queue_capacity, 1), writers, m.reader_slots
    )
    return min(CHUNK_SIZE.high, rows)


def held_rows(m: MetricsSnapshot, chunk: int) -> float:
    """Rows one batch holds at ``chunk``: fewer when the batches are capped below it (the
    pipeline's byte budget per batch holds wide rows to a few thousand whatever chunk_size
    says, so cutting chunk_size to fit them would only shorten the key ranges)."""
    rows = m.rows_per_batch
    return min(chunk, rows) if rows > 0 and batches_capped(m) else chunk


class Safety:
    """The safety rules and the caps their back-offs leave."""

    def __init__(self, settings: ControllerSettings) -> None:
        self.s = settings
        self._writer_cap: tuple[int, float] | None = None  # (writers, until)
        self._chunk_cap: tuple[int, float] | None = None  # (chunk size, until)
        self._cpu_dips = 0  # consecutive intervals of falling throughput on a saturated CPU

    def max_chunk(self, writers: int, m: MetricsSnapshot | None) -> int:
        """Largest chunk the run's memory budget allows with ``writers`` writers."""
        return max_chunk(self.s.max_memory_mb, writers, m)

    def caps(self, now: float) -> tuple[int, int]:
        """The highest writers and chunk size a proposal may use now."""
        w_cap, c_cap = self.s.writers_high, CHUNK_SIZE.high
        if self._writer_cap and now < self._writer_cap[1]:
            w_cap = self._writer_cap[0]
        if self._chunk_cap and now < self._chunk_cap[1]:
            c_cap = self._chunk_cap[0]
        return w_cap, c_cap

    def check(self, m: MetricsSnapshot, at: Point, noise: float, settled: bool) -> Decision | None:
        """A mandatory back-off from the settings ``at`` when a safety rule demands one.
        ``settled``: no change is being measured; ``noise``: the measured noise."""
        w, c = at
        now, cap = m.taken_at, self.s.ceiling_seconds
        if m.system_memory_percent >= self.s.memory_high_percent:
            why = f"system memory {m.system_memory_percent:.0f}% ≥ {self.s.memory_high_percent:g}%"
            if c > CHUNK_SIZE.low:
                new_c = on_grid(c / 2, "ceil")
                self._chunk_cap = (new_c, now + cap)
                return change(at, Point(w, new_c), "safety", why, mandatory=True)
            if w > WRITERS.low:
                return self._back_off(at, now, why)
        limit = self.max_chunk(w, m)
        if held_rows(m, c) > limit and c > CHUNK_SIZE.low:
            new_c = max(on_grid(c / 2, "ceil"), min(c, on_grid(limit, "floor")))
            why = f"chunk_size {c} exceeds the {self.s.max_memory_mb:g} MB budget (max {limit})"
            return change(at, Point(w, new_c), "safety", why, mandatory=True)
        if (m.errors_in_interval or m.retries_in_interval) and w > WRITERS.low:
            why = f"{m.errors_in_interval} errors, {m.retries_in_interval} retries last interval"
            return self._back_off(at, now, why)
        # A saturated CPU alone is normal when the database shares the machine, and per-batch
        # latency rises with every added writer; back off only when throughput itself falls:
        # once the last change has been measured (the trend still compares with samples from
        # before it, and backing off again on that would be a chain, not a step), by more than
        # the measured noise (a -20 % interval is common at unchanged settings on a shared
        # machine), and for two intervals (one dip is common too)
        drop = -max(10.0, 2 * noise * 100)
        dipped = settled and m.cpu_saturated and m.throughput_trend_percent < drop
        self._cpu_dips = self._cpu_dips + 1 if dipped else 0
        # ...and only from more writers than dmt's default (one per core): at or below it the
        # saturated CPU is the database's own work, and fewer writers only slow it
        if self._cpu_dips >= 2 and w > max(WRITERS.low, self.s.usual_writers):
            why = (
                f"CPU saturated ({m.system_cpu_percent:.0f}%) and throughput "
                f"{m.throughput_trend_percent:+.0f}% for two intervals"
            )
            return self._back_off(at, now, why)
        return None

    def _back_off(self, at: Point, now: float, why: str) -> Decision:
        new_w = max(WRITERS.low, at.writers - max(1, at.writers // 4))
        self._writer_cap = (new_w, now + self.s.ceiling_seconds)
        new = Point(new_w, at.chunk_size)
        return change(at, new, "safety", why + "; backing off", mandatory=True)
