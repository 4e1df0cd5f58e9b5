"""GPU memory of a training step, by arithmetic, and the largest power-of-two micro-batch per GPU size.

    python bench/train_memory.py

Not a measurement. Per GPU, with bf16 autocast, flash attention (PyTorch's SDPA) and AdamW:
- weights, gradients and both Adam moments in float32: 16 bytes per parameter;
- activations kept for backward: about 34 * block * n_embd bytes per layer and sequence (Korthikanti et
  al. 2022, "Reducing Activation Recomputation", eq. 1 without the attention-score term that flash
  attention does not store);
- logits: bf16 logits, their float32 softmax and float32 gradient, 10 bytes per token and vocab entry;
- 15% for allocator fragmentation and 1 GiB for the CUDA context and compile's workspace.
"""

from __future__ import annotations

from dataprep.training.config import preset_config
from dataprep.training.model import GPT

GIB = 1024**3


def step_bytes(preset: str, micro_batch: int) -> float:
    c = preset_config(preset)
    params = sum(p.numel() for p in GPT(c).parameters())
    per_sequence = 34 * c.block_size * c.n_embd * c.n_layer + 10 * c.block_size * c.vocab_size
    return (16 * params + micro_batch * per_sequence) * 1.15 + GIB


def main() -> None:
    sizes = (12, 24, 40, 80, 141)
    print("| model | micro-batch | estimated GiB | " + " | ".join(f"fits {s} GB" for s in sizes) + " |")
    print("|---|---:|---:|" + "---:|" * len(sizes))
    for preset in ("gpt2-124m", "gpt2-350m"):
        for batch in (2, 4, 8, 16, 32, 64):
            gib = step_bytes(preset, batch) / GIB
            fits = " | ".join("yes" if gib <= 0.95 * s else "" for s in sizes)  # a "24 GB" card has 24 GiB
            print(f"| {preset} | {batch} | {gib:.1f} | {fits} |")


if __name__ == "__main__":
    main()
