from __future__ import annotations

import dataclasses
import itertools

import pytest

from dmt.pipeline.knobs import Knobs
from dmt.settings import Update
from dmt.tuning.controller import Controller, ControllerSettings
from dmt.tuning.decisions import Decision, DecisionRejected, action_for
from dmt.tuning.metrics import MetricsCollector

from .sim import MB, SimPipeline, ThroughputModel

INTERVAL = 30.0
MODEL = ThroughputModel()


class Loop:
    """The controller closed over a simulated pipeline, one interval per ``step``."""

    def __init__(
        self,
        sim: SimPipeline,
        max_memory_mb: float = 1024,
        chunk_size_at: str = "chunk",
        interval: float = INTERVAL,
        usual_writers: int = 2,
    ) -> None:
        self.sim, self.interval = sim, interval
        self.collector = MetricsCollector(sim.snapshot, clock=sim.clock, host=sim.host)
        settings = ControllerSettings.for_interval(
            interval, max_memory_mb, chunk_size_at, usual_writers
        )
        self.ctl = Controller(settings)
        self.changes: list[tuple[float, Decision]] = []
        self.start_writers = sim.writers
        self.tick = 0

    def step(self, override: Decision | None = None) -> Decision:
        self.sim.advance(self.interval)
        self.tick += 1
        d = self.ctl.decide(self.collector.collect())
        if override is not None and not d.mandatory:
            d = override
        if d.action != "continue":
            self.ctl.validate(d)
            self.ctl.commit(d, self.tick)
            self.sim.apply(Update(writers=d.writers, chunk_size=d.chunk_size))
            self.changes.append((self.sim.now, d))
        return d

    def run(self, n: int) -> None:
        for _ in range(n):
            self.step()

    def throughput(self) -> float:
        return self.sim.model.throughput(self.sim.writers, self.sim.batch_rows)

    def writer_moves(self) -> list[tuple[str, int]]:
        """(kind, writers) of every change of the writer count."""
        moves, writers = [], self.start_writers
        for _, d in self.changes:
            if d.writers != writers:
                moves.append((d.kind, d.writers))
                writers = d.writers
        return moves

    def settle(self) -> None:
        """Step until no change is being measured."""
        for _ in range(10):
            if self.ctl._pending is None:
                return
            self.step()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(("writers", "chunk"), [(1, 1_000), (16, 500_000)], ids=["low", "high"])
def test_converges_near_the_optimum_from_bad_starts_and_then_holds(
    writers: int, chunk: int, seed: int
) -> None:
    loop = Loop(SimPipeline(MODEL, writers, chunk, seed=seed))
    loop.run(40)  # 20 minutes at 30 s
    assert loop.ctl.phase == "hold"
    assert loop.throughput() >= 0.9 * MODEL.optimum()

    settled = len(loop.changes)
    loop.run(80)  # 40 more minutes of steady state
    steady = [t for t, d in loop.changes[settled:] if d.kind != "safety"]
    assert len(steady) <= 8  # probes and their reverts only: no flapping
    assert all(b - a >= 120 for a, b in itertools.pairwise(steady))
    assert loop.throughput() >= 0.9 * MODEL.optimum()


def test_reverts_a_change_that_hurt_and_records_it() -> None:
    quiet = dataclasses.replace(MODEL, noise=0.01)
    loop = Loop(SimPipeline(quiet, 6, 10_000))
    loop.run(2)  # a baseline: two intervals that agree
    bad = Decision("scale_down", 2, 10_000, "high", "fewer writers", source="ai", kind="ai")
    loop.step(override=bad)
    assert loop.sim.writers == 2
    reverts = []
    for _ in range(4):
        d = loop.step()
        if d.kind == "revert":
            reverts.append(d)
    assert [(d.source, d.action, d.writers) for d in reverts] == [("rollback", "scale_up", 6)]
    effects = {e.decision_id: e for e in loop.ctl.pop_effects()}
    hurt = effects[3]
    assert hurt.reverted and hurt.effect_percent is not None and hurt.effect_percent < -20


def test_a_trial_clearly_worse_in_its_first_clean_interval_is_undone_at_once() -> None:
    quiet = dataclasses.replace(MODEL, noise=0.01)
    loop = Loop(SimPipeline(quiet, 6, 10_000))
    loop.run(2)
    loop.step(override=Decision("scale_down", 2, 10_000, "high", "fewer", source="ai", kind="ai"))
    assert loop.step().kind != "revert"  # the mixed interval, discarded
    assert loop.step().kind == "revert"  # one clean interval at -50 % is enough


@pytest.mark.parametrize("seed", [1, 2, 4])
def test_a_writer_step_kept_inside_the_noise_is_not_tried_back(seed: int) -> None:
    """1 -> 2 writers measured +6 % where the noise threshold is larger (10 % until enough
    samples): kept, and the ramp stops. Trying 1 writer next would only measure again where the
    step came from."""
    model = dataclasses.replace(MODEL, sigma=0.85, noise=0.005)
    # 5 s batches: past the chunk phase's doubling trial, so the writers move first
    loop = Loop(SimPipeline(model, 1, 150_000, seed=seed))
    loop.run(15)
    assert loop.writer_moves() == [("ramp", 2)]


