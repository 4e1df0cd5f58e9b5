"""An exclusive ``flock`` on a file, held by one process for as long as it works in a directory.

The kernel drops the lock when the process dies, however it dies, so a killed run never leaves a
stale lock behind: the file stays, the lock does not.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = ".lock"  # in a build's output directory and in a training run's directory


def try_lock(path: Path) -> int | None:
    """The file descriptor holding an exclusive lock on ``path`` (created if missing), or None when
    another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
