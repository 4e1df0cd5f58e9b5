"""The trainer: model, data order, schedules, the logged curve, resume, warnings, and every refusal."""

import argparse
import json
import math
import os
import re
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from dataprep.errors import DataprepError  # noqa: E402
from dataprep.training.config import GPTConfig, preset_config  # noqa: E402
from dataprep.training.model import GPT  # noqa: E402
from dataprep.training.train import (  # noqa: E402
    EPOCH_WARNING,
    TIMING_KEYS,
    TrainConfig,
    WindowLoader,
    Schedule,
    train,
    val_windows,
)
from dataprep_cli.train_cmd import _require_torch, add_compare, add_train  # noqa: E402

V = 64  # vocab of the generated data: small enough that 2-layer, 32-wide models learn it in seconds


def write_bins(directory, train_tokens, val_tokens):
    directory.mkdir(parents=True, exist_ok=True)
    np.asarray(train_tokens, dtype="<u2").tofile(directory / "train.bin")
    np.asarray(val_tokens, dtype="<u2").tofile(directory / "val.bin")
    return directory


def small(data_dir, out_dir, **overrides) -> TrainConfig:
    options = dict(
        n_layer=2, n_head=2, n_embd=32, block_size=16, vocab_size=V, batch_size=8, max_iters=20,
        lr=1e-2, eval_interval=5, eval_windows=16, log_interval=1, quiet=True,
    )
    return TrainConfig(data_dir=str(data_dir), out_dir=str(out_dir), **{**options, **overrides})


def records(run_dir, kind="metrics"):
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    if kind == "warnings":
        return [r["warning"] for r in lines if "warning" in r]
    return [r for r in lines if "warning" not in r and "error" not in r]


@pytest.fixture(scope="module")
def pattern_data(tmp_path_factory):
    """A 40-token random pattern repeated: a model that learns it drives the loss far below ln(V)."""
    pattern = np.random.default_rng(0).integers(0, V, 40)
    return write_bins(tmp_path_factory.mktemp("pattern") / "data", np.tile(pattern, 150), np.tile(pattern, 30)[3:])


@pytest.fixture(scope="module")
def markov_data(tmp_path_factory):
    """A random bigram chain: learnable statistics, but only 1024 train tokens, so the model soon memorises them."""
    rng = np.random.default_rng(1)
    transitions = rng.dirichlet(np.full(V, 0.05), size=V)

    def chain(n):
        out, t = np.empty(n, dtype=np.int64), 0
        for i in range(n):
            t = out[i] = rng.choice(V, p=transitions[t])
        return out

    return write_bins(tmp_path_factory.mktemp("markov") / "data", chain(1024), chain(2048))


# ----------------------------------------------------------------------------- model


@pytest.mark.parametrize("arch", ["gpt2", "modern"])
def test_model_forward_backward(arch):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=2, n_head=2, n_embd=32, arch=arch))
    idx = torch.randint(0, V, (3, 16))
    logits, loss = model(idx, idx.roll(-1, dims=1))
    assert logits.shape == (3, 16, V) and math.isfinite(loss.item())
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.lm_head.weight is model.transformer.wte.weight
    names = dict(model.named_parameters())
    if arch == "modern":
        assert not any(n.endswith(".bias") for n in names) and "transformer.wpe.weight" not in names
        assert "transformer.h.0.mlp.gate.weight" in names
    else:
        assert "transformer.h.0.attn.c_attn.bias" in names and "transformer.wpe.weight" in names
    assert model(idx[:, :5])[1] is None and model(idx[:, :5])[0].shape == (3, 5, V)


def test_presets_count_like_nanogpt():
    with torch.device("meta"):  # sizes without allocating 124M/350M parameters
        small_gpt, medium = GPT(preset_config("gpt2-124m")), GPT(preset_config("gpt2-350m"))
        tiny = GPT(preset_config("tiny"))
    assert small_gpt.num_params() == 123_689_472  # nanoGPT prints 123.69M
    assert small_gpt.num_params(exclude_pos=False) == 123_689_472 + 1024 * 768
    assert medium.num_params() == 353_822_720
    assert (tiny.config.n_layer, tiny.config.n_head, tiny.config.n_embd, tiny.config.block_size) == (4, 4, 128, 64)
    assert small_gpt.flops_per_token() == 6 * 123_689_472 + 12 * 12 * 768 * 1024


