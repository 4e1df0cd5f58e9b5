"""The trainer under faults: CUDA out of memory, a killed process, Ctrl-C. Each must keep the last checkpoint."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_train import V, records, small, write_bins  # noqa: E402

from dataprep.errors import DataprepError  # noqa: E402
from dataprep.training.model import GPT  # noqa: E402
from dataprep.training.train import TIMING_KEYS, load_checkpoint, smaller_batch_advice, train  # noqa: E402
from dataprep_cli.main import main  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    pattern = np.random.default_rng(0).integers(0, V, 40)
    return write_bins(tmp_path_factory.mktemp("faults") / "data", np.tile(pattern, 150), np.tile(pattern, 30)[3:])


def fail_on_call(monkeypatch, calls: int, error, training: bool = True) -> list:
    """Make the model's forward raise ``error`` on its ``calls``-th train (or eval) call; returns [model] after."""
    real_forward = GPT.forward
    seen, model = [], []

    def forward(self, idx, targets=None):
        if self.training == training:
            seen.append(1)
            if len(seen) == calls:
                model.append(self)
                raise error
        return real_forward(self, idx, targets)

    monkeypatch.setattr(GPT, "forward", forward)
    return model


def intact(ckpt_path, step: int) -> None:
    ckpt = load_checkpoint(ckpt_path)
    assert ckpt["step"] == step and all(torch.isfinite(t).all() for t in ckpt["model"].values())


# ----------------------------------------------------------------------------- out of memory


OOM = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")  # torch.OutOfMemoryError


def tiny_args(data, run, *extra):
    return [
        "train", str(data), "--out", str(run), "--n-layer", "2", "--n-head", "2", "--n-embd", "32",
        "--block-size", "16", "--vocab-size", str(V), "--lr", "1e-2", "--eval-windows", "16", "--log-interval", "1",
        "--quiet", "--device", "cpu", *extra,
    ]


def test_out_of_memory_in_a_step_says_what_fits_and_keeps_the_checkpoint(data, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    # two micro-batches a step: the 14th train forward is the second of step 7, after the first left gradients
    model = fail_on_call(monkeypatch, 14, OOM)
    options = ["--max-iters", "12", "--eval-interval", "5"]
    assert main(tiny_args(data, run, *options, "--batch-size", "16", "--grad-accum", "2")) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "dataprep: out of GPU memory at step 7 with --batch-size 16 --grad-accum 2 (block 16, model tiny): "
        f"try --batch-size 8 --grad-accum 4, the same tokens per step; stopping, the last good checkpoint "
        f"{run / 'ckpt.pt'} is kept"
    )
    assert all(p.grad is None for p in model[0].parameters())  # the first micro-batch's gradients were freed
    intact(run / "ckpt.pt", 5)

    # the suggested settings take the same tokens per step, so the run resumes from that checkpoint
    monkeypatch.undo()
    assert main(tiny_args(data, run, *options, "--batch-size", "8", "--grad-accum", "4", "--resume")) == 0
    assert [r["step"] for r in records(run)] == list(range(13))


def test_out_of_memory_in_an_eval_keeps_the_checkpoint_before_it(data, tmp_path, monkeypatch):
    run = tmp_path / "run"
    fail_on_call(monkeypatch, 3, OOM, training=False)  # evals at steps 0, 5, 10: one forward each
    with pytest.raises(DataprepError, match=r"^out of GPU memory in the eval at step 10 with --batch-size 8 "
                       r"--grad-accum 1 \(block 16, model tiny\): try --batch-size 4 --grad-accum 2, "):
        train(small(data, run, max_iters=12, batch_size=8, eval_windows=8, device="cpu"))
    intact(run / "ckpt.pt", 5)
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["error"].startswith("out of GPU memory")


