"""Ctrl-C and SIGTERM in two stages: the first stops cleanly (batches in flight finish and are
checkpointed; exit 5 later), the second exits at once. The pipeline's own stop flag follows
the user's without marking it, so a retried copy starts afresh."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dmt.errors import Cancelled

log = logging.getLogger("dmt")


class ChildEvent(threading.Event):
    """The pipeline's stop flag: set by the pipeline itself (its first error), or seen set
    when the user's ``parent`` event is (Ctrl-C). A failed attempt does not mark the user's
    event, so a retry can start afresh and a later Ctrl-C is still the first one."""

    def __init__(self, parent: threading.Event) -> None:
        super().__init__()
        self._parent = parent

    def is_set(self) -> bool:
        return super().is_set() or self._parent.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
            if left <= 0:
                return False
            super().wait(left)
        return True


@contextmanager
def signals_to(abort: threading.Event) -> Iterator[None]:
    """First Ctrl-C / SIGTERM: stop cleanly (exit 5 later); second: exit at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    received = threading.Event()

    def handler(signum: int, frame: Any) -> None:
        if abort.is_set():
            # no logging here: the interrupted code may hold the handler's lock
            os.write(2, b"dmt: second signal: exiting at once; `dmt resume` continues the run\n")
            os._exit(Cancelled.exit_code)
        abort.set()
        received.set()
        log.warning("stopping: finishing batches in flight (press Ctrl-C again to exit at once)")

    old_int = signal.signal(signal.SIGINT, handler)
    old_term = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        if not received.is_set():
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
        # else: the handler stays for the rest of the stop, so a second signal while the run
        # winds down (a slow machine took over a second) still exits at once with code 5
