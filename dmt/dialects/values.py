"""What crosses a dialect's read and write seams: rows, per-column converters, the options for
values with no exact counterpart, and the counters of values converted on the way."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dmt.config import MigrationConfig
from dmt.model.ranges import Row

Converter = Callable[[Any], Any]
Fetch = Callable[[int], list[Row]]


@dataclass(frozen=True)
class ValueOptions:
    """How a dialect treats values with no exact counterpart (``migration.zero_dates`` and
    ``migration.nul_bytes``); built from the config by :func:`value_options`."""

    zero_dates: str = "null"  # null | error: MySQL zero dates read as NULL, or fail the table
    nul_bytes: str = "error"  # error | strip: NUL in text bound for PostgreSQL


def value_options(migration: MigrationConfig) -> ValueOptions:
    """The value-conversion settings of the ``migration:`` section."""
    return ValueOptions(zero_dates=migration.zero_dates, nul_bytes=migration.nul_bytes)


@dataclass
class ValueCounters:
    """Values converted on the way, by reason (e.g. ``zero_date->null``): the run summary.

    Readers and writers of several threads count into one instance, hence the lock."""

    counts: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self.counts[reason] = self.counts.get(reason, 0) + n


def format_timedelta(v: dt.timedelta, pad_hours: bool = False) -> str:
    """``[-]H:MM:SS[.ffffff]`` (hours may exceed 24; two digits at least with ``pad_hours``):
    the TIME literal MySQL reads, and the text SQLite stores."""
    us = abs(v.days * 86_400_000_000 + v.seconds * 1_000_000 + v.microseconds)
    sign = "-" if v < dt.timedelta(0) else ""
    secs, frac = divmod(us, 1_000_000)
    h, rest = divmod(secs, 3600)
    hours = f"{h:02d}" if pad_hours else str(h)
    text = f"{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{text}.{frac:06d}" if frac else text
