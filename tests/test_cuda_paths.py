"""The trainer's CUDA branches, walked on a machine without a GPU by faking what torch.cuda reports.

The fakes check their arguments the way torch does (torch.cuda.set_device refuses a device without an
index), so a CUDA-only fault such as handing it torch.device("cuda") fails here, not on a user's GPU.
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_train import V, pattern_data, records, small  # noqa: E402,F401 (pattern_data: a fixture)

import dataprep.training.system as system_module  # noqa: E402
import dataprep.training.train as train_module  # noqa: E402
from dataprep.errors import DataprepError  # noqa: E402
from dataprep.training.model import GPT, GPTConfig  # noqa: E402
from dataprep.training.system import System, peak_flops, resolve_system, start_process_group  # noqa: E402
from dataprep.training.train import train  # noqa: E402


class FakeCuda:
    """What torch.cuda says on a machine with ``count`` GPUs called ``name``; records what it was asked."""

    def __init__(self, monkeypatch, count=2, name="NVIDIA H200", bf16=True):
        self.calls = []
        cuda = torch.cuda
        monkeypatch.setattr(cuda, "is_available", lambda: True)
        monkeypatch.setattr(cuda, "device_count", lambda: count)
        monkeypatch.setattr(cuda, "is_bf16_supported", lambda *a, **k: bf16)
        monkeypatch.setattr(cuda, "set_device", self.recorder("set_device", checked=True))
        monkeypatch.setattr(cuda, "get_device_name", lambda device=None: self.recorder("get_device_name", True)(device)
                            or name)
        monkeypatch.setattr(cuda, "get_rng_state", lambda device="cuda": self.recorder("get_rng_state", True)(device)
                            or torch.tensor([7, int(torch.device(device).index)], dtype=torch.uint8))
        monkeypatch.setattr(cuda, "set_rng_state", lambda state, device="cuda":
                            self.recorder("set_rng_state", True)(device, state.tolist()))
        monkeypatch.setattr(cuda, "empty_cache", self.recorder("empty_cache"))

    def recorder(self, what, checked=False):
        def record(*args):
            if checked:
                torch.cuda._utils._get_device_index(args[0])  # torch's own check: ValueError without an index
            self.calls.append((what, *args))

        return record

    def called(self, what):
        return [call[1:] for call in self.calls if call[0] == what]


def cuda_system(index=0, dtype=torch.bfloat16):
    return System(device=torch.device("cuda", index), dtype=dtype, compile=True, backend=None, peak_flops=None)


# ----------------------------------------------------------------------------- device resolution


def test_auto_on_a_gpu_machine_picks_an_indexed_cuda_device(monkeypatch):
    fake = FakeCuda(monkeypatch)
    system = resolve_system("auto", "auto", "auto", local_rank=0, world=1)
    assert system.device == torch.device("cuda", 0) and fake.called("set_device") == [(torch.device("cuda", 0),)]
    assert (system.dtype, system.compile, system.backend, system.peak_flops) == (torch.bfloat16, True, None, 989e12)


@pytest.mark.parametrize("name, local_rank, world, device, backend", [
    ("cuda", 0, 1, "cuda:0", None),
    ("cuda:1", 0, 1, "cuda:1", None),
    ("cuda", 1, 2, "cuda:1", "nccl"),  # torchrun: each process its own GPU
    ("auto", 1, 2, "cuda:1", "nccl"),
    ("cpu", 1, 2, "cpu", "gloo"),  # nccl moves only CUDA tensors, even on a machine with GPUs
])
def test_each_process_gets_its_device_and_backend(monkeypatch, name, local_rank, world, device, backend):
    fake = FakeCuda(monkeypatch)
    system = resolve_system(name, "auto", "auto", local_rank, world)
    assert (str(system.device), system.backend) == (device, backend)
    assert fake.called("set_device") == ([(torch.device(device),)] if device != "cpu" else [])
    assert system.compile == (device != "cpu") and system.cuda == (device != "cpu")


@pytest.mark.parametrize("name, local_rank, world, words", [
    ("cuda:2", 0, 1, "cuda:2 does not exist: torch sees 2 CUDA GPU(s)"),
    ("cuda", 3, 4, "cuda:3 does not exist: torch sees 2 CUDA GPU(s); start no more processes per node"),
    ("cuda:0", 1, 2, "under torchrun give --device cuda, not cuda:0"),
    ("tpu9", 0, 1, "is not a device torch knows"),
])
def test_impossible_devices_are_one_line_errors(monkeypatch, name, local_rank, world, words):
    FakeCuda(monkeypatch)
    with pytest.raises(DataprepError, match=words.replace("(", r"\(").replace(")", r"\)")):
        resolve_system(name, "auto", "auto", local_rank, world)


def test_cuda_asked_for_on_a_machine_without_one(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DataprepError, match="--device cuda, but torch sees no CUDA GPU"):
        resolve_system("cuda", "auto", "auto", 0, 1)
    assert resolve_system("auto", "auto", "auto", 0, 1) == System(torch.device("cpu"), torch.float32, False, None,
                                                                  None)


def test_dtype_falls_back_to_float32_where_bf16_is_missing(monkeypatch):
    FakeCuda(monkeypatch, name="Tesla V100-SXM2-16GB", bf16=False)
    system = resolve_system("auto", "auto", False, 0, 1)
    assert (system.dtype, system.compile, system.peak_flops) == (torch.float32, False, None)
    assert resolve_system("auto", "bfloat16", "auto", 0, 1).dtype == torch.bfloat16


@pytest.mark.parametrize("name, flops", [
    ("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA H100 PCIe", 756e12), ("NVIDIA H200", 989e12),
    ("NVIDIA A100-SXM4-80GB", 312e12), ("NVIDIA L40S", 362e12), ("NVIDIA L4", 121e12),
    ("NVIDIA GeForce RTX 3090", None),
])
def test_peak_flops_by_device_name(monkeypatch, name, flops):
    fake = FakeCuda(monkeypatch, name=name)
    assert peak_flops(torch.device("cuda", 1)) == flops
    assert fake.called("get_device_name") == [(torch.device("cuda", 1),)]


def test_the_process_group_starts_with_the_chosen_backend(monkeypatch):
    started = []
    monkeypatch.setattr(system_module.dist, "init_process_group", lambda backend: started.append(backend))
    start_process_group(System(torch.device("cuda", 1), torch.bfloat16, True, "nccl", None))
    start_process_group(System(torch.device("cpu"), torch.float32, False, None, None))
    assert started == ["nccl"]


# ----------------------------------------------------------------------------- what runs on the GPU


def test_batches_go_through_pinned_memory_without_blocking(monkeypatch):
    moves = []
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self: moves.append("pin") or self)
    monkeypatch.setattr(torch.Tensor, "to", lambda self, device, non_blocking=False:
                        moves.append((str(device), non_blocking)) or self)
    cuda_system(1).to_device(np.zeros((2, 3), dtype=np.int64))
    assert moves == ["pin", ("cuda:1", True)]


def test_autocast_and_cache_release_follow_the_device(monkeypatch):
    fake = FakeCuda(monkeypatch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that it disables CUDA autocast on a machine without CUDA
        autocast = cuda_system().autocast()
    assert (autocast.device, autocast.fast_dtype) == ("cuda", torch.bfloat16)
    assert not isinstance(cuda_system(dtype=torch.float32).autocast(), torch.autocast)
    cuda_system().free_cached_memory()
    System(torch.device("cpu"), torch.float32, False, None, None).free_cached_memory()
    assert fake.called("empty_cache") == [()]


def test_cuda_optimizer_is_fused_and_steps():
    model = GPT(GPTConfig(vocab_size=V, block_size=8, n_layer=1, n_head=2, n_embd=16))
    optimizer = model.configure_optimizer(0.1, 1e-3, (0.9, 0.95), "cuda")
    assert optimizer.defaults["fused"] is True
    _, loss = model(torch.zeros(2, 8, dtype=torch.long), torch.ones(2, 8, dtype=torch.long))
    loss.backward()
    optimizer.step()  # fused AdamW also runs on CPU tensors, so the GPU's optimizer state can be checked here


def test_rng_state_is_this_devices_and_crosses_between_gpu_and_cpu(monkeypatch):
    fake = FakeCuda(monkeypatch)
    gpu, cpu = cuda_system(1), System(torch.device("cpu"), torch.float32, False, None, None)
    from_gpu, from_cpu = gpu.rng_state(), cpu.rng_state()
    assert fake.called("get_rng_state") == [(torch.device("cuda", 1),)] and len(from_gpu["cuda"]) == 1
    assert from_cpu["cuda"] == []
    gpu.set_rng_state(from_gpu)
    assert fake.called("set_rng_state") == [(torch.device("cuda", 1), [7, 1])]
    cpu.set_rng_state(from_gpu)  # a GPU checkpoint on CPU: the GPU's generator is not needed
    gpu.set_rng_state(from_cpu)  # a CPU checkpoint on a GPU: nothing to restore on the device
    assert len(fake.called("set_rng_state")) == 1


# ----------------------------------------------------------------------------- a GPU checkpoint resumes on CPU


def gpu_like(monkeypatch):
    """Train as on a GPU, as far as a CPU can: bf16 autocast, fused AdamW, a CUDA generator in the checkpoint."""
    monkeypatch.setattr(train_module, "resolve_system", lambda *a: System(
        torch.device("cpu"), torch.bfloat16, False, None, None))
    configure = GPT.configure_optimizer
    monkeypatch.setattr(GPT, "configure_optimizer", lambda self, wd, lr, betas, device_type:
                        configure(self, wd, lr, betas, "cuda"))
    monkeypatch.setattr(System, "rng_state", lambda self: {
        "torch": torch.get_rng_state(), "cuda": [torch.tensor([7, 0], dtype=torch.uint8)]})


@pytest.mark.parametrize("direction", ["gpu_then_cpu", "cpu_then_gpu"])
def test_a_checkpoint_resumes_on_the_other_kind_of_device(pattern_data, tmp_path, monkeypatch, direction):
    options = dict(max_iters=12, eval_interval=6, grad_accum=2, warmup=3)
    whole = records(train(small(pattern_data, tmp_path / "whole", **options)))

    class Stop(Exception):
        pass

    save = train_module.save_checkpoint

    def save_then_stop(path, state):
        save(path, state)
        if state["step"] == 6:
            raise Stop

    with monkeypatch.context() as first_half:
        if direction == "gpu_then_cpu":
            gpu_like(first_half)
        first_half.setattr(train_module, "save_checkpoint", save_then_stop)
        with pytest.raises(Stop):
            train(small(pattern_data, tmp_path / "split", **options))
    with monkeypatch.context() as second_half:
        if direction == "cpu_then_gpu":
            gpu_like(second_half)
        split = records(train(small(pattern_data, tmp_path / "split", resume=True, **options)))

    assert [r["step"] for r in split] == list(range(13))
    # the same curve within bf16 noise: half the run computed in bf16 moves each loss by far less than 0.05
    for a, b in zip(whole, split):
        for key in ("train_loss", "val_loss"):
            if a.get(key) is not None:
                assert abs(a[key] - b[key]) < 0.05, (a["step"], key, a[key], b[key])
    # and bf16 really ran in one half: the curves are close, not equal
    assert any(a["train_loss"] != b["train_loss"] for a, b in zip(whole[1:], split[1:]))
