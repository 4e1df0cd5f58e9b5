"""A build whose main process alone is killed (as the OOM killer does) leaves no process and no file behind.

Its pool workers used to live on: they finished their shard, recreated ``--out/.work`` after the
user had deleted ``--out``, and a later build into the same directory reused that stray scan and
wrote bins partly from the old inputs; idle workers and the resource tracker waited forever.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dataprep.synth import SynthConfig, generate

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc to find the workers")

OUTPUTS = ("train.bin", "val.bin", "meta.json", "manifest.parquet", "val_bands.npy", "report.md")


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state; the name may hold spaces


def descendants(pid: int) -> set[int]:
    found, frontier = set(), {pid}
    while frontier:
        children = {int(p) for p in os.listdir("/proc") if p.isdigit() and parent_of(int(p)) in frontier}
        frontier = children - found
        found |= children
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def build_cmd(inputs: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "dataprep_cli.main", "build", "--input", str(inputs), "--out", str(out),
            "--workers", "2", "--val-fraction", "0.05", "--json"]


@pytest.fixture(scope="module")
def two_corpora(tmp_path_factory):
    d = tmp_path_factory.mktemp("orphans")
    # Shards big enough that a worker is still scanning when the main process is killed.
    generate(d / "old", SynthConfig(docs=1500, shards=4, seed=71))
    generate(d / "new", SynthConfig(docs=1500, shards=4, seed=72))
    return d


def test_workers_die_with_a_killed_main_process_and_write_nothing_after(two_corpora):
    d = two_corpora
    out = d / "out"
    proc = subprocess.Popen(build_cmd(d / "old", out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 60
        while not (out / ".state" / "scan" / "00000").exists() and time.time() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, "the build ended before a worker started"
        time.sleep(0.2)
        workers = descendants(proc.pid)  # pool workers and multiprocessing's resource tracker
        trackers = {p for p in workers if "resource_tracker" in cmdline(p)}
        assert len(trackers) == 1 and len(workers - trackers) >= 2, {p: cmdline(p) for p in workers}
        proc.send_signal(signal.SIGKILL)  # the main process alone
        proc.wait()
        shutil.rmtree(out)  # the user cleans up after the failed build
        deadline = time.time() + 10
        while any(alive(p) for p in workers) and time.time() < deadline:
            time.sleep(0.05)
        assert not any(alive(p) for p in workers - trackers), "workers outlived the build that started them"
        # The tracker ends once every process holding its pipe (the build and its workers) is gone.
        assert not any(alive(p) for p in trackers), "the resource tracker outlived the build"
        time.sleep(0.5)
        assert not out.exists(), "a worker wrote into --out after its build was gone"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever survived, so a failure leaks nothing
        except ProcessLookupError:
            pass

    # A later build of other inputs into the same directory holds those inputs only.
    done = subprocess.run(build_cmd(d / "new", out), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    reference = d / "reference"
    subprocess.run(build_cmd(d / "new", reference), check=True, capture_output=True)
    for name in ("train.bin", "val.bin", "manifest.parquet", "val_bands.npy"):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