@pytest.mark.parametrize(
    "batch_size, grad_accum, world, advice",
    [
        (16, 2, 1, "try --batch-size 8 --grad-accum 4, the same tokens per step"),
        (15, 1, 1, "try --batch-size 5 --grad-accum 3, the same tokens per step"),  # odd: the smallest factor
        (12, 1, 2, "try --batch-size 6 --grad-accum 2, the same tokens per step"),  # still whole rows per GPU
        (1, 8, 1, "--batch-size is already one sequence per GPU: try a smaller --block-size or a smaller --model"),
        (8, 1, 8, "--batch-size is already one sequence per GPU: try a smaller --block-size or a smaller --model"),
    ],
)
def test_smaller_batch_advice(batch_size, grad_accum, world, advice):
    assert smaller_batch_advice(batch_size, grad_accum, world) == advice


# ----------------------------------------------------------------------------- Ctrl-C in process


def test_interrupt_names_the_step_and_the_checkpoint_to_resume_from(data, tmp_path, monkeypatch):
    run = tmp_path / "run"
    fail_on_call(monkeypatch, 8, KeyboardInterrupt)  # what SIGINT raises in the main thread, during step 8
    with pytest.raises(KeyboardInterrupt) as interrupt:
        train(small(data, run, max_iters=12, device="cpu"))
    assert str(interrupt.value) == (
        "interrupted at step 7; rerun the same command with --resume to continue from the checkpoint at step 5"
    )
    intact(run / "ckpt.pt", 5)

    monkeypatch.undo()
    fail_on_call(monkeypatch, 3, KeyboardInterrupt)
    with pytest.raises(KeyboardInterrupt, match=r"^interrupted at step 2, before the first checkpoint; rerun the "
                       r"same command to start again$"):
        train(small(data, tmp_path / "early", max_iters=12, device="cpu"))
    monkeypatch.undo()
    assert records(train(small(data, tmp_path / "early", max_iters=12, device="cpu")))[-1]["step"] == 12


# ----------------------------------------------------------------------------- real processes

EVAL_INTERVAL = 50
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # one thread: the same float sums in every process, and light on CPUs


def command(data, run, *extra, max_iters=300):
    return [sys.executable, "-m", "dataprep_cli.main", *tiny_args(data, run, "--batch-size", "8",
            "--eval-interval", str(EVAL_INTERVAL), "--max-iters", str(max_iters), *extra)]


def logged_steps(run) -> list[int]:
    path, steps = run / "metrics.jsonl", []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            steps.append(json.loads(line)["step"])
        except ValueError:  # the line being written
            pass
    return steps


