"""The search's state, one small object per phase.

A trial's verdict changes this state; when a trial that was undone turns out to have paid
(:meth:`~dmt.tuning.trials.Trials.evaluate`, A-B-A), the state from before its verdict is
restored. So the whole state is one value that :meth:`SearchState.copy` snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass
class Ramp:
    """The writer ramp."""

    direction: int = 0  # +1 more writers, -1 fewer, 0 not chosen yet
    gained: bool = False  # a step in this direction measured better
    tried_reverse: bool = False  # the other direction has been tried


@dataclass
class ChunkPhase:
    """Chunk sizing: toward the batch-time target, then larger chunks while they pay."""

    moved: bool = False  # a chunk step was made
    halving: bool = False  # measuring smaller chunks (larger ones cannot apply)
    larger: bool = False  # measuring chunks past the batch-time target
    larger_tried: bool = False  # a trial of chunks past the target was made
    larger_only: bool = False  # from here on, only larger chunks are tried
    no_growth_table: str | None = None  # the table where larger chunks did not apply


@dataclass
class SearchState:
    """Where the search stands: ``chunk`` (sizing chunks), ``writers`` (the ramp) or
    ``hold``."""

    phase: str = "chunk"
    started: bool = False  # the search has made its first proposal
    writers_tuned: bool = False  # the writer ramp has ended
    ramp: Ramp = field(default_factory=Ramp)
    chunk: ChunkPhase = field(default_factory=ChunkPhase)

    def copy(self) -> SearchState:
        return replace(self, ramp=replace(self.ramp), chunk=replace(self.chunk))

    def end_chunk_phase(self) -> None:
        """The chunk phase is over: the writers are tuned next, or held when they were."""
        self.phase = "hold" if self.writers_tuned else "writers"
        self.chunk.larger = False

    def as_paid(self, kind: str) -> SearchState:
        """A copy of this state (taken before a trial of ``kind`` was judged) as if the trial
        had paid: a ramp step that paid means the ramp's direction gained."""
        state = self.copy()
        if kind == "ramp":
            state.ramp.gained = True
        return state
