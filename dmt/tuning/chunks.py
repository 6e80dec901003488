"""Chunk sizing: toward batches of the target duration, then larger chunks while they pay.

Batches far shorter than the target grow straight toward it (at most
:data:`~dmt.settings.MAX_CHUNK_GROWTH`-fold per step); batches near the target get one trial of
chunks up to ``LARGER_STEP`` times larger, kept while it pays (a fixed cost per batch — a
commit, foreign-key and index work — can make longer batches faster); past ``LONG_BATCHES``
times the target they are left alone. When batches cannot grow (key ranges planned
at the table start cap them), smaller chunks are measured instead.
"""

from __future__ import annotations

from dmt.settings import CHUNK_SIZE, MAX_CHUNK_GROWTH
from dmt.tuning.decisions import Point, on_grid
from dmt.tuning.measure import batches_capped
from dmt.tuning.metrics import MetricsSnapshot
from dmt.tuning.params import ControllerSettings
from dmt.tuning.phases import SearchState
from dmt.tuning.safety import Safety
from dmt.tuning.trials import KEEP, Judgement, Trial, Verdict, undo

LONG_BATCHES = 8  # batches up to this many times the target duration are not shrunk
LARGER_STEP = 4  # growth of one trial of chunks past the target duration (ChunkSizing._larger)


