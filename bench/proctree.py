"""Resident memory of a process and all its descendants (pool workers included), sampled while it runs."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo.extend(children.get(p, []))
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def run_sampled(cmd: list[str], every: float = 0.1) -> tuple[str, float]:
    """Run ``cmd``; its standard output and the largest resident memory of its process tree (MB),
    sampled every ``every`` seconds."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_rss_mb(proc.pid))
        time.sleep(every)
    out = proc.stdout.read()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd, out)
    return out, peak
