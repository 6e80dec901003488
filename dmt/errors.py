"""The dmt error tree. Split by what the caller can do about it, not by where it happened.

::

    DmtError                      anything dmt raises on purpose
    ├── ConfigError               fix the config or the command line         exit 1
    ├── ConnectError              a server cannot be reached; safe to retry  exit 2
    │   ├── ConnectionLost        an open connection broke mid-run           exit 2
    │   └── Stalled               a query stuck past stall_timeout; cancelled exit 2
    ├── TransferError             a table failed to copy (table, key range)  exit 3
    │   └── PostLoadError         an index, FK, check or sequence failed     exit 3
    ├── ValidationMismatch        source and target differ after the copy    exit 4
    │   └── ValidationIncomplete  a validation query failed: copy not proven exit 4
    ├── Cancelled                 Ctrl-C / SIGTERM; safe to resume           exit 5
    ├── StateError                the state store is unusable or busy        exit 6
    └── DmtIOError                a local file cannot be read or written     exit 7
        └── DiskFull              a local disk filled up (path, free space)  exit 7

Driver exceptions are translated once, by the dialect whose driver raised them
(:meth:`dmt.dialects.base.Dialect.translate_error`), and chained (``raise err from exc``):
a broken connection becomes a ConnectionLost, anything else the DmtError it means. Code
outside ``dialects/`` catches only these. Only ``cli.py`` turns them into exit codes.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path


class DmtError(Exception):
    """Root of every error dmt raises on purpose."""

    exit_code: int = 3


class ConfigError(DmtError):
    """The configuration or the command line is wrong; nothing was touched."""

    exit_code = 1

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}" if key else message)


class ConnectError(DmtError):
    """A server could not be reached or refused the login. Safe to retry."""

    exit_code = 2

    def __init__(self, side: str, message: str) -> None:
        self.side = side
        super().__init__(f"cannot connect to {side}: {message}")


class ConnectionLost(ConnectError):
    """An open connection broke mid-run (server restarted, backend terminated). Safe to retry
    or resume: chunks that were in flight are cleaned and copied again."""

    def __init__(self, side: str, message: str) -> None:
        self.side = side
        DmtError.__init__(self, f"lost the connection to the {side}: {message}")


class Stalled(ConnectError):
    """No batch committed for ``migration.stall_timeout``, or a cleanup statement hit it: the
    stuck query was cancelled. Safe to retry or resume: its chunk is cleaned and copied again."""

    def __init__(self, side: str, message: str) -> None:
        self.side = side
        DmtError.__init__(self, message)


class TransferError(DmtError):
    """A table failed to copy; names the table and, where known, the key range."""

    exit_code = 3

    def __init__(self, message: str, table: str | None = None, key_range: str | None = None):
        self.table = table
        self.key_range = key_range
        self.message = message  # without the table and key range
        super().__init__(located(table, key_range) + message)


class PostLoadError(TransferError):
    """One or more post-load objects (indexes, FKs, checks, sequences) failed."""

    def __init__(self, failures: list[str]) -> None:
        self.failures = failures
        super().__init__(f"{len(failures)} post-load object(s) failed: " + "; ".join(failures))


class ValidationMismatch(DmtError):
    """Source and target differ after the copy."""

    exit_code = 4

    def __init__(self, mismatches: list[str], result: object = None) -> None:
        self.mismatches = mismatches
        self.result = result  # the run summary, when a run (not `dmt validate`) found it
        super().__init__("validation mismatch: " + "; ".join(mismatches))


class ValidationIncomplete(ValidationMismatch):
    """A validation query failed or timed out: the copy is not proven equal (never a warning)."""

    def __init__(self, message: str) -> None:
        self.mismatches = [message]
        self.result = None
        DmtError.__init__(self, f"validation could not finish: {message}")


class Cancelled(DmtError):
    """The run was interrupted (Ctrl-C or SIGTERM). Safe to resume."""

    exit_code = 5

    def __init__(self, message: str = "cancelled; safe to resume") -> None:
        super().__init__(message)


class StateError(DmtError):
    """The state store cannot be opened or is held by another run."""

    exit_code = 6


class DmtIOError(DmtError):
    """A local file (config, output, plot) cannot be read or written."""

    exit_code = 7


class DiskFull(DmtIOError):
    """A local file's disk is full (a SQLite target, the state store). Nothing is lost: the
    transaction that hit it rolled back, so freeing space and resuming completes the run."""

    def __init__(
        self, path: str | Path, what: str, prefix: str = "", then: str = "run `dmt resume`"
    ) -> None:
        self.path = Path(path)
        super().__init__(
            f"{prefix}the disk holding the {what} `{self.path}` is full "
            f"({free_space(self.path)}): free space there, then {then}"
        )


def free_space(path: Path) -> str:
    """``12.0 kB free of 1.0 MB`` for the file system holding ``path`` (or its nearest folder)."""
    for where in (path, *path.parents):
        try:
            usage = shutil.disk_usage(where)
        except OSError:
            continue
        return f"{human_bytes(usage.free)} free of {human_bytes(usage.total)}"
    return "free space unknown"


def human_bytes(n: float) -> str:
    """``n`` bytes in decimal units: ``512 B``, ``12.3 kB``, ``4.0 GB``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text, or its class name."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def located(table: str | None, key_range: str | None = None) -> str:
    """``table `t` (range): `` as messages start when they name a table, else nothing."""
    if not table:
        return ""
    return f"table `{table}`" + (f" {key_range}" if key_range else "") + ": "


def causes(exc: BaseException | None) -> Iterator[BaseException]:
    """``exc`` and every exception in its cause (or context) chain, each once."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__