def test_optimizer_decays_only_matrices():
    model = GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=1, n_head=2, n_embd=32))
    opt = model.configure_optimizer(0.1, 1e-3, (0.9, 0.95), "cpu")
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and all(p.dim() >= 2 for p in decay["params"])
    assert no_decay["weight_decay"] == 0.0 and all(p.dim() < 2 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_bad_model_options():
    with pytest.raises(DataprepError, match="divisible"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(DataprepError, match="arch"):
        GPTConfig(arch="llama")
    with pytest.raises(DataprepError, match="model must be one of"):
        preset_config("gpt5")


# ----------------------------------------------------------------------------- data order and schedule


def test_loader_draws_every_window_once_per_epoch():
    files = [np.arange(100), np.arange(1000, 1070)]  # 6 + 4 windows of 16 (+1 target token)
    loader = WindowLoader(files, block_size=16, seed=3)
    assert loader.num_windows == 10
    epochs = [[tuple(row[:2]) for row in loader.next_batch(5)] + [tuple(row[:2]) for row in loader.next_batch(5)]
              for _ in range(2)]
    assert loader.state() == {"epoch": 2, "cursor": 0}
    for seen in epochs:
        assert len(set(seen)) == 10  # without replacement
    assert epochs[0] != epochs[1]  # a new order each epoch
    assert sorted(epochs[0]) == sorted(epochs[1])
    batch = loader.next_batch(4)
    assert (batch[:, 1:] == batch[:, :-1] + 1).all()  # windows never straddle two files


def test_loader_state_and_rank_shares():
    files = [np.arange(1000)]
    a = WindowLoader(files, 16, seed=0)
    a.next_batch(7)
    b = WindowLoader(files, 16, seed=0)
    b.load_state(a.state())
    assert (a.next_batch(8) == b.next_batch(8)).all()
    whole = WindowLoader(files, 16, seed=0).next_batch(8)
    shares = [WindowLoader(files, 16, seed=0).next_batch(8, rank=r, world=2) for r in range(2)]
    assert (np.concatenate(shares) == whole).all()


def test_a_batch_holds_the_very_tokens_of_its_windows():
    files = [np.arange(100), np.arange(1000, 1070), np.arange(5000, 5200)]  # 6 + 4 + 12 windows of 16
    loader = WindowLoader(files, block_size=16, seed=5)
    for _ in range(3):
        order, cursor = loader.order, loader.cursor
        batch = loader.next_batch(7)
        ends = np.concatenate(([0], loader.window_ends))
        for row, window in zip(batch, order[cursor:cursor + 7]):
            f = int(np.searchsorted(loader.window_ends, window, side="right"))
            first = (window - ends[f]) * 16
            assert (row == files[f][first:first + 17]).all()


def test_val_windows_depend_only_on_the_file():
    tokens = np.arange(3000)
    first, again, fewer = val_windows(tokens, 16, 20), val_windows(tokens, 16, 20), val_windows(tokens, 16, 5)
    assert (first == again).all() and first.shape == (20, 17)
    assert {tuple(r) for r in fewer} <= {tuple(r) for r in first}  # fewer windows: a subset, not new ones


@pytest.mark.parametrize("schedule", ["cosine", "wsd"])
def test_schedules(schedule):
    plan = Schedule(schedule, lr=1.0, min_lr=0.1, warmup=10, max_iters=100, decay_frac=0.2)
    lrs = [plan.lr_at(s) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)  # linear warmup
    assert max(lrs) == pytest.approx(1.0) and lrs[-1] == pytest.approx(0.1, abs=0.01)
    assert all(a >= b - 1e-12 for a, b in zip(lrs[9:], lrs[10:]))  # never rises after warmup
    if schedule == "wsd":
        assert lrs[10:80] == [1.0] * 70 and lrs[80] < 1.0  # stable, then the last 20% decays
        assert lrs[90] == pytest.approx(1.0 + (0.1 - 1.0) * 11 / 20)


# ----------------------------------------------------------------------------- training runs


def test_tiny_model_loss_falls_and_the_log_is_complete(pattern_data, tmp_path):
    out = train(small(pattern_data, tmp_path / "run", max_iters=30, eval_interval=10, log_interval=2))
    rows = records(out)
    evals = [r for r in rows if r.get("val_loss") is not None]
    assert [r["step"] for r in evals] == [0, 10, 20, 30]
    assert evals[-1]["val_loss"] < 0.5 * evals[0]["val_loss"]
    assert rows[-1]["train_loss"] < 0.5 * rows[1]["train_loss"]
    for r in rows[1:]:
        assert {"step", "tokens", "epoch", "lr", "train_loss", "tokens_per_s", "mfu"} <= r.keys()
        assert r["tokens"] == r["step"] * 8 * 16 and r["epoch"] == pytest.approx(r["tokens"] / 6000)
        assert r["mfu"] is None  # no GPU peak on CPU
    assert [r["step"] for r in rows if r.get("val_loss") is None] == [s for s in range(2, 30, 2) if s % 10]
    config = json.loads((out / "config.json").read_text())
    assert config["train_tokens"] == 6000 and config["data_dir"] == str(pattern_data.resolve())
    assert len(config["val_digest"]) == 64 and config["resolved"]["model"]["n_embd"] == 32
    assert (out / "ckpt.pt").is_file() and not list(out.glob(".*tmp*"))


def test_modern_arch_trains(pattern_data, tmp_path):
    out = train(small(pattern_data, tmp_path / "run", arch="modern", max_iters=10, eval_interval=10))
    evals = [r["val_loss"] for r in records(out) if r.get("val_loss") is not None]
    assert evals[-1] < evals[0]


def compiled_graphs(monkeypatch) -> list[tuple[bool, bool]]:
    """(grad enabled, any size symbolic) of every graph torch.compile compiles from now on (eager backend: no C++)."""
    graphs, real_compile = [], torch.compile

    def record(gm, example_inputs):
        values = [node.meta.get("example_value") for node in gm.graph.nodes if node.op == "placeholder"]
        symbolic = any(isinstance(v, torch.SymInt) or (isinstance(v, torch.Tensor) and
                                                       any(isinstance(n, torch.SymInt) for n in v.shape))
                       for v in values)
        graphs.append((torch.is_grad_enabled(), symbolic))
        return gm.forward

    monkeypatch.setattr(torch, "compile", lambda model, **options: real_compile(model, backend=record, **options))
    torch._dynamo.reset()
    return graphs


@pytest.mark.parametrize("eval_windows", [8, 11, 3, 20])
def test_the_training_step_compiles_once_whatever_the_eval_settings(pattern_data, tmp_path, monkeypatch,
                                                                     eval_windows):
    graphs = compiled_graphs(monkeypatch)
    train(small(pattern_data, tmp_path / "run", compile=True, max_iters=6, eval_interval=2, eval_windows=eval_windows))
    assert graphs.count((True, False)) == 1 and graphs == [(False, False), (True, False)], graphs


def test_the_step_without_static_shapes_is_the_old_one(pattern_data, tmp_path, monkeypatch):
    """static_shapes=False is the baseline gpu_check measures: a smaller last eval chunk makes the batch symbolic."""
    graphs = compiled_graphs(monkeypatch)
    train(small(pattern_data, tmp_path / "run", compile=True, max_iters=4, eval_interval=2, eval_windows=11,
                static_shapes=False))
    assert (True, True) in graphs, graphs


@pytest.mark.parametrize("rows", [4, 11, 16])  # 11 windows: a last chunk of 3, none, one of 11 padded to 16
def test_padded_evals_score_what_unpadded_ones_do(rows):
    from dataprep.training.system import resolve_system
    from dataprep.training.train import evaluate

    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=2, n_head=2, n_embd=32))
    windows = torch.randint(0, V, (11, 17))
    system = resolve_system("cpu", "auto", False, 0, 1)
    static = evaluate(model, windows, rows, system, 0, 1, static=True)
    unpadded = evaluate(model, windows, rows, system, 0, 1, static=False)
    assert static == pytest.approx(unpadded, rel=1e-6) and model.training


