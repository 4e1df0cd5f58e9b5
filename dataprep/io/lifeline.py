"""Pool workers live only as long as the build that started them.

When the build's main process alone is killed (the OOM killer picks the
largest process and kills only it), its pool workers would otherwise live on:
finish their scan, recreate ``--out/.work`` after the user deleted it, and
leave a stray scan behind; idle ones would wait forever on a queue nobody
fills, about 240 MB each.

Two guards, set up by ``bind_to_parent`` as the pool's initializer:

- on Linux the kernel sends SIGKILL to the worker the moment its parent dies
  (``prctl(PR_SET_PDEATHSIG)``), so it neither lingers nor writes on;
- everywhere, ``check_parent`` (called by ``Store`` before it creates a
  directory or renames a finished file into place) ends the worker if its
  parent is gone, which covers the instants before the signal lands and
  systems without prctl.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
ORPHANED_EXIT = 3  # the exit status of a worker that found its build gone

_parent: int | None = None  # the pid of the process that started this worker; None outside workers


def bind_to_parent(parent: int) -> None:
    """Pool initializer: die with ``parent``. Called in the worker, with the parent's pid."""
    global _parent
    _parent = parent
    if sys.platform.startswith("linux"):
        # Should prctl fail, the worker still stops at its next write (check_parent).
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The parent may have died before prctl ran: then no signal will ever come.
    check_parent()


def check_parent() -> None:
    """In a worker whose parent is gone: exit at once, writing nothing more. Elsewhere: nothing."""
    if _parent is not None and os.getppid() != _parent:
        os._exit(ORPHANED_EXIT)
