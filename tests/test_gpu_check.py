"""bench/gpu_check.py in its CPU smoke mode, so the one prepared GPU script cannot rot between GPU sessions."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
NANOGPT = ROOT.parent / "shared" / "peers" / "nanoGPT"  # an unmodified peer checkout, where this machine has one


def test_gpu_check_runs_end_to_end_in_smoke_mode(tmp_path):
    cmd = [sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--smoke", "--out", str(tmp_path)]
    if (NANOGPT / "train.py").is_file():
        cmd += ["--nanogpt", str(NANOGPT)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("| ")]
    names = [line.split(" | ")[0].removeprefix("| ") for line in table[1:]]
    expected = ["dataprep train --arch gpt2", "dataprep train --arch modern"]
    assert names == (["nanoGPT train.py"] if "--nanogpt" in cmd else []) + expected
    assert all(float(line.split(" | ")[1].replace(",", "")) > 0 for line in table[1:])
    assert (tmp_path / "demo" / "compare.png").stat().st_size > 0