class Crash(Exception):
    pass


def crash_after_saving(monkeypatch, step: int) -> None:
    """From now on (until monkeypatch.undo()) the trainer raises Crash right after it saves step ``step``."""
    import dataprep.training.train as train_module

    save = train_module.save_checkpoint

    def save_then_crash(path, state):
        save(path, state)
        if state["step"] == step:
            raise Crash

    monkeypatch.setattr(train_module, "save_checkpoint", save_then_crash)


def test_resume_continues_the_same_curve(pattern_data, tmp_path, monkeypatch):
    # dropout and accumulation make the curve depend on RNG state and the loader's position
    options = dict(max_iters=12, eval_interval=4, dropout=0.1, grad_accum=2, warmup=3)
    whole = records(train(small(pattern_data, tmp_path / "whole", **options)))
    crash_after_saving(monkeypatch, 8)
    with pytest.raises(Crash):
        train(small(pattern_data, tmp_path / "split", **options))
    monkeypatch.undo()
    with open(tmp_path / "split" / "metrics.jsonl", "a") as f:
        f.write('{"step": 9, "tokens": 2')  # the crash also cut a line short
    split = records(train(small(pattern_data, tmp_path / "split", resume=True, **options)))

    def curve(rows):
        return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]

    assert [r["step"] for r in split] == list(range(0, 13))
    assert curve(split) == curve(whole)