class ChunkSizing:
    """The chunk-size rules of the search; the chunk phase's state is passed in."""

    def __init__(self, settings: ControllerSettings, safety: Safety) -> None:
        self.s, self.safety = settings, safety

    def can_apply(self, m: MetricsSnapshot) -> bool:
        """Whether a chunk_size change would take effect during this run: always at
        ``chunk``; at ``table`` only while another table is still to start."""
        if self.s.chunk_size_at == "chunk":
            return True
        return m.tables_total - m.tables_done > 1

    @staticmethod
    def growth_blocked(st: SearchState, m: MetricsSnapshot) -> bool:
        """Whether a larger chunk_size cannot reach this table's batches: they are capped now,
        or a larger size was already measured not to change them in this table."""
        if batches_capped(m):
            return True
        return m.current_table is not None and m.current_table == st.chunk.no_growth_table

    def target(self, m: MetricsSnapshot, at: Point) -> int | None:
        """The chunk size for batches of the target duration, at most MAX_CHUNK_GROWTH-fold
        away, inside the caps and the memory budget; None when a change cannot apply."""
        w, c = at
        if m.write_latency_p50 <= 0 or not self.can_apply(m):
            return None
        want = on_grid(c * self.s.target_batch_seconds / m.write_latency_p50)
        _, c_cap = self.safety.caps(m.taken_at)
        lo = on_grid(c / 2, "ceil")
        # straight to the estimate: tiny chunks reach the target in two steps where doubling
        # would take five. Never grown past the rows one batch may hold (the pipeline would cut
        # the batches there); a size already past them whose batches are capped below it
        # (sparse key ranges) is not cut for it: that would only shorten the key ranges
        mem = self.safety.max_chunk(w, m)
        if batches_capped(m):
            mem = max(mem, c)
        hi = max(lo, on_grid(min(c * MAX_CHUNK_GROWTH, c_cap, mem), "floor"))
        return min(max(want, lo), hi)

    def on_target(self, m: MetricsSnapshot) -> bool:
        """Batches near enough the target duration to be left alone. Short batches are grown
        (tiny ones pay a fixed cost each); long ones only far past it: on a slow target
        (foreign keys, indexes) larger batches are cheaper per row, and memory is the byte
        budget's job."""
        goal = self.s.target_batch_seconds
        return goal / 2 <= m.write_latency_p50 <= goal * LONG_BATCHES

    @staticmethod
    def shrinks(m: MetricsSnapshot, chunk: int) -> bool:
        """Whether a smaller ``chunk`` would make the batches smaller: not while they are
        capped below it (it would only shorten the key ranges read, which costs), nor when it
        cuts them by less than a fifth (the same batches, and the trial would measure noise)."""
        return not batches_capped(m) or chunk < 0.8 * m.rows_per_batch

    def step(self, st: SearchState, m: MetricsSnapshot, at: Point) -> tuple[int, str] | None:
        """The next chunk-size trial and its reason: toward the batch-time target while that
        pays; when batches cannot grow (key ranges planned at the table start cap them),
        halving instead, measured like any step. None ends the chunk phase."""
        c = at.chunk_size
        if not self.can_apply(m):
            return None
        if st.chunk.larger_only:
            return self._larger(st, m, at)
        if st.chunk.halving:
            new = on_grid(c / 2, "ceil")
            if new < c and self.shrinks(m, new):
                return new, f"measuring {new}-row chunks (smaller paid so far)"
            return None
        target = self.target(m, at)
        if target is None or abs(target - c) < 0.25 * c or self.on_target(m):
            return self._larger(st, m, at)
        if target > c and self.growth_blocked(st, m):
            half = on_grid(c / 2, "ceil")
            if st.chunk.moved or c <= CHUNK_SIZE.low or not self.shrinks(m, half):
                return None
            # the batch-time rule wants larger chunks, which cannot apply to this table's key
            # ranges: measure the other direction instead of assuming
            st.chunk.halving = True
            why = (
                f"batches take {m.write_latency_p50:.2f}s but larger chunks cannot apply to "
                f"this table's key ranges; measuring {half} rows instead"
            )
            return half, why
        why = f"batches take {m.write_latency_p50:.2f}s; sizing chunks toward "
        return target, why + f"{self.s.target_batch_seconds:g}s"

    def _larger(self, st: SearchState, m: MetricsSnapshot, at: Point) -> tuple[int, str] | None:
        """From batches near the target duration, one step of up to LARGER_STEP-fold, kept
        while it pays: a fixed cost per batch can make batches of several seconds faster than
        ones of the target duration, by less than one doubling's noise threshold. Not past
        three quarters of LONG_BATCHES times the target duration (a margin below on_target's),
        nor by a step of less than a doubling, nor past the memory budget."""
        w, c = at
        p50 = m.write_latency_p50
        if self.growth_blocked(st, m) or p50 <= 0:
            return None
        room = 0.75 * LONG_BATCHES * self.s.target_batch_seconds / p50  # some margin below
        if room < 2:
            return None
        _, c_cap = self.safety.caps(m.taken_at)
        new = on_grid(min(c * min(LARGER_STEP, room), c_cap, self.safety.max_chunk(w, m)), "floor")
        if new < 1.25 * c:
            return None
        # the chunk phase goes on with larger chunks only, not back toward the target
        st.chunk.larger = st.chunk.larger_tried = st.chunk.larger_only = True
        return new, f"batches take {p50:.2f}s; measuring {new}-row chunks (less cost per batch)"

    def resize(self, st: SearchState, m: MetricsSnapshot, at: Point) -> int | None:
        """In hold: the chunk size to return to when batches drifted off the target duration
        and a new size would change them; None to keep it."""
        c = at.chunk_size
        target = self.target(m, at)
        drifted = not self.on_target(m)
        if target is not None and target > c and self.growth_blocked(st, m):
            target = None
        if target is not None and target < c and not self.shrinks(m, target):
            target = None
        if target is not None and target != c and drifted:
            return target
        return None

    def judge(
        self, st: SearchState, p: Trial, j: Judgement, last: MetricsSnapshot | None
    ) -> Verdict | None:
        """The verdict on a chunk step of the chunk phase, judged after interval ``last``;
        None: undone when worse."""
        if st.chunk.larger:
            # past the target, larger chunks stay only when they measured better beyond the
            # noise (and are followed by another trial): they cost memory and longer stalls,
            # which two intervals can miss
            if j.gained:
                return KEEP
            st.end_chunk_phase()
            return undo(j.worse, f"larger chunks {p.after[1]} gave {j}")
        if j.gained:
            return None
        assert last is not None
        grew = p.after[1] > p.before[1]
        capped = grew and batches_capped(last) and not st.chunk.halving
        if capped and last.rows_per_batch >= 1.25 * p.batch_rows > 0:
            # the batches grew, as far as the byte budget or the key ranges let them: a step
            # like any other, kept unless it measured worse
            st.chunk.no_growth_table = last.current_table
            st.end_chunk_phase()
            return undo(True, f"chunk {p.after[1]} hurt: {j}") if j.worse else KEEP
        if capped:
            # the batches did not follow the larger chunk_size (the byte budget or sparse key
            # ranges cap them): undo it and measure smaller chunks instead
            st.chunk.halving = True
            st.chunk.no_growth_table = last.current_table
            return undo(j.worse, f"chunk {p.after[1]} gave {j}; batches did not grow")
        # sizing stops at the first step that does not pay: a step toward the batch-time
        # target that is within the noise is kept; a smaller-chunk trial is undone unless it
        # measured better
        st.end_chunk_phase()
        if st.chunk.halving and j.effect < self.s.min_gain:
            return undo(j.worse, f"smaller chunks {p.after} gave {j}")
        return None
