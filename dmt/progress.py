"""Progress reporting behind one small protocol: rich bars on a terminal, a periodic log line
under cron, nothing in tests. The pipeline calls only :class:`Reporter` methods."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger("dmt")


class Reporter(Protocol):
    """What the pipeline tells the outside world about its progress."""

    def start_table(self, table: str, expected_rows: int) -> None: ...
    def advance(self, table: str, rows: int, nbytes: int = 0) -> None: ...
    def finish_table(self, table: str, rows: int) -> None: ...
    def close(self) -> None: ...


class NullReporter:
    """Reports nothing (tests, --output-json)."""

    def start_table(self, table: str, expected_rows: int) -> None:
        pass

    def advance(self, table: str, rows: int, nbytes: int = 0) -> None:
        pass

    def finish_table(self, table: str, rows: int) -> None:
        pass

    def close(self) -> None:
        pass


MB = 1024 * 1024  # the unit of dmt's other MB/s figures (the monitor's mb_per_sec)


def rate_text(rows_per_sec: float | None, bytes_per_row: float) -> str:
    """``90,800 rows/s, 12.3 MB/s``: rows per second with thousands separators, and megabytes
    per second when the rows' size is known (``-`` before a rate can be measured)."""
    if rows_per_sec is None:
        return "- rows/s"
    text = f"{rows_per_sec:,.0f} rows/s"
    if bytes_per_row > 0:
        text += f", {rows_per_sec * bytes_per_row / MB:,.1f} MB/s"
    return text


def eta_text(seconds: float | None) -> str:
    """``ETA 1:02:03`` (or ``ETA 2:03``); ``ETA -`` when unknown."""
    if seconds is None:
        return "ETA -"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours}:{minutes:02d}:{secs:02d}" if hours else f"ETA {minutes}:{secs:02d}"


class LogReporter:
    """For cron: one progress line every ``every`` seconds, never a bar."""

    def __init__(
        self, total_rows: int, every: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._total = total_rows
        self._every = every
        self._clock = clock
        self._rows = 0
        self._bytes = 0
        self._lock = threading.Lock()
        self._start = clock()
        self._last = self._start

    def start_table(self, table: str, expected_rows: int) -> None:
        log.debug("table `%s`: copying (~%s rows)", table, f"{expected_rows:,}")

    def advance(self, table: str, rows: int, nbytes: int = 0) -> None:
        with self._lock:
            self._rows += rows
            self._bytes += nbytes
            now = self._clock()
            if now - self._last < self._every:
                return
            self._last = now
            done, nbytes_done = self._rows, self._bytes
        log.info("%s", self.line(done, nbytes_done, now - self._start))

    def line(self, rows: int, nbytes: int, seconds: float) -> str:
        """``progress: 1,234,567 of 2,000,000 rows (62%), 90,800 rows/s, 12.3 MB/s, ETA 0:08``
        for ``rows`` and ``nbytes`` copied in ``seconds``."""
        rate = rows / max(seconds, 1e-9)
        text = f"progress: {rows:,}"
        eta = None
        if self._total:
            text += f" of {self._total:,} rows ({min(100, 100 * rows // self._total)}%)"
            eta = max(self._total - rows, 0) / rate if rate > 0 else None
        else:
            text += " rows"
        text += f", {rate_text(rate, nbytes / rows if rows else 0.0)}"
        return text + (f", {eta_text(eta)}" if self._total else "")

    def finish_table(self, table: str, rows: int) -> None:
        log.info("table `%s`: %s rows copied", table, f"{rows:,}")

    def close(self) -> None:
        pass


def _columns() -> tuple[Any, ...]:
    """rich columns: rows done of expected, rows/s and MB/s, ETA. rich's own speed column
    formats as bytes (``90.8 kB/s`` for 90,800 rows/s); these say what is counted."""
    from rich.progress import BarColumn, ProgressColumn, TextColumn
    from rich.table import Column
    from rich.text import Text

    def fixed() -> Column:
        return Column(no_wrap=True)  # numbers never wrap: the name and the bar give way

    class Count(ProgressColumn):
        def render(self, task: Any) -> Text:
            total = f"/{int(task.total):,}" if task.total is not None else ""
            return Text(f"{int(task.completed):,}{total} rows")

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            # the live rate; a finished table keeps the rate of its last 30 s
            speed = task.speed if task.speed is not None else task.finished_speed
            per_row = task.fields.get("nbytes", 0) / task.completed if task.completed else 0.0
            return Text(rate_text(speed, per_row))

    class Eta(ProgressColumn):
        max_refresh = 0.5  # rich's own remaining-time column: a steadier estimate

        def render(self, task: Any) -> Text:
            if task.finished:
                return Text("done")
            return Text(eta_text(task.time_remaining))

    return (
        TextColumn("{task.description}", table_column=Column(overflow="ellipsis")),
        BarColumn(bar_width=None),
        Count(table_column=fixed()),
        Rate(table_column=fixed()),
        Eta(table_column=fixed()),
    )


class RichReporter:
    """Bars per table and overall (rows, rows/s, MB/s, ETA) on a terminal. ``console`` and
    ``get_time`` are rich's (tests render to a file with a fixed clock)."""

    def __init__(
        self,
        total_rows: int,
        console: Any = None,
        get_time: Callable[[], float] | None = None,
    ) -> None:
        from rich.progress import Progress

        self._progress = Progress(*_columns(), console=console, transient=False, get_time=get_time)
        self._lock = threading.Lock()
        self._tasks: dict[str, Any] = {}
        self._bytes: dict[Any, int] = {}  # task -> bytes so far, for MB/s
        self._overall = self._progress.add_task(
            "[bold]all tables", total=total_rows or None, nbytes=0
        )
        self._progress.start()

    def start_table(self, table: str, expected_rows: int) -> None:
        with self._lock:
            self._tasks[table] = self._progress.add_task(
                table, total=expected_rows or None, nbytes=0
            )

    def advance(self, table: str, rows: int, nbytes: int = 0) -> None:
        with self._lock:
            for task in (self._tasks.get(table), self._overall):
                if task is not None:
                    self._progress.advance(task, rows)
                    self._bytes[task] = self._bytes.get(task, 0) + nbytes
                    self._progress.update(task, nbytes=self._bytes[task])

    def finish_table(self, table: str, rows: int) -> None:
        with self._lock:
            task = self._tasks.get(table)
            if task is not None:
                self._progress.update(task, total=rows, completed=rows)

    def close(self) -> None:
        self._progress.stop()


def reporter_factory(quiet: bool) -> Callable[[int], Reporter]:
    """Reporters for a run of ``total`` rows: none when stdout carries JSON (``quiet``), rich
    bars when stderr is a terminal, else a periodic log line."""

    def make(total: int) -> Reporter:
        if quiet:
            return NullReporter()
        if sys.stderr.isatty():
            return RichReporter(total)
        return LogReporter(total)

    return make
