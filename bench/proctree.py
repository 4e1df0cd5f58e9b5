"""Memory of a process and all its descendants (pool workers included), sampled while it runs.

Two sums: resident sets (VmRSS), which count a shared library's pages once in every process that maps
it, and proportional sets (Pss), which share those pages out among the processes: the physical
memory the tree holds.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    return sum(_field(p, "status", "VmRSS:") for p in _tree(pid)) / 1024


def tree_pss_mb(pid: int) -> float:
    """Proportional memory of a process and all its descendants, in MB."""
    return sum(_field(p, "smaps_rollup", "Pss:") for p in _tree(pid)) / 1024


def _field(pid: int, name: str, key: str) -> int:
    """A kB figure from /proc/PID/NAME (0 once the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree(pid: int) -> list[int]:
    """A process and all its descendants."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def run_sampled(cmd: list[str], every: float = 0.1) -> tuple[str, float, float]:
    """Run ``cmd``; its standard output and the largest sums of its process tree's resident and
    proportional memory (MB), sampled every ``every`` seconds."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    rss = pss = 0.0
    while proc.poll() is None:
        rss, pss = max(rss, tree_rss_mb(proc.pid)), max(pss, tree_pss_mb(proc.pid))
        time.sleep(every)
    out = proc.stdout.read()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd, out)
    return out, rss, pss
