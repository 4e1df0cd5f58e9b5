"""Where the trainer computes: device, precision, compile, process group, and the GPU's random state.

Every choice that depends on a GPU is made here, from the config and from what ``torch.cuda``
reports, so the tests can fake ``torch.cuda`` and walk each CUDA branch on a machine without one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.attention import SDPBackend, sdpa_kernel

from dataprep.errors import DataprepError

# Dense bf16 tensor-core FLOP/s of one GPU, from the vendors' data sheets, for MFU. Looked up by
# substring of torch.cuda.get_device_name, first match wins: longer names come before their prefixes.
PEAK_BF16_FLOPS = (
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("H200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
)
# --attention cudnn: scaled_dot_product_attention tries these in order, each where it supports the shapes and device
# (on CPU the first two are missing: flash, CPU's own, runs); auto leaves the order to torch
CUDNN_FIRST = (SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH)


@dataclass(frozen=True)
class System:
    device: torch.device
    dtype: torch.dtype  # autocast dtype; float32 means no autocast
    compile: bool
    backend: str | None  # torch.distributed backend when torchrun started several processes
    peak_flops: float | None  # of one GPU; None where unknown (CPU, GPUs not in the table)
    attention: tuple = ()  # attention backends in the order tried; () leaves the choice to torch

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    def autocast(self):
        return torch.autocast(self.device.type, dtype=self.dtype) if self.dtype != torch.float32 else nullcontext()

    @contextmanager
    def compute(self) -> Iterator[None]:
        """Around every forward pass: autocast, and the attention backends' order (a compiled model takes the
        order it was traced under, and its backward follows the forward's kernel)."""
        with self.autocast(), sdpa_kernel(list(self.attention), set_priority=True) if self.attention else nullcontext():
            yield

    def to_device(self, batch: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(batch)
        if self.cuda:  # from pinned memory the copy runs while the GPU is still busy with the last batch
            return tensor.pin_memory().to(self.device, non_blocking=True)
        return tensor.to(self.device)

    def rng_state(self) -> dict:
        """The random state a resume restores; the GPU's generator only for the device this process uses."""
        return {"torch": torch.get_rng_state(), "cuda": [torch.cuda.get_rng_state(self.device)] if self.cuda else []}

    def set_rng_state(self, state: dict) -> None:
        """Restore ``rng_state``; a checkpoint from a GPU resumes on CPU and the reverse (the other side's part is skipped)."""
        torch.set_rng_state(state["torch"])
        if self.cuda and state["cuda"]:
            torch.cuda.set_rng_state(state["cuda"][0], self.device)

    def free_cached_memory(self) -> None:
        if self.cuda:
            torch.cuda.empty_cache()


def distributed_env() -> tuple[int, int, int]:
    """(rank, local_rank, world_size) as torchrun sets them; (0, 0, 1) for a plain process."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if "RANK" not in os.environ or world == 1:
        return 0, 0, 1
    return int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", 0)), world


def resolve_system(device: str, dtype: str, compile: bool | str, local_rank: int, world: int,
                   attention: str = "auto") -> System:
    resolved = resolve_device(device, local_rank, world)
    cuda = resolved.type == "cuda"
    if dtype == "auto":
        chosen = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float32
    else:
        chosen = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype]
    return System(
        device=resolved,
        dtype=chosen,
        compile=cuda if compile == "auto" else bool(compile),
        # nccl only moves CUDA tensors: a CPU run under torchrun needs gloo even on a machine with GPUs
        backend=None if world == 1 else ("nccl" if cuda else "gloo"),
        peak_flops=peak_flops(resolved),
        attention=CUDNN_FIRST if attention == "cudnn" else (),
    )


def resolve_device(name: str, local_rank: int, world: int) -> torch.device:
    """The device named by --device, with CUDA's index filled in: cuda:LOCAL_RANK, or cuda:0 for one process."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DataprepError(f"--device {name!r} is not a device torch knows (try cpu or cuda)") from None
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise DataprepError(f"--device {name}, but torch sees no CUDA GPU")
    if device.index is None:
        # torch.cuda.set_device and DDP need an index; "cuda" alone means "the GPU this process owns"
        device = torch.device("cuda", local_rank)
    elif world > 1:
        raise DataprepError(f"under torchrun give --device cuda, not {name}: each process takes cuda:LOCAL_RANK")
    count = torch.cuda.device_count()
    if device.index >= count:
        more = "; start no more processes per node than there are GPUs" if world > 1 else ""
        raise DataprepError(f"{device} does not exist: torch sees {count} CUDA GPU(s){more}")
    torch.cuda.set_device(device)
    return device


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_BF16_FLOPS if key in name), None)


def start_process_group(system: System) -> None:
    if system.backend is not None:
        dist.init_process_group(backend=system.backend)


def end_process_group(system: System, succeeded: bool) -> None:
    if system.backend is None:
        return
    if succeeded:
        # rank 0 still saves the last checkpoint; a rank that exits a moment before its peer closes the gloo
        # connection can abort during interpreter teardown, failing a run that trained to the end
        dist.barrier()
    dist.destroy_process_group()