def test_memory_budget_is_respected_under_wide_rows() -> None:
    budget_mb = 64.0
    sim = SimPipeline(MODEL, 16, 500_000, avg_row_bytes=1_000)
    loop = Loop(sim, max_memory_mb=budget_mb)

    def usage(w: int, c: int) -> float:
        return c * sim.avg_row_bytes * (sim.queue_capacity + w) / MB

    loop.run(60)
    for _, d in loop.changes:
        grows = d.action == "scale_up"
        assert not grows or usage(d.writers, d.chunk_size) <= budget_mb
    assert usage(sim.writers, sim.chunk_size) <= budget_mb
    best = MODEL.optimum(lambda w, c: usage(w, c) <= budget_mb)
    assert loop.throughput() >= 0.9 * best


@pytest.mark.parametrize("writers", [1, 2, 8])
def test_the_largest_chunk_is_the_pipelines_batch_budget_in_rows(writers: int) -> None:
    """The controller shares the memory budget as the pipeline does, readers included (4
    tables in flight, connectorx readers holding 3 batches each): the largest chunk_size it
    may propose is exactly the rows one batch may hold, so the pipeline never cuts one."""
    loop = Loop(SimPipeline(MODEL, writers, 50_000, avg_row_bytes=60.5), max_memory_mb=128)
    m = dataclasses.replace(loop.collector.collect(), reader_slots=12)
    knobs = Knobs(tables_in_flight=4, chunk_size=50_000, parallel_readers=1,
                  read_ahead_buffers=m.queue_capacity, writers=writers, max_memory_mb=128,
                  reader_batches=3)  # fmt: skip
    assert knobs.reader_slots() == m.reader_slots
    assert loop.ctl.max_chunk(writers, m) == int(knobs.batch_bytes() // 60.5)


def test_batches_capped_below_the_budget_are_not_a_reason_to_cut_chunk_size() -> None:
    """Wide rows: the pipeline's byte budget holds every batch to 2,500 rows, far inside the
    memory budget, whatever chunk_size says. chunk_size 50,000 × 3 KB would exceed it, but no
    batch is that large: cutting chunk_size would only shorten the key ranges."""
    sim = SimPipeline(MODEL, 2, 50_000, avg_row_bytes=3_000, range_rows=2_500)
    loop = Loop(sim, max_memory_mb=128)
    assert loop.ctl.max_chunk(2, loop.collector.collect()) < 50_000
    loop.run(20)
    assert not [d for _, d in loop.changes if d.kind == "safety"]
    assert sim.chunk_size >= 50_000 and sim.writers > 2


def test_long_batches_of_a_slow_target_are_not_shrunk() -> None:
    """Foreign keys and indexes on the target: a 50K-row batch takes 4 s, and larger batches
    are cheaper per row, more writers make it slower. Four times the 1 s target is no reason
    to cut them."""
    slow = dataclasses.replace(MODEL, base_rate=25_000, big_batch=1e12, sigma=0.9, kappa=0.05)
    sim = SimPipeline(slow, 2, 50_000)
    assert 3 < slow.batch_seconds(2, 50_000) < 5
    loop = Loop(sim)
    loop.run(40)
    assert all(d.chunk_size >= 50_000 for _, d in loop.changes)


def test_memory_pressure_reduces_chunks_and_keeps_them_down() -> None:
    def memory(sim: SimPipeline) -> float:
        return 90.0 if sim.chunk_size > 8_000 else 60.0

    loop = Loop(SimPipeline(MODEL, 4, 50_000, memory_percent=memory))
    first = loop.step()
    assert (first.action, first.chunk_size, first.mandatory) == ("reduce_chunk", 25_000, True)
    loop.run(12)
    assert loop.sim.chunk_size <= 8_000
    pressured = 0
    for _ in range(60):
        loop.step()
        pressured += loop.sim.chunk_size > 8_000
    assert pressured <= 6  # may test the limit again after the cap expires, never lingers


def test_saturated_cpu_alone_is_no_reason_to_back_off() -> None:
    sim = SimPipeline(MODEL, 8, 10_000, cpu_percent=lambda s: 99.0)
    loop = Loop(sim)
    for _ in range(2):  # steady settings, steady latency: no back-off
        d = loop.step()
        assert d.kind != "safety", d.reasoning


def test_one_dip_on_a_saturated_cpu_is_no_reason_to_back_off() -> None:
    """The narrow load at its best setting: CPU at 96 %, one interval 30 % down at unchanged
    settings, then back. Backing off on it held 1 writer for the rest of the run."""
    model = ThroughputModel(noise=0.02)
    dips = {12, 25, 38}
    sim = SimPipeline(
        model, 2, 30_000, cpu_percent=lambda s: 97.0,
        disturb=lambda t: 0.7 if t // 30 in dips else 1.0,
    )  # fmt: skip
    loop = Loop(sim)
    loop.run(45)
    assert not [d.reasoning for _, d in loop.changes if d.kind == "safety"]


def test_backs_off_when_saturated_cpu_hurts() -> None:
    saturated = {"on": False}
    sim = SimPipeline(MODEL, 8, 10_000, cpu_percent=lambda s: 97.0 if saturated["on"] else 60.0)
    loop = Loop(sim)
    loop.run(30)
    loop.settle()
    assert loop.ctl.phase == "hold"
    # no probe due in the next three intervals (it would come before the back-off)
    assert loop.sim.now + 3 * INTERVAL - loop.ctl._last_change_at < loop.ctl.s.probe_every
    # the database starts to struggle: batches take twice as long at the same settings
    saturated["on"] = True
    sim.model = dataclasses.replace(MODEL, base_rate=MODEL.base_rate / 2)
    before = sim.writers
    assert loop.step().action == "continue"  # one interval could be a dip
    d = loop.step()
    expected = before - max(1, before // 4)
    assert (d.action, d.writers, d.kind, d.mandatory) == ("scale_down", expected, "safety", True)
    assert "CPU saturated" in d.reasoning
    # one step back, then it measures before it would step again: no chain of back-offs
    d2 = loop.step()
    assert d2.action != "scale_down"


def test_backs_off_on_errors_and_does_not_ramp_straight_back() -> None:
    sim = SimPipeline(MODEL, 8, 10_000)
    loop = Loop(sim)
    loop.run(2)
    sim.errors += 3
    before = sim.writers
    d = loop.step()
    assert (d.action, d.writers, d.kind) == ("scale_down", before - before // 4, "safety")
    loop.run(10)  # five minutes: the back-off caps writers for ceiling_seconds
    assert sim.writers <= d.writers


def primed(writers: int = 4, chunk: int = 50_000, **kw: float) -> Controller:
    loop = Loop(SimPipeline(MODEL, writers, chunk, **kw))  # type: ignore[arg-type]
    loop.ctl.decide(loop.collector.collect())
    return loop.ctl


@pytest.mark.parametrize(
    "decision",
    [
        Decision("scale_up", 17, 50_000),
        Decision("scale_down", 0, 50_000),
        Decision("reduce_chunk", 4, 999),
        Decision("scale_up", 4, 500_001),
        Decision("scale_up", 9, 50_000),  # more than +4 writers
        Decision("scale_up", 4, 450_000),  # more than eightfold
        Decision("reduce_chunk", 4, 6_000),  # more than ÷8
        Decision("scale_up", 2, 50_000),  # contradicts: fewer writers
        Decision("continue", 5, 50_000),  # contradicts: a change
        Decision("reduce_chunk", 4, 60_000),
        Decision("scale_down", 4, 50_000),
        Decision("scale_up", 5, 40_000),  # mixed directions
        Decision("grow", 5, 50_000),
        Decision("scale_up", 5, 50_000, confidence="certain"),
    ],
    ids=lambda d: f"{d.action}-{d.writers}-{d.chunk_size}-{d.confidence}",
)
def test_validate_rejects(decision: Decision) -> None:
    with pytest.raises(DecisionRejected):
        primed().validate(decision)


@pytest.mark.parametrize(
    "decision",
    [
        Decision("continue", 4, 50_000),
        Decision("scale_up", 8, 50_000),
        Decision("scale_up", 4, 100_000),
        Decision("scale_down", 1, 50_000),
        Decision("reduce_chunk", 4, 25_000),
        Decision("reduce_chunk", 3, 25_000),
    ],
)
def test_validate_accepts(decision: Decision) -> None:
    assert primed().validate(decision) is decision


def test_validate_enforces_the_memory_budget() -> None:
    ctl = primed(4, 50_000, avg_row_bytes=1_000)  # budget 1024 MB: max chunk at 8 writers ~67K
    assert ctl.max_chunk(8) == 1024 * MB // (1_000 * 16)
    with pytest.raises(DecisionRejected, match="memory budget"):
        ctl.validate(Decision("scale_up", 4, 100_000))
    ctl.validate(Decision("scale_up", 4, 60_000))


def test_candidates_are_valid_and_include_continue() -> None:
    ctl = primed()
    cands = ctl.candidates()
    assert cands[0].action == "continue"
    assert {d.action for d in cands} == {"continue", "scale_up", "scale_down", "reduce_chunk"}
    for d in cands:
        ctl.validate(d)


def test_action_for() -> None:
    assert action_for((4, 10), (4, 10)) == "continue"
    assert action_for((4, 10), (5, 10)) == "scale_up"
    assert action_for((4, 10), (3, 10)) == "scale_down"
    assert action_for((4, 10), (4, 5)) == "reduce_chunk"
    assert action_for((4, 10), (5, 5)) == ""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_chunk_growth_that_batches_cannot_follow_is_dropped_for_writers(seed: int) -> None:
    """`chunk_size_at: chunk` on one big table: key ranges of 1,000 rows were planned at the
    start, so no batch grows whatever chunk_size says. One chunk step shows it (batches stay
    small); the controller then tunes writers instead of doubling chunks that do nothing."""
    sim = SimPipeline(MODEL, 1, 1_000, seed=seed, range_rows=1_000)
    loop = Loop(sim)
    loop.run(20)  # 10 minutes at 30 s
    chunk_steps = [d for _, d in loop.changes if d.chunk_size != 1_000 and d.kind == "chunk"]
    assert len(chunk_steps) <= 1
    assert sim.writers >= 4
    best = MODEL.optimum(lambda w, c: c <= 1_000)
    assert loop.throughput() >= 0.9 * best


def test_no_chunk_change_is_proposed_when_it_cannot_apply() -> None:
    """`chunk_size_at: table` during the last (here: only) table: a chunk_size change would wait
    for a table start that never comes, and block the writer search while it waits."""
    sim = SimPipeline(MODEL, 1, 1_000, seed=1, tables_total=1)
    loop = Loop(sim, chunk_size_at="table")
    loop.run(20)
    assert all(d.chunk_size == 1_000 for _, d in loop.changes)
    assert sim.writers >= 4
    assert all(c.chunk_size == 1_000 for c in loop.ctl.candidates())
    best = MODEL.optimum(lambda w, c: c == 1_000)
    assert loop.throughput() >= 0.9 * best


def test_table_mode_still_sizes_chunks_while_tables_remain() -> None:
    sim = SimPipeline(MODEL, 1, 1_000, seed=1, tables_total=5)
    loop = Loop(sim, chunk_size_at="table")
    loop.run(6)
    assert any(d.kind == "chunk" and d.chunk_size > 1_000 for _, d in loop.changes)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_smaller_chunks_are_measured_when_larger_ones_cannot_apply(seed: int) -> None:
    """Short batches ask for larger chunks, but the key ranges (50,000 rows, planned at the table
    start) cap them, and here smaller batches are faster (a per-row cost that grows with the
    batch): the controller sees the batches did not grow, undoes it, and halves instead."""
    model = dataclasses.replace(MODEL, base_rate=1_000_000, batch_overhead=0.002, big_batch=20_000)
    sim = SimPipeline(model, 2, 50_000, seed=seed, range_rows=50_000)
    loop = Loop(sim)
    assert model.batch_seconds(2, 50_000) < 0.5  # the batch-time rule alone would grow chunks
    loop.run(40)
    sizes = [d.chunk_size for _, d in loop.changes[:3]]
    assert sizes[0] > 50_000 and sizes[1:] == [50_000, 25_000], sizes
    assert sim.batch_rows <= 13_000
    # one knob at a time: chunks were sized at 2 writers, where 7,000 rows beat 4,000; the
    # joint optimum (8+ writers × 4,000) is a few percent away
    best = model.optimum(lambda w, c: c <= 50_000)
    assert model.throughput(sim.writers, sim.batch_rows) >= 0.85 * best


def test_noisy_throughput_on_a_busy_cpu_is_no_reason_to_back_off() -> None:
    """A shared 2-core machine: the CPU is always saturated and intervals at unchanged settings
    differ by ±15%. A dip within that noise must not trigger the CPU back-off (which caps the
    writers for ceiling_seconds); a real collapse still does."""
    noisy = dataclasses.replace(MODEL, noise=0.15)
    sim = SimPipeline(noisy, 8, 27_000, seed=4, cpu_percent=lambda s: 99.0)
    loop = Loop(sim)
    loop.run(60)
    backoffs = [d for _, d in loop.changes if d.kind == "safety"]
    assert len(backoffs) <= 1, [d.reasoning for d in backoffs]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batches_that_grew_to_their_cap_are_kept_inside_the_noise(seed: int) -> None:
    """Wide rows: a larger chunk_size grows 1,000-row batches only to 3,000 (the byte budget
    caps them), a +6 % gain inside the noise threshold. The batches did grow, so the step is
    kept like any other; undoing it put the run back at 1,000-row batches for good."""
    model = dataclasses.replace(MODEL, batch_overhead=0.003, noise=0.03)
    sim = SimPipeline(model, 1, 1_000, seed=seed, range_rows=3_000)
    loop = Loop(sim, usual_writers=1)  # no step up to the usual writer count first
    loop.run(30)
    assert [d.kind for _, d in loop.changes[:2]] == ["chunk", "ramp"]
    assert sim.batch_rows == 3_000
    assert all(d.chunk_size > 1_000 for _, d in loop.changes)


def test_larger_chunks_seen_not_to_apply_are_not_tried_again_in_the_table() -> None:
    """Once a larger chunk_size was measured not to change the batches of this table, neither
    the chunk phase nor the steady-state batch-time rule nor the AI's candidates grow it again
    (the benchmark's narrow run kept 'resizing' 10,000-row ranges up to 318,000 rows)."""
    model = dataclasses.replace(MODEL, base_rate=1_000_000, batch_overhead=0.002)
    sim = SimPipeline(model, 2, 10_000, seed=2, range_rows=10_000)
    loop = Loop(sim)
    loop.run(80)
    grown = [d for _, d in loop.changes if d.chunk_size > 10_000]
    assert len(grown) == 1 and grown[0].kind == "chunk"
    assert all(c.chunk_size <= 10_000 for c in loop.ctl.candidates())


def test_validate_lets_a_chunk_change_eightfold_at_most() -> None:
    ctl = primed(4, 5_000)
    assert ctl.validate(Decision("scale_up", 4, 40_000)).chunk_size == 40_000
    with pytest.raises(DecisionRejected, match="×8"):
        ctl.validate(Decision("scale_up", 4, 45_000))
    assert ctl.validate(Decision("reduce_chunk", 4, 1_000)).chunk_size == 1_000


def test_tiny_batches_grow_eightfold_per_step() -> None:
    # batches that take milliseconds against a 1 s target grow 1K -> 8K in one measured step
    # (three doublings before), then straight to the size estimated for the target (doublings
    # there took five steps); the first step after a baseline of two intervals
    loop = Loop(SimPipeline(MODEL, 1, 1_000, seed=1), usual_writers=1)
    sizes, first = [loop.sim.chunk_size], None
    for i in range(1, 21):
        loop.step()
        if loop.sim.chunk_size != sizes[-1]:
            sizes.append(loop.sim.chunk_size)
            first = first or i
    assert sizes[:2] == [1_000, 8_000] and first is not None and first <= 3, (first, sizes)
    assert 0.75 <= loop.sim.model.batch_seconds(1, sizes[2]) <= 1.25, sizes


def test_a_writer_step_down_that_measured_slower_is_undone() -> None:
    # 1 writer is 13 % slower than 2, and 10 % noise per interval puts that inside the noise
    # threshold: the step down must still be undone (seed 12 kept 1 writer before)
    model = ThroughputModel(sigma=0.7, kappa=0.05, noise=0.10)
    ends = []
    for seed in range(1, 21):
        loop = Loop(SimPipeline(model, 2, 20_000, seed=seed))
        loop.run(60)
        loop.settle()  # a probe in flight at the end
        ends.append(loop.sim.writers)
    assert min(ends) >= 2, ends


def test_a_writer_step_up_that_measured_faster_is_kept_inside_the_noise() -> None:
    # the mirror case: 2 writers are 13 % faster than 1, inside the noise threshold at 10 %
    # noise per interval; a step up that measured faster stays (undoing it left the tuning
    # benchmark's run at 1 writer, 13 % slower). Over the second half of 20 runs the
    # controller holds 2 writers or more 86 % of the time (67 % when such steps were undone)
    model = ThroughputModel(sigma=0.7, kappa=0.05, noise=0.10)
    held = 0
    for seed in range(1, 21):
        loop = Loop(SimPipeline(model, 1, 20_000, seed=seed))
        loop.run(30)
        for _ in range(30):
            loop.step()
            held += loop.sim.writers >= 2
    assert held / (20 * 30) >= 0.8, held


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_queue_emptied_by_added_writers_is_not_taken_for_their_gain(seed: int) -> None:
    # writer-bound at 2 writers (the optimum; 4 are 15 % slower): the full read-ahead queue
    # (32 batches, 1.6M rows) empties into the first two intervals after a step up, +27 %
    # in the first clean one. Counted as throughput, that backlog made the step look like a
    # gain and 4 writers were kept; net of it, the step measures its real -15 % and is undone
    model = ThroughputModel(base_rate=100_000, sigma=0.6, kappa=0.15, noise=0.01)
    loop = Loop(SimPipeline(model, 2, 50_000, seed=seed, queue_capacity=32, writer_bound=True))
    loop.run(14)
    tried = [d.writers for _, d in loop.changes if d.kind in ("ramp", "probe")]
    assert 4 in tried or 3 in tried, loop.changes  # a step up was measured
    assert loop.sim.writers == 2, [(d.kind, d.writers, d.reasoning) for _, d in loop.changes]


def test_a_writer_is_measured_only_once_it_has_committed() -> None:
    """Batches of 5 s at 4 writers and a 2 s interval: an added writer commits nothing in the
    first two intervals after the step, so they read as a loss (-35 % here, -54 % in the tuning
    benchmark's indexed load) where 4 writers are 31 % faster than 2. Only intervals whose
    batches all started after the change count."""
    model = ThroughputModel(base_rate=10_000, sigma=0.3, kappa=0.01, noise=0.02)
    sim = SimPipeline(model, 2, 25_000, writer_start_lag=True)
    assert 2 * 2 < model.batch_seconds(4, 25_000) < 3 * 2
    loop = Loop(sim, interval=2.0)
    loop.run(20)
    ramps = [(d.kind, d.writers) for _, d in loop.changes]
    assert ("ramp", 4) in ramps and loop.sim.writers >= 4, ramps


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_an_isolated_stall_is_not_taken_for_noise_or_an_effect(seed: int) -> None:
    """One interval in seven at 40 % throughput at unchanged settings (checkpoints of a wide
    load): in the baseline it lifted the noise estimate to 29 % and a 12 % slower step down
    stood. 1 writer is 12 % slower than 2 here, 4 are 6 % slower."""
    model = ThroughputModel(sigma=0.6, kappa=0.08, noise=0.02)
    best = model.throughput(2, 50_000)
    assert model.throughput(1, 50_000) < 0.9 * best and model.throughput(4, 50_000) < 0.95 * best
    stalls = {7 * k + seed for k in range(20)}
    sim = SimPipeline(
        model, 2, 50_000, seed=seed, disturb=lambda t: 0.4 if t // 30 in stalls else 1.0
    )
    loop = Loop(sim)
    loop.run(40)
    loop.settle()
    assert loop.ctl.noise() < 0.1
    assert loop.sim.writers == 2, [(d.kind, d.writers, d.reasoning) for _, d in loop.changes]


def test_no_trial_starts_when_the_copy_is_about_to_end() -> None:
    """A trial takes three or four intervals to measure and undo: with less than ten
    intervals of copy left it cannot pay back, so none starts (the tuning benchmark's best
    starts lost 1-3 % to probes in their last seconds)."""
    rate = MODEL.throughput(1, 1_000)
    sim = SimPipeline(MODEL, 1, 1_000, rows_expected=int(rate * 30 * 12))
    loop = Loop(sim)
    loop.run(14)
    assert loop.sim.rows >= sim.rows_expected
    late = [t for t, d in loop.changes if t > 2 * 30]
    assert not late, [(t, d.kind, d.reasoning) for t, d in loop.changes]
    assert loop.ctl.proposal is not None and "too soon" in loop.ctl.proposal.reasoning


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_from_the_default_a_first_step_up_that_does_not_pay_ends_the_ramp(seed: int) -> None:
    """2 writers are the best (the default on 2-4 cores): 4 are 6 % slower, 1 is 13 % slower.
    Trying fewer writers after the step up failed only cost throughput on every load of the
    tuning benchmark; it is left to the rare down probe."""
    model = ThroughputModel(sigma=0.6, kappa=0.08, noise=0.03)
    loop = Loop(SimPipeline(model, 2, 50_000, seed=seed), interval=2.0)
    loop.run(19)  # until the first probe is due
    assert loop.writer_moves() == [("ramp", 4), ("revert", 2)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_an_over_provisioned_start_is_ramped_down(seed: int) -> None:
    """8 writers where 2 are best (8 are 26 % slower): a step up fails, then fewer writers
    are tried, halving while that pays."""
    model = ThroughputModel(sigma=0.6, kappa=0.08, noise=0.03)
    loop = Loop(SimPipeline(model, 8, 50_000, seed=seed))
    loop.run(25)
    assert loop.sim.writers in (2, 3), [(d.kind, d.writers) for _, d in loop.changes]
    assert loop.throughput() >= 0.9 * model.optimum()


def test_a_lasting_shift_at_unchanged_settings_becomes_the_baseline() -> None:
    """A concurrent load halves throughput from the 9th interval on. Three low intervals in a
    row are a new level, not a stall: a change made then is measured against it (against the
    level before, a step that changes nothing read as -50 % and was undone)."""
    model = ThroughputModel(sigma=0.4, kappa=0.1, noise=0.02)  # 3 writers as fast as 2
    assert abs(model.throughput(3, 90_000) / model.throughput(2, 90_000) - 1) < 0.02
    # 5 s batches: past the chunk phase's doubling trial, so the writers move first
    sim = SimPipeline(model, 2, 90_000, disturb=lambda t: 0.5 if t >= 8 * 30 else 1.0)
    loop = Loop(sim)
    loop.run(11)  # the third interval of the new level is the last
    assert loop.writer_moves() == [("ramp", 4), ("revert", 2)]
    ai = Decision("scale_up", 3, 90_000, "medium", "more writers", source="ai", kind="ai")
    loop.step(override=ai)
    loop.run(4)
    assert loop.writer_moves()[2:] == [("ai", 3)]


def test_larger_chunks_than_the_target_are_kept_while_they_pay() -> None:
    """A fixed cost of 0.3 s per batch (foreign keys, indexes, the commit): 1 s batches are
    near the target, yet fourfold chunks pay (+23 %; the tuning benchmark's indexed load ran
    19 % faster at 200K rows than at 50K). Their 3.5 s batches leave no room for another
    doubling below six times the target duration."""
    model = ThroughputModel(batch_overhead=0.3, noise=0.01)
    loop = Loop(SimPipeline(model, 2, 20_000))
    assert 0.75 < model.batch_seconds(2, 20_000) < 1.25
    loop.run(8)
    assert [(d.kind, d.chunk_size) for _, d in loop.changes] == [
        ("chunk", 80_000),
        ("ramp", 80_000),
    ]
    assert loop.throughput() >= 1.2 * model.throughput(2, 20_000)


def test_a_larger_chunk_that_does_not_pay_is_undone() -> None:
    model = ThroughputModel(batch_overhead=0.005, big_batch=200_000, noise=0.01)
    c = 30_000
    assert model.throughput(2, 4 * c) < model.throughput(2, c)
    loop = Loop(SimPipeline(model, 2, c))
    loop.run(10)
    assert [(d.kind, d.chunk_size) for _, d in loop.changes[:2]] == [
        ("chunk", 4 * c),
        ("revert", c),
    ]
    assert loop.sim.chunk_size == c


def test_an_added_writer_measured_a_little_slower_than_a_faster_start_is_kept() -> None:
    """A wide load ran 40 % faster in its first seconds than later (before the target's
    checkpoints began). 2 writers are 37 % faster than 1, but measured against a 1-writer
    baseline from that start they read -2 %: inside min_gain, so they stay."""
    model = ThroughputModel(sigma=0.42, kappa=0.02, noise=0.005)
    assert 1.35 < model.throughput(2, 150_000) / model.throughput(1, 150_000) < 1.4
    # 5 s batches: past the chunk phase's doubling trial, so the writers move first
    sim = SimPipeline(model, 1, 150_000, disturb=lambda t: 1.4 if t < 3 * 30 else 1.0)
    loop = Loop(sim)
    loop.run(10)
    assert loop.writer_moves() == [("ramp", 2)], loop.changes


def test_halving_a_chunk_to_the_size_its_batches_already_have_is_not_tried() -> None:
    """200K-row chunks written as 100,004-row batches (the pass-through copy splits them),
    batches short of the target: halving chunk_size to 100K would leave the batches as they
    are, and its trial only measured a stall (-47 %)."""
    model = ThroughputModel(base_rate=1_000_000, noise=0.01)
    sim = SimPipeline(model, 2, 200_000, range_rows=100_004)
    loop = Loop(sim)
    loop.run(10)
    assert not [d for _, d in loop.changes if d.chunk_size != 200_000], loop.changes


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_trial_undone_under_a_slowing_load_is_made_again_when_it_beat_both_sides(
    seed: int,
) -> None:
    """Throughput falls 2.5 % of its start per interval at unchanged settings (the tuning
    benchmark's indexed load, as its indexes outgrow memory). Fourfold chunks are 8 % faster,
    but against the baseline from before them they read about 0 % and are undone; against the
    mean of the settings before and after them (A-B-A) they read +8 % and are made again."""
    model = ThroughputModel(noise=0.01, batch_overhead=0.12)
    assert 1.07 < model.throughput(2, 80_000) / model.throughput(2, 20_000) < 1.1
    sim = SimPipeline(model, 2, 20_000, seed=seed, disturb=lambda t: 1 - 0.025 * t / 30)
    loop = Loop(sim)
    loop.run(10)
    assert [(d.kind, d.chunk_size) for _, d in loop.changes[:3]] == [
        ("chunk", 80_000),
        ("revert", 20_000),
        ("confirm", 80_000),
    ]
    assert "before and after" in loop.changes[2][1].reasoning
    loop.run(10)
    assert loop.sim.chunk_size == 80_000


def test_the_noise_is_measured_between_successive_intervals_not_across_a_drift() -> None:
    """Samples of one setting from before and after a trial lie minutes apart: on a load that
    slows 2.5 % per interval their spread read as 9 % noise (1 % here), and a 10 % gain hid
    under its threshold."""
    model = ThroughputModel(noise=0.01, batch_overhead=0.12)
    sim = SimPipeline(model, 2, 20_000, disturb=lambda t: 1 - 0.025 * t / 30)
    loop = Loop(sim)
    loop.run(12)
    assert loop.ctl.noise() < 0.04


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_chunks_past_the_target_get_their_trial_after_the_ramp_when_none_came_before(
    seed: int,
) -> None:
    """A bad start's tiny chunks are sized toward the batch-time target, and a step there that
    measures inside the noise ends the chunk phase before any trial of larger chunks (the
    tuning benchmark's indexed bad start stopped at 40K rows; 200K were 19 % faster). That
    trial comes once the ramp is over, at the writer count it settled on."""
    model = ThroughputModel(noise=0.01, batch_overhead=0.01, sigma=0.3, kappa=0.05)
    loop = Loop(SimPipeline(model, 1, 5_000, seed=seed), interval=2.0, usual_writers=1)
    loop.run(25)
    changes = [d for _, d in loop.changes]
    assert changes[0].kind == "chunk" and "toward" in changes[0].reasoning
    writers = [1] + [d.writers for d in changes]
    last_move = max(i for i in range(len(changes)) if writers[i + 1] != writers[i])
    larger = [i for i, d in enumerate(changes) if "less cost per batch" in d.reasoning]
    assert larger == [last_move + 1], [(d.kind, d.writers, d.chunk_size) for d in changes]
    assert changes[larger[0]].writers == loop.sim.writers == 4


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_trial_undone_is_not_judged_again_across_a_change_of_conditions(seed: int) -> None:
    """A concurrent load halves throughput just after a trial was undone: the mean of the
    settings before and after it is no measure of the trial's time (against it, fourfold
    chunks 3 % slower read +28 %), so the undone trial stays undone."""
    model = ThroughputModel(batch_overhead=0.005, noise=0.01)
    assert 0.95 < model.throughput(2, 120_000) / model.throughput(2, 30_000) < 0.98
    sim = SimPipeline(model, 2, 30_000, seed=seed, disturb=lambda t: 0.5 if t >= 7 * 30 else 1.0)
    loop = Loop(sim)
    loop.run(14)
    assert [(d.kind, d.chunk_size) for _, d in loop.changes[:2]] == [
        ("chunk", 120_000),
        ("revert", 30_000),
    ]
    assert loop.sim.chunk_size == 30_000
    assert not [d for _, d in loop.changes if d.kind == "confirm"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fewer_writers_than_usual_step_up_to_it_before_the_chunks_are_sized(seed: int) -> None:
    """A bad start (1 writer, 1K rows) spent its chunk phase on one writer, the slowest
    setting on every load of the tuning benchmark: after the first chunk step (tiny batches
    are the larger loss) it steps up to the usual writer count, sizes the chunks there, then
    the ramp goes on (it gained)."""
    loop = Loop(SimPipeline(MODEL, 1, 1_000, seed=seed), usual_writers=2)
    loop.run(12)
    moves = [(d.kind, d.writers, d.chunk_size) for _, d in loop.changes]
    assert moves[:2] == [("chunk", 1, 8_000), ("ramp", 2, 8_000)]
    chunks = [m for m in moves[2:] if m[0] == "chunk"]
    assert chunks and all(w == 2 for _, w, _ in chunks[:2]), moves
    loop.run(30)
    assert loop.throughput() >= 0.9 * MODEL.optimum()
    assert loop.sim.writers > 2  # the ramp went on past the usual count


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_steps_away_from_a_bad_start_are_judged_on_one_interval(seed: int) -> None:
    """From 1 writer and 1K-row chunks each step gains 50-500 %, and each interval spent
    measuring it again is throughput lost: the first chunk step comes after one interval of
    tiny batches, and it, the step up to the usual writer count and the next step toward the
    batch-time target take two intervals each (the change's own, mixed, and one clean), the
    clean one being the next step's baseline."""
    loop = Loop(SimPipeline(MODEL, 1, 1_000, seed=seed), usual_writers=2)
    loop.run(6)
    moves = [(int(t / INTERVAL), d.kind, d.writers) for t, d in loop.changes]
    assert moves == [(2, "chunk", 1), (4, "ramp", 2), (6, "chunk", 2)]
    assert loop.changes[0][1].chunk_size == 8_000 < loop.changes[2][1].chunk_size


def test_a_saturated_cpu_does_not_back_off_below_the_usual_writer_count() -> None:
    """Two writers on two cores, the database on the same machine: the CPU is always
    saturated, and the load itself dips by 31 % for a few intervals (the tuning benchmark's
    indexed load). Backing off to 1 writer halved the rate for the rest of that copy; at or
    below dmt's default writer count the CPU back-off does not act."""
    model = ThroughputModel(sigma=0.6, kappa=0.08, noise=0.02)
    sim = SimPipeline(
        model, 2, 90_000, cpu_percent=lambda s: 97.0,
        disturb=lambda t: 0.69 if 12 * 30 <= t < 16 * 30 else 1.0,
    )  # fmt: skip
    loop = Loop(sim, usual_writers=2)
    loop.run(20)
    assert not [d for _, d in loop.changes if d.kind == "safety"], loop.changes
    assert loop.sim.writers == 2


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_larger_chunks_that_measured_better_only_inside_the_noise_are_undone(seed: int) -> None:
    """Fourfold chunks 5 % faster at 8 % noise: on these seeds the trial measured +4.5-6 %,
    more than min_gain but inside the 10 % noise threshold. Past the target, longer batches
    cost memory and longer stalls that two intervals can miss (the tuning benchmark's indexed
    load kept 200K-row chunks at +6 %, then stalled every few intervals: 15 % slower than
    50K over the copy), so the trial is undone."""
    model = ThroughputModel(batch_overhead=0.09, noise=0.08)
    assert 1.04 < model.throughput(2, 80_000) / model.throughput(2, 20_000) < 1.06
    loop = Loop(SimPipeline(model, 2, 20_000, seed=seed))
    loop.run(8)
    (_, trial), (_, undo) = loop.changes[:2]
    assert (trial.kind, trial.chunk_size, undo.kind, undo.chunk_size) == (
        "chunk", 80_000, "revert", 20_000,
    )  # fmt: skip
    assert "+" in undo.reasoning.split("gave ")[1][:2]  # it measured faster, and still went
