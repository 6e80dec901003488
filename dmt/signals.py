"""Ctrl-C and SIGTERM in two stages: the first stops cleanly (batches in flight finish and are
checkpointed; exit 5 later), the second exits at once. The pipeline's own stop flag
(:class:`dmt.pipeline.stop.StopFlag`) follows the user's without marking it, so a retried copy
starts afresh."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dmt.errors import Cancelled

log = logging.getLogger("dmt")


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
