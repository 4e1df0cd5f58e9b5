"""An exclusive ``flock`` on a directory, held by one process for as long as it works in it.

The lock is on the directory itself, not on a file in it: nothing can be deleted from under a
running build or trainer to let a second one in, and a read-only directory can be locked too.
The kernel drops the lock when the process dies, however it dies, so a killed run never leaves a
stale lock behind.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from dataprep.errors import DataprepError


def try_lock(directory: Path) -> int | None:
    """The file descriptor holding an exclusive lock on ``directory``, or None when another process holds it."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise DataprepError(f"cannot open {directory}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return None
        raise DataprepError(f"cannot lock {directory}: {exc.strerror}") from None
    return fd


def unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