def start_past_first_checkpoint(cmd, run, timeout=30.0) -> subprocess.Popen:
    """Start ``cmd`` and return once it has saved a checkpoint and logged a step after it."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if (run / "ckpt.pt").exists() and max(logged_steps(run), default=0) > EVAL_INTERVAL:
            return proc
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"the run never got past its first checkpoint: {proc.communicate()[1][-2000:]}")


def curve(run) -> list[dict]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in lines]


def test_a_killed_run_resumes_on_the_same_curve(data, tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    subprocess.run(command(data, whole), env=ENV, check=True, capture_output=True, timeout=60)

    proc = start_past_first_checkpoint(command(data, split), split)
    proc.kill()  # SIGKILL: no handler runs, whatever was half-written stays half-written
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert max(logged_steps(split)) < 300  # it died mid-run

    resumed = subprocess.run(command(data, split, "--resume"), env=ENV, capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert [r["step"] for r in records(split)] == list(range(301))
    assert curve(split) == curve(whole)  # every loss, lr and warning, exactly


def test_ctrl_c_stops_at_once_and_says_how_to_resume(data, tmp_path):
    run = tmp_path / "run"
    proc = start_past_first_checkpoint(command(data, run), run)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert time.monotonic() - sent < 5
    assert proc.returncode == 130
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("warning: ")]
    assert len(lines) == 1, err  # no traceback
    assert lines[0].startswith("dataprep: interrupted") and "--resume" in lines[0], lines[0]
    ckpt = load_checkpoint(run / "ckpt.pt")
    assert ckpt["step"] >= EVAL_INTERVAL and ckpt["step"] % EVAL_INTERVAL == 0
    # The trainer's own line, naming the checkpoint that is on disk.
    trainer_line = re.fullmatch(r"dataprep: interrupted at step (\d+); rerun the same command with --resume to "
                                r"continue from the checkpoint at step (\d+)", lines[0])
    assert trainer_line, lines[0]
    assert int(trainer_line[2]) == ckpt["step"] <= int(trainer_line[1])
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values())
    assert not list(run.glob(".ckpt.pt.tmp-*"))  # an interrupted save leaves no half-written file behind

    resumed = subprocess.run(command(data, run, "--resume"), env=ENV, capture_output=True, text=True, timeout=60)
    assert resumed.returncode == 0, resumed.stderr
    assert [r["step"] for r in records(run)] == list(range(301))


# ----------------------------------------------------------------------------- the run directory


def test_a_full_disk_is_one_line_and_keeps_the_checkpoint(data, tmp_path, monkeypatch, capsys):
    import contextlib
    from pathlib import Path

    import dataprep.training.train as train_module

    real_atomic_path, saves = train_module.atomic_path, []

    @contextlib.contextmanager
    def full_disk_after_first_save(final):
        saves.append(final)
        if Path(final).name == "ckpt.pt" and len([f for f in saves if Path(f).name == "ckpt.pt"]) > 1:
            yield Path("/dev/full")  # every write there fails with ENOSPC, as on a full disk
            return
        with real_atomic_path(final) as tmp:
            yield tmp

    monkeypatch.setattr(train_module, "atomic_path", full_disk_after_first_save)
    run = tmp_path / "run"
    assert main(tiny_args(data, run, "--max-iters", "12", "--eval-interval", "5")) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"dataprep: cannot write {run / 'ckpt.pt'}: No space left on device"
    intact(run / "ckpt.pt", 5)


def test_the_run_directory_is_checked_before_anything_is_replaced(data, tmp_path, capsys):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    assert main(tiny_args(data, a_file, "--max-iters", "2")) == 2
    assert capsys.readouterr().err.strip() == f"dataprep: --out {a_file} is a file, not a run directory"

    # another run that stopped before its first checkpoint: its log is not silently replaced
    other = tmp_path / "other"
    assert main(tiny_args(data, other, "--max-iters", "2", "--eval-interval", "50", "--lr", "1e-3")) == 0
    (other / "ckpt.pt").unlink()
    assert main(tiny_args(data, other, "--max-iters", "2", "--eval-interval", "50", "--lr", "2e-3")) == 2
    assert "holds the log of another run (no checkpoint)" in capsys.readouterr().err
    assert json.loads((other / "config.json").read_text())["lr"] == 1e-3


@pytest.mark.parametrize("resume", [False, True])
def test_the_trainers_own_temporaries_are_removed_and_no_others(data, tmp_path, resume):
    run = tmp_path / "run"
    if resume:  # a run killed in a save: its checkpoint temporary must not outlive the resume
        assert main(tiny_args(data, run, "--max-iters", "5", "--eval-interval", "5")) == 0
    run.mkdir(exist_ok=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    mine_dead = run / f".ckpt.pt.tmp-{dead.stdout.strip()}"
    # under the run directory's lock no other trainer writes there, so even a temporary whose PID is alive now
    # (here: this process's, as a reused PID would be) is a dead run's
    mine_reused_pid = run / f".metrics.jsonl.tmp-{os.getpid()}"
    users = run / ".thesis.tex.tmp-4242"
    for path in (mine_dead, mine_reused_pid, users):
        path.write_text("x")
    extra = ["--max-iters", "10", "--eval-interval", "5", "--resume"] if resume else ["--max-iters", "2"]
    assert main(tiny_args(data, run, *extra)) == 0
    assert not mine_dead.exists() and not mine_reused_pid.exists() and users.exists()


def test_a_second_trainer_into_a_locked_run_directory_refuses(data, tmp_path, capsys):
    from dataprep.io.lock import try_lock, unlock

    run = tmp_path / "run"
    run.mkdir()
    fd = try_lock(run)  # what the first trainer holds for its whole run
    try:
        assert main(tiny_args(data, run, "--max-iters", "2")) == 2
    finally:
        unlock(fd)
    assert capsys.readouterr().err.strip() == (
        f"dataprep: another dataprep train is running in {run}; wait for it to end or choose another --out"
    )
    assert not any(run.iterdir())  # nothing of the refused run was written
    assert main(tiny_args(data, run, "--max-iters", "2")) == 0  # once the lock is free the run starts


def test_two_trainers_started_at_once_into_one_directory(data, tmp_path):
    run = tmp_path / "run"
    procs = [subprocess.Popen(command(data, run, max_iters=100), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=ENV) for _ in range(2)]
    outcomes = sorted((p.wait(timeout=120), p.communicate()[1]) for p in procs)
    assert [code for code, _ in outcomes] == [0, 2], outcomes
    refusal = outcomes[1][1].strip()
    assert "\n" not in refusal and refusal.startswith("dataprep: "), refusal
    # the loser found the lock held, or (started late) the winner's finished run
    assert "another dataprep train is running" in refusal or "already holds a run" in refusal, refusal
    assert [r["step"] for r in records(run)] == list(range(101))


def test_a_checkpoint_with_nan_weights_is_never_written_nor_resumed(data, tmp_path, monkeypatch, capsys):
    import dataprep.training.train as train_module

    real_evaluate, evals = train_module.evaluate, []

    def evaluate_then_poison(model, *args):
        loss = real_evaluate(model, *args)
        evals.append(loss)
        if len(evals) == 3:  # the eval at step 10 scored the model; then a weight turns nan before the save
            with torch.no_grad():
                next(model.parameters()).view(-1)[0] = float("nan")
        return loss

    run = tmp_path / "run"
    monkeypatch.setattr(train_module, "evaluate", evaluate_then_poison)
    assert main(tiny_args(data, run, "--max-iters", "12", "--eval-interval", "5")) == 2
    assert capsys.readouterr().err.strip() == (
        "dataprep: the weights became nan or infinite at step 10; stopping, the last good checkpoint "
        f"{run / 'ckpt.pt'} is kept; try a lower --lr"
    )
    intact(run / "ckpt.pt", 5)

    # a checkpoint that holds nan weights anyway (written by hand, or by another tool) is refused on resume
    monkeypatch.undo()
    ckpt = load_checkpoint(run / "ckpt.pt")
    next(iter(ckpt["model"].values())).view(-1)[0] = float("nan")
    torch.save(ckpt, run / "ckpt.pt")
    assert main(tiny_args(data, run, "--max-iters", "12", "--eval-interval", "5", "--resume")) == 2
    assert capsys.readouterr().err.strip() == (
        "dataprep: the checkpoint at step 5 holds nan or infinite weights, so it cannot continue the run; start it "
        "again without --resume"
    )


def test_resume_refuses_other_train_data_of_the_same_length(data, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    train_tokens = np.fromfile(data / "train.bin", dtype="<u2")
    train_tokens[::-1].tofile(other / "train.bin")  # same length, other order
    (other / "val.bin").write_bytes((data / "val.bin").read_bytes())
    run = tmp_path / "run"
    assert main(tiny_args(data, run, "--max-iters", "6", "--eval-interval", "5")) == 0
    assert main(tiny_args(other, run, "--max-iters", "6", "--eval-interval", "5", "--resume")) == 2
    assert "cannot resume: the checkpoint's train_digest" in capsys.readouterr().err
