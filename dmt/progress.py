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
    def advance(self, table: str, rows: int) -> None: ...
    def finish_table(self, table: str, rows: int) -> None: ...
    def close(self) -> None: ...


class NullReporter:
    """Reports nothing (tests, --output-json)."""

    def start_table(self, table: str, expected_rows: int) -> None:
        pass

    def advance(self, table: str, rows: int) -> None:
        pass

    def finish_table(self, table: str, rows: int) -> None:
        pass

    def close(self) -> None:
        pass


class LogReporter:
    """For cron: one progress line every ``every`` seconds, never a bar."""

    def __init__(self, total_rows: int, every: float = 10.0) -> None:
        self._total = total_rows
        self._every = every
        self._rows = 0
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._last = self._start

    def start_table(self, table: str, expected_rows: int) -> None:
        log.debug("table `%s`: copying (~%d rows)", table, expected_rows)

    def advance(self, table: str, rows: int) -> None:
        with self._lock:
            self._rows += rows
            now = time.monotonic()
            if now - self._last < self._every:
                return
            self._last = now
            done = self._rows
        rate = done / max(now - self._start, 1e-9)
        pct = f" ({100 * done / self._total:.0f}%)" if self._total else ""
        log.info("progress: %d rows%s, %.0f rows/s", done, pct, rate)

    def finish_table(self, table: str, rows: int) -> None:
        log.info("table `%s`: %d rows copied", table, rows)

    def close(self) -> None:
        pass


class RichReporter:
    """Bars per table and overall (rows, rows/s, ETA) on a terminal."""

    def __init__(self, total_rows: int, console: Any = None) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._lock = threading.Lock()
        self._tasks: dict[str, Any] = {}
        self._overall = self._progress.add_task("[bold]all tables", total=total_rows or None)
        self._progress.start()

    def start_table(self, table: str, expected_rows: int) -> None:
        with self._lock:
            self._tasks[table] = self._progress.add_task(table, total=expected_rows or None)

    def advance(self, table: str, rows: int) -> None:
        with self._lock:
            task = self._tasks.get(table)
            if task is not None:
                self._progress.advance(task, rows)
            self._progress.advance(self._overall, rows)

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
