"""The search: which step to try next, and what a step's verdict means for the search.

::

    (up to the  ─▶  chunk  ──▶  writers (ramp)  ──▶  hold ──(probe every probe_every)──▶ hold
     usual writer    size toward a     double while a step     one change per steady_gap at
     count, from     ~1 s batch, then  beats the noise; a      most; a probe that does not
     below it)       up to 4x larger   step that measured      pay is reverted
                     while that pays   faster inside it is
                     (after the ramp   kept, the ramp stops;
                     when not before)  down only from above
                                       the default writers

One knob moves at a time so effects can be attributed. The chunk sizes come from
:class:`~dmt.tuning.chunks.ChunkSizing`. No trial starts within ``end_quiet`` of the expected
end.
"""

from __future__ import annotations

from dmt.settings import MAX_WRITER_STEP, WRITERS
from dmt.tuning.chunks import ChunkSizing
from dmt.tuning.decisions import Decision, Point, change, hold
from dmt.tuning.measure import Measurements, relative
from dmt.tuning.metrics import MetricsSnapshot
from dmt.tuning.params import ControllerSettings
from dmt.tuning.phases import SearchState
from dmt.tuning.safety import Safety, held_rows
from dmt.tuning.trials import KEEP, Judgement, Trial, Trials, Verdict, undo