def test_a_run_without_checkpoints_writes_none(pattern_data, tmp_path):
    out = train(small(pattern_data, tmp_path / "run", max_iters=10, checkpoint=False))
    assert [r["step"] for r in records(out)] == list(range(11)) and not (out / "ckpt.pt").exists()


def test_resume_refuses_a_different_run(pattern_data, tmp_path):
    train(small(pattern_data, tmp_path / "run", max_iters=5))
    with pytest.raises(DataprepError, match="already holds a run; pass --resume"):
        train(small(pattern_data, tmp_path / "run", max_iters=5))
    with pytest.raises(DataprepError, match="cannot resume: the checkpoint's model_config"):
        train(small(pattern_data, tmp_path / "run", max_iters=10, n_embd=64, resume=True))
    with pytest.raises(DataprepError, match="no checkpoint .* to resume from"):
        train(small(pattern_data, tmp_path / "fresh", max_iters=5, resume=True))


def test_resume_refuses_a_different_val_file(pattern_data, tmp_path):
    train(small(pattern_data, tmp_path / "run", max_iters=5))
    other = tmp_path / "other_val.bin"
    (np.arange(500) % V).astype("<u2").tofile(other)
    with pytest.raises(DataprepError, match="val_digest"):
        train(small(pattern_data, tmp_path / "run", max_iters=10, val_bin=str(other), resume=True))


def test_warnings_fire_on_a_tiny_train_bin(markov_data, tmp_path, capsys):
    cfg = small(markov_data, tmp_path / "run", n_embd=64, max_iters=100, min_lr=1e-2, warmup=0, log_interval=5,
                eval_windows=32)
    out = train(cfg)
    warnings = records(out, "warnings")
    assert warnings[0] == EPOCH_WARNING and len(warnings) == 2
    assert warnings[1].startswith("overfitting at epoch ") and "train loss still falls" in warnings[1]
    err = capsys.readouterr().err
    assert f"warning: {EPOCH_WARNING}" in err and "warning: overfitting" in err
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epoch_record = next(r for r in rows if r.get("warning") == EPOCH_WARNING)
    assert 1.0 <= epoch_record["epoch"] < 1.0 + 8 * 16 / 1024


