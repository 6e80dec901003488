"""The dmt error tree. Split by what the caller can do about it, not by where it happened.

::

    DmtError                      anything dmt raises on purpose
    ├── ConfigError               fix the config or the command line         exit 1
    ├── ConnectError              a server cannot be reached; safe to retry  exit 2
    ├── TransferError             a table failed to copy (table, key range)  exit 3
    │   └── PostLoadError         an index, FK, check or sequence failed     exit 3
    ├── ValidationMismatch        source and target differ after the copy    exit 4
    ├── Cancelled                 Ctrl-C / SIGTERM; safe to resume           exit 5
    ├── StateError                the state store is unusable or busy        exit 6
    └── DmtIOError                a local file cannot be read or written     exit 7

Driver exceptions are translated once, in the dialect that raised them, and chained
(``raise TransferError(...) from exc``). Code outside ``dialects/`` catches only these.
Only ``cli.py`` turns them into exit codes.
"""

from __future__ import annotations


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


class TransferError(DmtError):
    """A table failed to copy; names the table and, where known, the key range."""

    exit_code = 3

    def __init__(self, message: str, table: str | None = None, key_range: str | None = None):
        self.table = table
        self.key_range = key_range
        where = ""
        if table:
            where = f"table `{table}`"
            if key_range:
                where += f" {key_range}"
            where += ": "
        super().__init__(where + message)


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
