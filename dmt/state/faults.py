"""What a failure of the state store means to the user: one line naming the file and what to
do about it. SQLite's result codes say which fault it is; the message never depends on the
driver's wording."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from dmt.errors import DiskFull, DmtError, StateError, first_line

# SQLite primary result codes (https://www.sqlite.org/rescode.html)
_PERM, _BUSY, _LOCKED, _READONLY, _CORRUPT, _FULL, _CANTOPEN, _NOTADB = 3, 5, 6, 8, 11, 13, 14, 26
_UNWRITABLE_OS = {errno.EACCES, errno.EPERM, errno.EROFS}


def state_fault(path: Path, exc: BaseException, busy_timeout: float) -> DmtError:
    """``exc``, raised by the state store at ``path``, as the error the user can act on."""
    code = _code(exc)
    reason = first_line(exc)
    where = f"state store `{path}`"
    if code == _FULL or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC):
        return DiskFull(path, "state store", then="run the command again (`dmt resume` continues)")
    if code in (_BUSY, _LOCKED):
        return StateError(
            f"{where} is locked by another process (still locked after {busy_timeout:g}s): "
            f"let it finish or stop it (`fuser {path}` names it), then run the command again"
        )
    if code in (_READONLY, _PERM, _CANTOPEN) or (
        isinstance(exc, OSError) and exc.errno in _UNWRITABLE_OS
    ):
        folder = next(p for p in (path.parent, *path.parents) if p.exists())
        return StateError(
            f"{where} cannot be written ({reason}): make `{folder}` and the files in it "
            "writable for this user, or point `migration.state_dir` at a writable folder"
        )
    if code in (_CORRUPT, _NOTADB):
        return StateError(
            f"{where} is corrupt ({reason}): move it aside (the runs it recorded cannot be "
            "resumed) and run `dmt run` again, which starts a new store"
        )
    return StateError(f"{where}: {reason}")


def _code(exc: BaseException) -> int | None:
    """The primary SQLite result code of ``exc``; None for any other exception."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code & 0xFF if isinstance(code, int) else None
    return None