def test_nan_loss_stops_naming_the_step_and_keeps_the_checkpoint(pattern_data, tmp_path, monkeypatch):
    real_forward = GPT.forward
    train_calls = []

    def poisoned_forward(self, idx, targets=None):
        logits, loss = real_forward(self, idx, targets)
        if self.training:
            train_calls.append(1)
            if len(train_calls) >= 7:
                loss = loss * float("nan")
        return logits, loss

    monkeypatch.setattr(GPT, "forward", poisoned_forward)
    run = tmp_path / "run"
    with pytest.raises(DataprepError, match=r"loss became nan .* at step 7; stopping, the last good checkpoint"):
        train(small(pattern_data, run, max_iters=20))
    ckpt = torch.load(run / "ckpt.pt", weights_only=True)
    assert ckpt["step"] == 5 and all(torch.isfinite(t).all() for t in ckpt["model"].values())
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])["step"] == 7


class RunsCodeWhenUnpickled:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_crafted_checkpoint_is_not_executed_on_resume(pattern_data, tmp_path):
    run, marker = tmp_path / "run", tmp_path / "pwned"
    run.mkdir()
    torch.save({"step": 3, "model": RunsCodeWhenUnpickled(marker)}, run / "ckpt.pt")
    # the payload is live: an unsafe load would create the marker
    torch.load(run / "ckpt.pt", weights_only=False)
    assert marker.exists()
    marker.unlink()
    with pytest.raises(DataprepError, match="not a checkpoint this trainer wrote; refusing to load it"):
        train(small(pattern_data, run, resume=True))
    assert not marker.exists()


def test_llmc_shard_dir_trains(tmp_path):
    from test_tokens import write_llmc_shard

    pattern = np.random.default_rng(2).integers(0, V, 40)
    for name, reps in (("d_train_000001.bin", 40), ("d_train_000002.bin", 30), ("d_val_000000.bin", 20)):
        write_llmc_shard(tmp_path / name, np.tile(pattern, reps))
    out = train(small(tmp_path, tmp_path / "run", max_iters=None, max_tokens=1000))  # ceil(1000 / 128) = 8 steps
    assert json.loads((out / "config.json").read_text())["train_tokens"] == 40 * 70
    assert records(out)[-1]["step"] == 8


DDP_SCRIPT = """
import json, sys
from dataprep.training.train import TrainConfig, train
train(TrainConfig(**json.loads(sys.argv[1])))
"""


