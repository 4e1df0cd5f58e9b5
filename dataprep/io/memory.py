"""Memory: allocator settings for long numpy pipelines, and how much memory is left.

glibc returns large freed blocks to the kernel, so every batch pays page
faults again on fresh memory; in sandboxes and VMs those faults are costly
(measured here: a 40 MB cumulative product went from 178 ms to 48 ms). Keeping
freed memory in the heap makes the second batch reuse warm pages. Peak RSS is
unchanged; it is simply not given back until exit.

``available_memory`` is what the reader weighs a document against before the
work on it begins (reader.py), so that too large a document is refused in one
line instead of ending in an allocation failure.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse. Returns False where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_MAX, 0) == 1
        ok &= libc.mallopt(_M_TRIM_THRESHOLD, 2**30) == 1
        return bool(ok)
    except (OSError, AttributeError):
        return False


def available_memory() -> int | None:
    """Bytes this process can still allocate, by the tightest of the limits it can see; None if none.

    The limits: free memory (MemAvailable), the address-space rlimit (``ulimit -v``) less what the
    process already maps, and its cgroup's memory limit less its usage (v2, else v1). Each is read
    when asked, as the answer changes while a command runs.
    """
    found = [n for n in (_mem_available(), _address_space_left(), _cgroup_left()) if n is not None]
    return max(0, min(found)) if found else None


def _read_int(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None  # "max" (v2's no limit) and the unreadable count as none


def _status_kb(path: str, key: str) -> int | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _mem_available() -> int | None:
    return _status_kb("/proc/meminfo", "MemAvailable")


def _address_space_left() -> int | None:
    try:
        import resource
    except ImportError:  # not on every platform
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    mapped = _status_kb("/proc/self/status", "VmSize")
    return soft - (mapped or 0)


def _cgroup_left() -> int | None:
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        cap = _read_int(limit)
        if cap is not None and cap < 1 << 60:  # v1 writes a huge number for "no limit"
            return cap - (_read_int(usage) or 0)
    return None
