"""Small and read-only file systems for the fault tests: a tmpfs of a given size (grown later to
"free space"), and a read-only bind mount of a file or folder. Mounting needs root (or
CAP_SYS_ADMIN); where it is impossible the test is skipped with the reason, and fails under
CI=true."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI


def _mount(*args: str) -> None:
    r = subprocess.run(["mount", *args], capture_output=True, text=True)
    if r.returncode != 0:
        reason = f"cannot mount here (`mount {' '.join(args)}`: {r.stderr.strip()})"
        if IN_CI:
            pytest.fail(reason + " (CI=true: the fault tests must run, not skip)")
        pytest.skip(reason)


def _umount(path: Path) -> None:
    for _ in range(50):  # a process that just exited may still hold a file open for a moment
        if subprocess.run(["umount", str(path)], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    subprocess.run(["umount", "--lazy", str(path)], check=True)


@dataclass
class Mount:
    """A mounted file system; ``unmount`` False leaves it mounted at the end (a server may
    still hold files on it)."""

    path: Path
    unmount: bool = True


@contextmanager
def tmpfs(size: str, owner: int | None = None) -> Iterator[Mount]:
    """A new tmpfs of ``size`` (``1m``, ``512k``) on a fresh folder under the system temp
    folder (whose parents every user can traverse), owned by uid ``owner`` when given."""
    path = Path(tempfile.mkdtemp(prefix="dmt_small_"))
    opts = f"size={size},mode=0700"
    if owner is not None:
        import pwd

        opts += f",uid={owner},gid={pwd.getpwuid(owner).pw_gid}"
    try:
        _mount("-t", "tmpfs", "-o", opts, "dmt_small", str(path))
        mount = Mount(path)
        try:
            yield mount
        finally:
            if mount.unmount:
                _umount(path)
    finally:
        if not os.path.ismount(path):
            os.rmdir(path)


def grow(path: Path, size: str) -> None:
    """Give the tmpfs at ``path`` the new size ``size`` (its files stay)."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(path)], check=True)


def fill(path: Path) -> Path:
    """Write a file in ``path`` until its file system is full; returns the file."""
    filler = path / "filler"
    block = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f:
        for size in (65536, 4096, 512):
            try:
                while True:
                    f.write(block[:size])
            except OSError:
                continue
    return filler


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` (a file or a folder) read-only in place, for every user including root."""
    _mount("--bind", str(path), str(path))
    try:
        _mount("-o", "remount,bind,ro", str(path))
        yield
    finally:
        _umount(path)