class Search:
    """The search policy over a :class:`~dmt.tuning.phases.SearchState`."""

    def __init__(
        self, settings: ControllerSettings, measure: Measurements, trials: Trials, safety: Safety
    ) -> None:
        self.s = settings
        self.measure, self.trials, self.safety = measure, trials, safety
        self.state = SearchState()
        self.chunks = ChunkSizing(settings, safety)
        self._probe_up = True  # the next probe tries more writers

    # ------------------------------------------------------------------ proposing
    def next(self, m: MetricsSnapshot, at: Point) -> Decision:
        """The next step from the settings ``at``, none of them being measured now."""
        st, (w, c) = self.state, at
        if m.eta_seconds is not None and m.eta_seconds < self.s.end_quiet:
            why = f"the copy should end in {m.eta_seconds:.0f}s: too soon for a trial to pay back"
            return hold(at, why)
        if st.phase == "chunk" and not st.started:
            if self.tiny_start(m):
                # tiny batches are the larger loss (a tenth of the best rate, where one writer
                # fewer costs a few percent to 60 %): grow them first
                step = self.chunks.step(st, m, at)
                if step is not None:
                    return change(at, Point(w, step[0]), "chunk", step[1])
            st.started = True
            new_w = min(self.writer_step(w, 1, False, m), self.s.usual_writers)
            if new_w > w:
                # fewer writers than dmt's default are the slowest setting on most loads, and
                # the chunk phase takes several intervals: step up to the default before it
                why = f"{w} writers are fewer than the usual {self.s.usual_writers}; trying {new_w}"
                return change(at, Point(new_w, c), "ramp", why)
        if st.phase == "chunk":
            step = self.chunks.step(st, m, at)
            if step is not None:
                return change(at, Point(w, step[0]), "chunk", step[1])
            st.end_chunk_phase()
        if st.phase == "writers":
            if st.ramp.direction == 0:
                st.ramp.direction = 1 if self.writer_step(w, 1, False, m) > w else -1
            for _ in range(2):
                new_w = self.writer_step(w, st.ramp.direction, False, m)
                if new_w != w:
                    why = f"trying {new_w} writers (noise {self.measure.noise() * 100:.1f}%)"
                    return change(at, Point(new_w, c), "ramp", why)
                if st.ramp.gained or st.ramp.tried_reverse:
                    break
                self.ramp_done(w)
            st.phase = "hold"
        if st.phase == "hold" and not st.writers_tuned:
            # the ramp has ended; chunks past the batch-time target, not tried before it (a
            # bad start sizes its tiny chunks toward the target and stops there), get their
            # trial now, at the writer count they will run with
            st.writers_tuned = True
            if not st.chunk.larger_tried:
                st.phase, st.chunk.larger_only = "chunk", True
                step = self.chunks.step(st, m, at)
                if step is not None:
                    return change(at, Point(w, step[0]), "chunk", step[1])
                st.end_chunk_phase()
        return self._steady(m, at)

    def _steady(self, m: MetricsSnapshot, at: Point) -> Decision:
        w, c = at
        since = m.taken_at - self.trials.last_change_at
        if since < self.s.steady_gap:
            return hold(at, f"holding {w} writers / {c} rows (cooldown)")
        target = self.chunks.resize(self.state, m, at)
        if target is not None:
            why = f"batches drifted to {m.write_latency_p50:.2f}s; resizing chunks"
            return change(at, Point(w, target), "chunk", why)
        if since >= self.s.probe_every:
            up = self.writer_step(w, 1, True, m)
            down = self.writer_step(w, -1, True, m)
            new_w = up if (self._probe_up and up != w) or down == w else down
            self._probe_up = not self._probe_up
            if new_w != w:
                return change(at, Point(new_w, c), "probe", f"probing {new_w} writers")
        return hold(at, f"holding {w} writers / {c} rows: best measured", "high")

    def writer_step(self, w: int, direction: int, small: bool, m: MetricsSnapshot) -> int:
        """The writer count one step from ``w``: a ramp step doubles or halves, a small one
        moves by a quarter; inside the caps and the memory budget."""
        w_cap, _ = self.safety.caps(m.taken_at)
        if direction > 0:
            step = max(1, w // 4) if small else w
            new = min(w + min(step, MAX_WRITER_STEP), w_cap, self.s.writers_high)
            while new > w and held_rows(m, m.chunk_size) > self.safety.max_chunk(new, m):
                new -= 1
            return max(new, w)
        step = max(1, w // 4) if small else max(1, w // 2)
        return max(WRITERS.low, w - min(step, MAX_WRITER_STEP))

    def tiny_start(self, m: MetricsSnapshot) -> bool:
        """Whether the run starts with batches under a quarter of the target duration: the
        first chunk step is then made after one interval, before any other."""
        st = self.state
        if st.phase != "chunk" or st.started or st.chunk.moved:
            return False
        return self.tiny(m.write_latency_p50)

    def tiny(self, batch_seconds: float) -> bool:
        """Whether batches of ``batch_seconds`` are under a quarter of the target duration."""
        return 0 < batch_seconds < self.s.target_batch_seconds / 4

    # ------------------------------------------------------------------ phase ends
    def ramp_done(self, w: int) -> None:
        """The ramp direction stopped paying at ``w`` writers: hold, or try fewer writers
        once. That trial pays only from an over-provisioned start: fewer writers than the
        default are the worst setting on most loads, so from the default or below it is pure
        cost."""
        ramp = self.state.ramp
        if not ramp.gained and not ramp.tried_reverse and w > self.s.usual_writers:
            ramp.direction, ramp.tried_reverse = -ramp.direction, True
        else:
            self.state.phase = "hold"

    def committed(self, kind: str, fewer_writers: bool) -> None:
        """A change of ``kind`` was applied."""
        if kind == "chunk":
            self.state.chunk.moved = True
        if kind == "safety" and fewer_writers:
            self.state.phase = "hold"  # a back-off: do not ramp straight back into trouble

    # ------------------------------------------------------------------ judging
    def plainly_better(self, p: Trial) -> bool:
        """Steps away from a bad start, judged on their first clean interval: the step up to
        the usual writer count and any chunk step, when that interval is better by twice the
        noise threshold (the mirror of :meth:`Trials.clearly_worse`), and a step toward the
        batch-time target from batches under a quarter of it when it measured faster at all.
        Each further interval at a bad start is throughput lost. Not the ramp proper: its
        next step would be measured against this one sample, and a high one can undo a good
        step."""
        early = p.kind == "ramp" and self.state.phase == "chunk"
        if not (early or p.kind == "chunk") or not p.samples or not p.baseline:
            return False
        effect = relative(p.samples, p.baseline)
        if effect > 2 * self.measure.threshold(len(p.samples), len(p.baseline)):
            return True
        if p.kind != "chunk" or self.state.chunk.larger or p.after[1] <= p.before[1]:
            return False
        return self.tiny(p.batch_seconds) and effect > 0

    def judge(self, p: Trial, j: Judgement) -> Verdict | None:
        """What the verdict on ``p`` means for the search; None: undone when worse."""
        st = self.state
        if p.kind == "ramp" and st.phase == "chunk":
            # the step up to the usual writer count that comes before chunk sizing: kept
            # unless it measured slower; the ramp goes on after the chunks only if it gained
            if j.worse or j.effect < -self.s.min_gain:
                return undo(j.worse, f"writers {p.after[0]} gave {j}")
            st.ramp.direction, st.ramp.gained = 1, j.gained
            st.writers_tuned = not j.gained
            return KEEP
        if p.kind == "ramp":
            return self._judge_ramp(p, j)
        if p.kind == "probe" and not j.gained:
            return undo(j.worse, f"probe {p.after} did not pay: {j}")
        if p.kind == "chunk" and st.phase == "chunk":
            return self.chunks.judge(st, p, j, self.measure.last)
        return None

    def _judge_ramp(self, p: Trial, j: Judgement) -> Verdict:
        if j.gained:
            self.state.ramp.gained = True
            return KEEP
        # fewer writers are kept only when they measured no slower: at short intervals the
        # noise threshold can hide a real loss. More writers are kept, and the ramp stops,
        # unless they measured slower beyond the noise or by more than min_gain: an added
        # writer is measured against a baseline from before it, and a load that slows as it
        # goes biases that low
        writers_up = p.after[0] > p.before[0]
        if j.worse or j.effect < (-self.s.min_gain if writers_up else 0.0):
            self.ramp_done(p.before[0])
            return undo(j.worse, f"writers {p.after[0]} gave {j}")
        # kept: the other way leads back to where the step came from, measured no better
        self.state.phase = "hold"
        return KEEP
