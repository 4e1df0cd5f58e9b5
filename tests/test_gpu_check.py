"""bench/gpu_check.py in its CPU smoke mode, so the one prepared GPU script cannot rot between GPU sessions."""

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]
NANOGPT = ROOT.parent / "shared" / "peers" / "nanoGPT"  # an unmodified peer checkout, where this machine has one
sys.path.insert(0, str(ROOT / "bench"))

import gpu_check  # noqa: E402

FIRST, ALL_SWITCHES = gpu_check.VARIANTS[0].name, gpu_check.VARIANTS[-2].name


def gpu_check_run(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / "gpu_check.py"), "--smoke", *map(str, argv)],
                          capture_output=True, text=True, timeout=600)


def table(stdout: str) -> dict[str, list[str]]:
    rows = [line.strip("| ").split(" | ") for line in stdout.splitlines() if line.startswith("| ")]
    return {row[0]: row[1:] for row in rows[1:]}


def test_every_variant_is_a_trainer_command_line(tmp_path):
    from dataprep_cli.main import build_parser
    from dataprep_cli.train_cmd import train_config_from_args

    parser = build_parser("train")[0]
    configs = []
    for variant in gpu_check.VARIANTS:
        args = parser.parse_args(["train", "data", "--out", "run", "--max-iters", "1", "--arch", variant.arch,
                                  *variant.flags])
        configs.append(train_config_from_args(args))
    switches = [(c.arch, c.static_shapes, c.attention, c.chunked_loss, c.fused_modern) for c in configs]
    assert len(set(switches)) == len(switches) and switches[0] == ("gpt2", True, "auto", False, False)


def test_the_throughput_part_prints_one_table(tmp_path):
    argv = ["--part", "throughput", "--out", tmp_path, "--variants", FIRST, ALL_SWITCHES]
    if (NANOGPT / "train.py").is_file():
        argv += ["--nanogpt", NANOGPT]
    result = gpu_check_run(*argv)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = table(result.stdout)
    assert list(rows) == (["nanoGPT train.py"] if "--nanogpt" in argv else []) + [FIRST, ALL_SWITCHES]
    assert all(float(cells[0].replace(",", "")) > 0 for cells in rows.values())
    assert not list(tmp_path.rglob("ckpt.pt"))  # the throughput part writes no checkpoint


def test_runs_that_would_pass_the_budget_are_listed_not_run(tmp_path):
    result = gpu_check_run("--part", "throughput", "--out", tmp_path, "--variants", FIRST, ALL_SWITCHES,
                           "--budget-s", "1")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = table(result.stdout)
    assert float(rows[FIRST][0].replace(",", "")) > 0  # the first run always runs
    assert rows[ALL_SWITCHES][0] == "not run: it would end past the 1 s budget"


def test_the_demo_part_runs_dataprep_demo_with_the_iters_given(tmp_path):
    """The part's whole command up to the demo's first check; the demo itself runs in tests/test_demo.py."""
    result = gpu_check_run("--part", "demo", "--out", tmp_path, "--demo-iters", "0")  # 0: not replaced by a default
    assert result.returncode != 0, result.stdout[-2000:]
    assert f"-m dataprep_cli.main demo --out {tmp_path / 'demo'} --iters 0 --shards 3" in result.stdout
    assert "dataprep: --iters must be at least 25 and --shards at least 2" in result.stdout