def test_torchrun_two_processes_draw_the_same_curve(pattern_data, tmp_path):
    """Under torchrun each rank takes half of every batch; the curve matches one process up to float rounding."""
    options = dict(max_iters=6, eval_interval=3, grad_accum=2, device="cpu")
    script = tmp_path / "run.py"
    script.write_text(DDP_SCRIPT)
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", str(script)]
    ddp_config = json.dumps(asdict(small(pattern_data, tmp_path / "ddp", **options)))
    result = subprocess.run([*launch, ddp_config], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    ddp, one = records(tmp_path / "ddp"), records(train(small(pattern_data, tmp_path / "one", **options)))
    assert [r["step"] for r in ddp] == [r["step"] for r in one] == list(range(7))
    for a, b in zip(ddp, one):
        for key in ("train_loss", "val_loss"):
            assert (a.get(key) is None) == (b.get(key) is None)
            if a.get(key) is not None:
                assert a[key] == pytest.approx(b[key], abs=1e-4)
    assert json.loads((tmp_path / "ddp" / "config.json").read_text())["resolved"]["world_size"] == 2


@pytest.mark.parametrize(
    "overrides, words",
    [
        (dict(max_iters=None), "exactly one of --max-iters or --max-tokens"),
        (dict(max_tokens=100), "exactly one of --max-iters or --max-tokens"),
        (dict(schedule="linear"), "--schedule must be cosine or wsd"),
        (dict(dtype="float16"), "--dtype must be"),
        (dict(batch_size=0), "--batch-size must be at least 1"),
        (dict(min_lr=1.0), "--min-lr"),
        (dict(vocab_size=32), "token id"),
        (dict(block_size=5000), "fewer than block_size"),
        (dict(data_dir="/nonexistent/dir"), "data directory /nonexistent/dir does not exist"),
        (dict(device="tpu"), "--device"),
        (dict(grad_clip=float("nan")), "--grad-clip >= 0"),
        (dict(weight_decay=float("nan")), "--weight-decay >= 0"),
        (dict(model="gpt5"), "model must be one of tiny, gpt2-124m, gpt2-350m"),
        (dict(attention="flash"), "--attention must be one of auto, cudnn"),
    ],
)
def test_bad_options_are_one_line_errors(pattern_data, tmp_path, overrides, words):
    cfg = small(pattern_data, tmp_path / "run", max_iters=2)
    for key, value in overrides.items():
        setattr(cfg, key, value)
    with pytest.raises(DataprepError) as err:
        train(cfg)
    assert words in str(err.value) and "\n" not in str(err.value)


# ----------------------------------------------------------------------------- command line


def parser():
    p = argparse.ArgumentParser(prog="dataprep")
    sub = p.add_subparsers(dest="command", required=True)
    add_train(sub)
    add_compare(sub)
    return p


def test_cli_train_then_compare(pattern_data, tmp_path, capsys):
    run = tmp_path / "run"
    args = parser().parse_args([
        "train", str(pattern_data), "--out", str(run), "--n-layer", "1", "--n-head", "2", "--n-embd", "32",
        "--block-size", "16", "--vocab-size", str(V), "--max-tokens", "1K", "--batch-size", "8", "--lr", "1e-2",
        "--schedule", "wsd", "--eval-interval", "4", "--eval-windows", "8", "--seed", "7", "--no-compile",
    ])
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert "step      8 | loss" in out and "| epoch 0.17 |" in out and "tok/s" in out
    assert re.search(r"step      4 \| .* \| eta \d+s\n", out) and "step      8 | " in out and "| eta 0s\n" in out
    config = json.loads((run / "config.json").read_text())
    assert config["schedule"] == "wsd" and config["seed"] == 7 and config["compile"] is False
    assert config["max_tokens"] == 1000 and config["batch_size"] == 8 and config["lr"] == 0.01
    assert config["warmup"] is None and config["resolved"]["max_iters"] == 8  # unset flags: TrainConfig defaults

    args = parser().parse_args(["compare", str(run), "--out", str(tmp_path / "c.png"), "--json"])
    assert args.run(args) == 0
    rows = json.loads(capsys.readouterr().out)  # JSON and nothing else
    assert rows[0]["run"] == "run" and rows[0]["train_tokens"] == 6000


def test_quiet_prints_no_progress_but_the_result(pattern_data, tmp_path, capsys):
    run = tmp_path / "run"
    args = parser().parse_args([
        "train", str(pattern_data), "--out", str(run), "--n-layer", "1", "--n-head", "2", "--n-embd", "32",
        "--block-size", "16", "--vocab-size", str(V), "--max-iters", "10", "--batch-size", "8", "--lr", "1e-2",
        "--eval-interval", "5", "--eval-windows", "8", "--quiet", "--no-compile",
    ])
    assert args.run(args) == 0
    evals = [r for r in records(run) if r.get("val_loss") is not None]
    best = min(evals, key=lambda r: r["val_loss"])
    assert capsys.readouterr().out == (f"run written to {run}: final val loss {evals[-1]['val_loss']:.4f} "
                                       f"(best {best['val_loss']:.4f} at step {best['step']})\n")


def test_cli_needs_a_length():
    with pytest.raises(SystemExit):
        parser().parse_args(["train", "data", "--out", "run"])


def test_missing_torch_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    with pytest.raises(DataprepError, match=r"the trainer needs torch: pip install 'dataprep\[train\]'"):
        _require_torch()


def test_command_modules_do_not_import_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "import dataprep_cli.train_cmd, dataprep.training.config, dataprep.training.compare, dataprep.io.tokens\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

