"""The process itself: how long ago the OS started it, so a run's fixed cost counts the
interpreter's start-up and the imports, not only what dmt's code did; and glibc's malloc arenas.

Nothing here imports a third-party module on Linux (``/proc`` answers); elsewhere psutil does.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import time
from typing import NoReturn

log = logging.getLogger("dmt")

#: the clock when this module was first imported: the fallback start when the OS cannot say
_IMPORTED = time.monotonic()


def _age_from_proc() -> float:
    """Seconds since the kernel started this process: ``/proc/self/stat``'s start time (clock
    ticks since boot, so at most one tick, 10 ms, early) against CLOCK_BOOTTIME now."""
    with open("/proc/self/stat", "rb") as f:
        stat = f.read()
    # the command name (field 2) may hold spaces and parentheses: count fields after its ")"
    start_ticks = int(stat[stat.rindex(b")") + 2 :].split()[19])
    return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")


def _age_from_psutil() -> float:
    import psutil

    return time.time() - psutil.Process().create_time()


def started() -> float:
    """``time.monotonic()`` at the moment the OS started this process (the moment this module
    was imported when neither ``/proc`` nor psutil can tell)."""
    for age in (_age_from_proc, _age_from_psutil):
        with contextlib.suppress(Exception):  # no /proc, no psutil, no permission: next one
            seconds = age()
            if 0 <= seconds < 7 * 86400:
                return time.monotonic() - seconds
    return _IMPORTED


def since_start(at: float) -> float:
    """Seconds from the process start to ``at`` (a ``time.monotonic()`` reading)."""
    return at - started()


def one_malloc_arena() -> None:
    """glibc gives every thread that allocates its own malloc arena and keeps what each frees;
    with the columnar readers' and writers' threads that was 190 MB of peak RSS on the wide
    benchmark table (462 MB vs 270 MB, same speed). One arena keeps memory near the budget."""
    if sys.platform != "linux":
        return
    import ctypes

    # the process's own symbols (no find_library: it runs ldconfig at every start)
    with contextlib.suppress(OSError, AttributeError):  # not glibc: no mallopt
        ctypes.CDLL(None).mallopt(-8, 1)  # M_ARENA_MAX


def exit_now(code: int) -> NoReturn:
    """Exit as ``sys.exit`` would, without the interpreter's teardown, which frees every module
    and object one by one: 0.1-0.4 s after the work is done once pyarrow and the drivers are
    loaded. Other threads are waited for and atexit handlers run (logging's flush among them),
    as at a normal exit; everything dmt opened is closed before this is called. Under a profiler
    or a tracer (cProfile, coverage) the exit is a normal one: they write their results last."""
    log.debug("exit %.3fs after the process started", since_start(time.monotonic()))
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing left to say
            stream.flush()
    os._exit(code)
