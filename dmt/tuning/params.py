"""The parameters of the control rules: batch-time target, clocks, thresholds and this run's
writer bound. Every part of the controller reads them; none changes them."""

from __future__ import annotations

from dataclasses import dataclass

from dmt.settings import WRITERS, writer_bound


@dataclass(frozen=True)
class ControllerSettings:
    """Tuning of the control algorithm; the defaults suit a 30 s interval."""

    max_memory_mb: float
    target_batch_seconds: float = 1.0
    samples_per_step: int = 2
    min_gain: float = 0.03  # smallest relative change that counts, whatever the noise
    default_noise: float = 0.05  # assumed until enough repeated samples exist
    steady_gap: float = 120.0  # at most one non-safety change per this many seconds in hold
    probe_every: float = 600.0
    # no trial (ramp, probe, chunk step) starts when the copy is expected to end sooner than
    # this: it takes three or four intervals to measure and undo, and needs time to pay back
    end_quiet: float = 300.0
    effect_timeout: float = 600.0  # give up waiting for a change the pipeline has not applied
    memory_high_percent: float = 85.0
    ceiling_seconds: float = 600.0  # how long a safety back-off caps the knob it lowered
    # where the pipeline applies a chunk_size change (migration.chunk_size_at, passed by
    # build_monitor): at "table" a change made during the last table never takes effect, so
    # none is proposed then; "chunk" (the default here) assumes every change applies
    chunk_size_at: str = "chunk"
    # dmt's default writer count on this machine (settings.default_writers): fewer writers
    # than the start are tried only from above it (see Search.ramp_done)
    usual_writers: int = 4
    # the most writers this run may use: the knob's bound, narrowed by the target's declared
    # max_writers (settings.writer_bound), so no decision proposes a count the pipeline clamps
    writers_high: int = WRITERS.high

    @classmethod
    def for_interval(
        cls,
        interval: float,
        max_memory_mb: float,
        chunk_size_at: str = "chunk",
        usual_writers: int = 4,
        max_writers: int | None = None,
    ) -> ControllerSettings:
        """The settings for a monitor interval of ``interval`` seconds: the clocks are counted
        in intervals (4 = two minutes at the default 30 s), so a short interval in a test or a
        benchmark keeps the same behaviour, only faster. ``max_writers`` is the target's
        declared writer limit (None: the knob's bound)."""
        n = interval
        high = writer_bound(max_writers)
        return cls(
            max_memory_mb=max_memory_mb,
            # an interval should see several commits per writer (its rate is measured over
            # them, see metrics._commit_rate); 1 s from a 4 s interval up
            target_batch_seconds=min(1.0, n / 4),
            steady_gap=4 * n,
            probe_every=20 * n,
            end_quiet=10 * n,
            effect_timeout=20 * n,
            ceiling_seconds=20 * n,
            chunk_size_at=chunk_size_at,
            usual_writers=min(usual_writers, high),
            writers_high=high,
        )
