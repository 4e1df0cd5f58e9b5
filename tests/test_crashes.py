"""A build killed, interrupted or out of disk loses nothing: the rerun ends with the same bytes.

``DATAPREP_KILLS`` sets how many random kill moments to try (default 20).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dataprep.errors import DataprepError
from dataprep.io.storage import Store
from dataprep.pipeline.outdir import LEDGER
from dataprep.synth import SynthConfig, generate

OUTPUTS = ("train.bin", "val.bin", "meta.json", "manifest.parquet", "val_bands.npy", "report.md")
KILLS = int(os.environ.get("DATAPREP_KILLS", "20"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("crash")
    generate(d / "in", SynthConfig(docs=150, shards=4, seed=41))
    return d


def command(corpus, out, *extra) -> list[str]:
    return [sys.executable, "-m", "dataprep_cli.main", "build", "--input", str(corpus / "in"), "--out", str(out),
            "--val-fraction", "0.05", "--json", *extra]


@pytest.fixture(scope="module")
def reference(corpus):
    """An uninterrupted build, and how long it took."""
    out = corpus / "reference"
    t0 = time.monotonic()
    subprocess.run(command(corpus, out), check=True, capture_output=True)
    return out, time.monotonic() - t0


def same_bytes(a, b) -> None:
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_sigkill_at_random_moments_then_rerun_gives_the_same_bytes(corpus, reference):
    ref, duration = reference
    rng = np.random.default_rng(0)
    moments = rng.uniform(0.0, duration, KILLS)
    finished_before_kill = 0
    for k, moment in enumerate(moments):
        out = corpus / f"kill{k}"
        workers = "2" if k % 2 else "1"
        proc = subprocess.Popen(command(corpus, out, "--workers", workers), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(moment)
        finished_before_kill += proc.poll() is not None
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and its pool workers
        except ProcessLookupError:  # it had already finished
            pass
        proc.wait()
        if not (out / "meta.json").exists():
            # Killed mid-build: no output may look complete, since meta.json is the last file written.
            assert not (out / "report.md").exists()
        rerun = subprocess.run(command(corpus, out, "--workers", workers), capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stderr
        same_bytes(out, ref)
        assert not (out / ".work").exists()
        assert not list(out.rglob(".*.tmp-*"))
    assert finished_before_kill < KILLS  # most kills landed mid-build


@pytest.fixture(scope="module")
def growth(corpus):
    """A build of the first two shards (where each growth starts), and how long growing it to all four takes."""
    files = sorted(str(p) for p in (corpus / "in").glob("*.parquet"))
    base = corpus / "base"
    subprocess.run(command(corpus, base)[:5] + files[:2] + command(corpus, base)[6:], check=True, capture_output=True)
    timed = corpus / "growth-timed"
    shutil.copytree(base, timed)
    t0 = time.monotonic()
    subprocess.run(command(corpus, timed), check=True, capture_output=True)
    return base, time.monotonic() - t0


def test_sigkill_during_a_growth_then_rerun_gives_the_one_shot_bytes(corpus, reference, growth):
    ref, _ = reference
    base, duration = growth
    moments = np.random.default_rng(2).uniform(0.0, duration, max(2, KILLS // 2))
    states = set()
    for k, moment in enumerate(moments):
        out = corpus / f"growkill{k}"
        shutil.copytree(base, out)
        workers = "2" if k % 2 else "1"
        proc = subprocess.Popen(command(corpus, out, "--workers", workers), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(moment)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        # Whenever killed, a meta.json in place describes the bins beside it: the old build's or the new one's.
        if (out / "meta.json").exists():
            meta = json.loads((out / "meta.json").read_text())
            assert (out / "train.bin").stat().st_size == 2 * meta["train_tokens"]
            assert (out / "val.bin").stat().st_size == 2 * meta["val_tokens"]
            states.add(len(meta["sources"]))
        else:
            assert not (out / "report.md").exists()
            states.add("mid-swap")
        rerun = subprocess.run(command(corpus, out, "--workers", workers), capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stderr
        same_bytes(out, ref)
        assert not (out / ".work").exists()
        assert not list(out.rglob(".*.tmp-*"))
    assert 2 in states  # most kills landed before the new outputs were in place


def test_disk_full_is_one_line_and_a_rerun_with_space_completes(corpus, reference):
    ref, _ = reference
    out = corpus / "full"

    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG from write() instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    full = subprocess.run(command(corpus, out, "--workers", "1"), capture_output=True, text=True,
                          preexec_fn=small_disk)
    assert full.returncode == 2, full.stderr
    lines = full.stderr.strip().splitlines()
    assert len(lines) == 1 and "no space left" in lines[0] and "rerun" in lines[0]
    assert not (out / "meta.json").exists()
    assert not list(out.rglob(".*.tmp-*")) or all(p.stat().st_size <= 60_000 for p in out.rglob(".*.tmp-*"))
    rerun = subprocess.run(command(corpus, out, "--workers", "1"), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    same_bytes(out, ref)


def test_ctrl_c_at_random_moments_stops_within_seconds_and_says_how_to_resume(corpus, reference):
    ref, duration = reference
    moments = np.random.default_rng(1).uniform(0.0, duration, max(2, KILLS // 4))
    for k, moment in enumerate(moments):
        out = corpus / f"sigint{k}"
        proc = subprocess.Popen(command(corpus, out, "--workers", "2"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        # From the moment the build starts: a Ctrl-C while Python itself starts up is Python's to handle.
        deadline = time.time() + 60
        while not out.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.005)
        time.sleep(moment)
        try:
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C sends: the whole foreground group
        except ProcessLookupError:
            pass
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=30)
        assert time.monotonic() - t0 < 10
        if proc.returncode == -signal.SIGINT:  # it had finished, and Python was already tearing down
            assert (out / "meta.json").exists() and not err
        elif proc.returncode != 0:  # or it finished just before the signal (0)
            assert proc.returncode == 130, err
            assert err.strip().splitlines() == [err.strip()], err  # one line: no worker tracebacks
            assert "interrupted" in err and "rerun the same command" in err
        rerun = subprocess.run(command(corpus, out, "--workers", "2"), capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stderr
        same_bytes(out, ref)


def test_ctrl_c_while_the_command_starts_is_one_line():
    # The Ctrl-C lands while the command's own modules are being imported, however fast that is: raised
    # there, not signalled, since a signal is handled wherever the interpreter next checks for one.
    interrupt_during_import = (
        "import sys\n"
        "class CtrlC:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'dataprep_cli.build_cmd':\n"
        "            raise KeyboardInterrupt\n"
        "sys.meta_path.insert(0, CtrlC())\n"
        "import dataprep_cli.main\n"
        "sys.exit(dataprep_cli.main.main(['build', '--out', 'never']))\n"  # build's module loads when build runs
    )
    run = subprocess.run([sys.executable, "-c", interrupt_during_import], capture_output=True, text=True)
    assert run.returncode == 130, run.stderr
    assert run.stderr.strip() == "dataprep: interrupted while starting; nothing was written"


@pytest.mark.parametrize("rel", ["../escape.bin", "a/../../escape.bin", "/etc/passwd", "..", "a\\\\..\\\\b"])
def test_store_refuses_paths_that_leave_the_output_directory(tmp_path, rel):
    store = Store(tmp_path / "out")
    with pytest.raises(DataprepError, match="leaves"):
        store.write_bytes(rel, b"x")
    assert not (tmp_path / "escape.bin").exists()


def test_ids_and_sources_never_become_paths(corpus, reference):
    """Document ids and file names end up in the manifest only; every written name is fixed."""
    ref, _ = reference
    names = {p.name for p in ref.iterdir()}
    assert names <= {".lock", LEDGER, ".state", *OUTPUTS}
