"""The trainer's speed switches change how the step computes, never what: on CPU each draws the default path's
curve to float rounding, and a run resumes across each. Their speed can only be measured on a GPU
(bench/gpu_check.py --part throughput)."""

import math

import pytest

torch = pytest.importorskip("torch")

from test_train import V, Crash, crash_after_saving, pattern_data, records, small  # noqa: E402,F401 (a fixture)

from dataprep.training.config import GPTConfig  # noqa: E402
from dataprep.training.model import GPT, chunked_cross_entropy  # noqa: E402
from dataprep.training.system import resolve_system  # noqa: E402
from dataprep.training.train import TIMING_KEYS, train  # noqa: E402

# switch -> (options of the run it is compared with, the switch's options)
SWITCHES = {
    "chunked_loss": ({}, dict(chunked_loss=True)),
    "fused_modern": (dict(arch="modern"), dict(fused_modern=True)),
    "attention cudnn": ({}, dict(attention="cudnn")),
    "no static shapes": ({}, dict(static_shapes=False)),
}
RUN = dict(max_iters=12, eval_interval=4, eval_windows=11, grad_accum=2, warmup=3, dropout=0.1)


def assert_same_curve(a: list[dict], b: list[dict]) -> None:
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for key in x.keys() - set(TIMING_KEYS):
            if isinstance(x[key], float):
                assert x[key] == pytest.approx(y[key], abs=1e-4), (x["step"], key)
            else:
                assert x[key] == y[key], (x["step"], key)


def tiny_model(**switches) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=V, block_size=16, n_layer=2, n_head=2, n_embd=32, arch="modern"), **switches)


def gradients(model: GPT, idx, targets, scale: float) -> tuple[float, dict]:
    model.zero_grad(set_to_none=True)
    _, loss = model(idx, targets)
    (loss * scale).backward()
    return loss.item(), {name: p.grad.clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("rows", [5, 48, 1000])  # 48 rows of targets: slices of 5 (the last short), one, one too big
def test_chunked_cross_entropy_is_the_plain_loss_and_gradients(rows):
    torch.manual_seed(1)
    x = torch.randn(48, 32, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(V, 32, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, V, (48,))
    targets[[0, 7, 47]] = -1  # ignored, as the padding of an eval
    plain = torch.nn.functional.cross_entropy(x @ weight.t(), targets, ignore_index=-1)
    (plain / 4).backward()  # the accumulation scaling: loss / grad_accum
    want = (plain.item(), x.grad.clone(), weight.grad.clone())
    x.grad = weight.grad = None
    chunked = chunked_cross_entropy(x, weight, targets, rows)
    (chunked / 4).backward()
    assert chunked.item() == pytest.approx(want[0], rel=1e-12)
    assert torch.allclose(x.grad, want[1], rtol=1e-10, atol=1e-14)
    assert torch.allclose(weight.grad, want[2], rtol=1e-10, atol=1e-14)


def test_the_chunked_loss_gives_the_tied_embedding_its_whole_gradient():
    """wte's gradient holds both uses of the tied matrix: the input embedding and the output projection."""
    idx = torch.randint(0, V, (3, 16), generator=torch.Generator().manual_seed(2))
    targets = idx.roll(-1, dims=1)
    targets[:, -3:] = -1
    plain_loss, plain = gradients(tiny_model(), idx, targets, 0.5)
    chunked_loss, chunked = gradients(tiny_model(chunked_loss=True), idx, targets, 0.5)
    assert chunked_loss == pytest.approx(plain_loss, rel=1e-6)
    assert plain.keys() == chunked.keys() and "transformer.wte.weight" in plain
    for name in plain:
        assert torch.allclose(chunked[name], plain[name], rtol=1e-5, atol=1e-7), name


def test_fused_modern_has_the_same_parameters_and_outputs():
    plain, fused = tiny_model(), tiny_model(fused_modern=True)
    assert plain.state_dict().keys() == fused.state_dict().keys()  # checkpoints load either way
    fused.load_state_dict(plain.state_dict())
    idx = torch.randint(0, V, (3, 16), generator=torch.Generator().manual_seed(3))
    assert torch.allclose(plain(idx)[0], fused(idx)[0], rtol=1e-5, atol=1e-6)
    bf16 = tiny_model(fused_modern=True, compute_dtype=torch.bfloat16)
    assert bf16.rope_cos.dtype == bf16.rope_sin.dtype == torch.bfloat16 and plain.rope_cos.dtype == torch.float32
    bf16.load_state_dict(plain.state_dict())
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the tables apply_rope would cast to, cast once
        assert torch.equal(bf16(idx)[0], fused(idx)[0])


def test_cudnn_attention_is_tried_first_around_each_forward():
    order = torch._C._get_sdp_priority_order
    before = order()
    system = resolve_system("cpu", "auto", False, 0, 1, "cudnn")
    with system.compute():
        assert order()[0] == int(torch.nn.attention.SDPBackend.CUDNN_ATTENTION)
    assert order() == before
    with resolve_system("cpu", "auto", False, 0, 1).compute():
        assert order() == before  # auto leaves torch's order


@pytest.mark.parametrize("switch", list(SWITCHES))
def test_each_switch_draws_the_default_curve(pattern_data, tmp_path, switch):
    base, on = SWITCHES[switch]
    default = records(train(small(pattern_data, tmp_path / "default", **base, **RUN)))
    switched = records(train(small(pattern_data, tmp_path / "switched", **base, **on, **RUN)))
    assert_same_curve(switched, default)
    assert all(math.isfinite(r["train_loss"]) for r in switched[1:])


@pytest.mark.parametrize("switch", list(SWITCHES))
@pytest.mark.parametrize("first_on", [True, False])
def test_a_run_resumes_across_each_switch(pattern_data, tmp_path, monkeypatch, switch, first_on):
    base, on = SWITCHES[switch]
    whole = records(train(small(pattern_data, tmp_path / "whole", **base, **RUN)))
    crash_after_saving(monkeypatch, 8)
    with pytest.raises(Crash):
        train(small(pattern_data, tmp_path / "split", **base, **(on if first_on else {}), **RUN))
    monkeypatch.undo()
    split = train(small(pattern_data, tmp_path / "split", **base, **({} if first_on else on), resume=True, **RUN))
    assert_same_curve(records(split), whole)
