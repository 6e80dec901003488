"""Measuring an interval: the rate its settings sustain, which samples count, and the noise.

A sample counts when the interval is clean (every batch committed in it started after the last
change) and typical (an isolated stall or spike at unchanged settings counts for neither the
baseline nor the noise). A baseline is samples that agree. The noise is measured between
successive intervals at unchanged settings.
"""

from __future__ import annotations

import math
import statistics
from collections import deque

from dmt.tuning.decisions import Point
from dmt.tuning.metrics import MetricsSnapshot

OUTLIER = 0.6  # an interval below this share of its settings' median, or above its inverse,
# is an outlier...
OUTLIERS_IN_ROW = 2  # ...unless more follow: then throughput has moved, not stalled


def typical(rate: float, median: float) -> bool:
    """Whether ``rate`` lies inside the outlier band around ``median``."""
    return OUTLIER * median <= rate <= median / OUTLIER


def agreeing(xs: list[float]) -> list[float]:
    """The samples that agree with each other: two inside the outlier band of each other, or
    of three or more those near their median; none until then (of two that disagree, either
    can be the stall)."""
    if len(xs) == 2:
        return xs if typical(xs[0], xs[1]) else []
    if len(xs) >= 3:
        mid = statistics.median(xs)
        return [x for x in xs if typical(x, mid)]
    return []


def relative(samples: list[float], baseline: list[float]) -> float:
    """How much ``samples`` differ from ``baseline`` on average (0.1 = 10 % more)."""
    return statistics.fmean(samples) / statistics.fmean(baseline) - 1


def sustained_rate(m: MetricsSnapshot, prev: MetricsSnapshot | None) -> float:
    """The interval's throughput less the rows the read-ahead queue gave up during it: what
    the settings sustain. Added writers first empty a full queue on top of what the readers
    supply; counted as throughput, that backlog makes a step to more writers read as a gain
    where it is a loss. A queue that fills is not added back: the rows committed are what the
    writers sustain. A change of one batch is the queue's ordinary jitter and is ignored."""
    drained = 0 if prev is None else prev.queue_depth - m.queue_depth - 1
    if drained <= 0 or m.interval_seconds <= 0:
        return m.rows_per_sec
    return max(0.0, m.rows_per_sec - drained * m.rows_per_batch / m.interval_seconds)


def batches_capped(m: MetricsSnapshot) -> bool:
    """Whether batches stay well below chunk_size, so a larger chunk_size changes nothing:
    the memory budget caps each batch in bytes, or the rows are sparse in their key
    ranges. (With ``chunk_size_at: chunk`` a larger size merges planned key ranges, so
    batches can grow; with ``table`` the change waits for the next table anyway.)"""
    if m.batches_in_interval < 2:
        return False
    return m.rows_per_batch < 0.6 * m.chunk_size


class Measurements:
    """The samples each setting has had, the last interval seen, and the noise between
    successive intervals. Fed one interval at a time by :meth:`observe` and :meth:`record`."""

    def __init__(self, min_gain: float, default_noise: float) -> None:
        self.min_gain, self.default_noise = min_gain, default_noise
        self.samples: dict[Point, deque[float]] = {}
        self.last: MetricsSnapshot | None = None  # the last interval
        self.point: Point | None = None  # its settings
        self.quick: Point | None = None  # settings a step was judged plainly better to
        self._outliers: list[float] = []  # consecutive outliers at the current settings
        self._diffs: deque[float] = deque(maxlen=20)  # see noise()
        self._run_last: float | None = None  # the last sample, if the run of samples goes on

    def noise(self) -> float:
        """Coefficient of variation of throughput from one interval to the next at unchanged
        settings (successive differences: var(d) = 2 var(x)). Not the spread of all samples
        of a setting: those from before and after a trial are minutes apart, and on a load
        that slows as it goes that drift reads as noise, under which a real gain hides."""
        if len(self._diffs) < 3:
            return self.default_noise
        return math.sqrt(statistics.fmean(d * d for d in self._diffs) / 2)

    def threshold(self, n_a: int, n_b: int) -> float:
        """The smallest relative difference between means of ``n_a`` and ``n_b`` samples that
        is more than the noise."""
        return max(self.min_gain, 2 * self.noise() * math.sqrt(1 / n_a + 1 / n_b))

    def observe(self, m: MetricsSnapshot) -> tuple[Point, Point | None, float]:
        """Take one interval: its settings, the previous interval's, and its sustained rate."""
        point = Point(m.target_writers or m.active_writers, m.chunk_size)
        prev, self.point = self.point, point
        rate, self.last = sustained_rate(m, self.last), m
        return point, prev, rate

    def record(
        self, m: MetricsSnapshot, point: Point, prev: Point | None, rate: float, since: float
    ) -> bool:
        """Count ``rate`` as a sample of ``point`` if it is one: the settings did not change,
        the interval is clean of the change made at ``since``, and it is no outlier."""
        if point != prev:
            self._outliers = []
        if point == prev and rate > 0 and self._clean(m, since) and not self._outlier(point, rate):
            self.samples.setdefault(point, deque(maxlen=6)).append(rate)
            last, self._run_last = self._run_last, rate
            if last is not None and typical(rate, last):  # a trial's first samples can stall
                self._diffs.append(2 * (rate - last) / (rate + last))
            return True
        self._run_last = None
        return False

    @staticmethod
    def _clean(m: MetricsSnapshot, since: float) -> bool:
        """Whether every batch committed in the interval started after the change made at
        ``since``. The interval in which a change appears is mixed; with batches longer than
        the interval the next ones are too: a writer added during them has committed
        nothing yet."""
        started = m.taken_at - m.interval_seconds
        return started - m.write_latency_p50 >= since

    def _outlier(self, point: Point, rate: float) -> bool:
        """Whether ``rate`` is an isolated stall or spike at unchanged settings, kept out of the
        baseline and the noise (a checkpoint halves one interval; counted, it lifts the noise
        estimate above the gains it should reveal). A run of them is a shift of the level (a
        concurrent load on the target): the settings' samples restart from it."""
        xs = self.samples.get(point)
        if xs is None or len(xs) < 2 or typical(rate, statistics.median(xs)):
            self._outliers = []
            return False
        self._outliers.append(rate)
        if len(self._outliers) <= OUTLIERS_IN_ROW:
            return True
        xs.clear()
        xs.extend(self._outliers[:-1])  # record() appends this one
        self._outliers = []
        return False

    def baseline(self, point: Point) -> list[float]:
        """Of the last three samples at ``point``, those that agree (:func:`agreeing`); none
        from one sample, which can be a stall: a trial measured against it reads as a gain.
        One is enough when it is the sample that judged a step plainly better (a stall
        cannot have done that, and a high one only makes the next step read worse)."""
        xs = list(self.samples.get(point, ()))[-3:]
        if len(xs) == 1 and point == self.quick:
            return xs
        return agreeing(xs)
