"""A GPT in one file: GPT-2 (nanoGPT-compatible) or a modern variant (RoPE, RMSNorm, SwiGLU, no biases).

Parameter names follow nanoGPT / Hugging Face GPT-2 (transformer.wte, transformer.h.0.attn.c_attn, ...),
so a nanoGPT checkpoint of the same size loads into ``arch="gpt2"`` unchanged.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch.nn import functional as F

from dataprep.training.config import GPTConfig

class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        # normalise in float32: bf16 sums of squares lose too much precision
        scale = torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return (x.float() * scale).type_as(x) * self.weight


def norm_layer(config: GPTConfig) -> nn.Module:
    if config.arch == "modern":
        return RMSNorm(config.n_embd)
    return nn.LayerNorm(config.n_embd, bias=config.use_bias)


def rope_tables(head_size: int, length: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of shape (length, head_size / 2): position t rotates pair i by t / base^(2i/head_size)."""
    inv_freq = 1.0 / base ** (torch.arange(0, head_size, 2, dtype=torch.float32) / head_size)
    angles = torch.outer(torch.arange(length, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (first half, second half) pairs of x (B, heads, T, head_size) by the position angles."""
    T = x.size(-2)
    cos, sin = cos[:T].to(x.dtype), sin[:T].to(x.dtype)
    first, second = x.chunk(2, dim=-1)
    return torch.cat([first * cos - second * sin, first * sin + second * cos], dim=-1)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.n_head = config.n_head
        self.dropout = config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.use_bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.use_bias)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x, rope=None):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """GPT-2's feed-forward: 4x wide, GELU."""

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.use_bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.use_bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x))))


class SwiGLU(nn.Module):
    """Gated feed-forward; 8/3 x wide (rounded up to 64) so it costs about what the 4x GELU MLP does.

    ``fused``: gate and up as one matmul of their stacked weights; the parameters (and checkpoints) stay two.
    """

    def __init__(self, config: GPTConfig, fused: bool = False):
        super().__init__()
        hidden = 64 * math.ceil(8 * config.n_embd / 3 / 64)
        self.gate = nn.Linear(config.n_embd, hidden, bias=False)
        self.up = nn.Linear(config.n_embd, hidden, bias=False)
        self.c_proj = nn.Linear(hidden, config.n_embd, bias=False)
        self.dropout = nn.Dropout(config.dropout)
        self.fused = fused

    def forward(self, x):
        if self.fused:
            gate, up = F.linear(x, torch.cat([self.gate.weight, self.up.weight])).chunk(2, dim=-1)
        else:
            gate, up = self.gate(x), self.up(x)
        return self.dropout(self.c_proj(F.silu(gate) * up))


class Block(nn.Module):
    def __init__(self, config: GPTConfig, fused_modern: bool = False):
        super().__init__()
        self.ln_1 = norm_layer(config)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = norm_layer(config)
        self.mlp = SwiGLU(config, fused_modern) if config.arch == "modern" else MLP(config)

    def forward(self, x, rope=None):
        x = x + self.attn(self.ln_1(x), rope)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """The model. Two switches change how it computes, not what (outputs equal up to float rounding, the same
    parameters, so a checkpoint resumes with either):

    - ``chunked_loss``: training's lm_head and cross-entropy a slice of rows at a time (``chunked_cross_entropy``);
    - ``fused_modern``: the modern arch's gate and up as one matmul, its RoPE tables kept in ``compute_dtype``.
    """

    def __init__(self, config: GPTConfig, chunked_loss: bool = False, fused_modern: bool = False,
                 compute_dtype: torch.dtype = torch.float32):
        super().__init__()
        self.config = config
        self.chunked_loss = chunked_loss
        layers = dict(wte=nn.Embedding(config.vocab_size, config.n_embd))
        if config.arch == "gpt2":
            layers["wpe"] = nn.Embedding(config.block_size, config.n_embd)
        layers["drop"] = nn.Dropout(config.dropout)
        layers["h"] = nn.ModuleList(Block(config, fused_modern) for _ in range(config.n_layer))
        layers["ln_f"] = norm_layer(config)
        self.transformer = nn.ModuleDict(layers)
        if config.arch == "modern":
            cos, sin = rope_tables(config.n_embd // config.n_head, config.block_size)
            if fused_modern:  # what apply_rope casts them to at every call under autocast, cast once
                cos, sin = cos.to(compute_dtype), sin.to(compute_dtype)
            # not persistent: derived from the config, so checkpoints stay nanoGPT-shaped
            self.register_buffer("rope_cos", cos, persistent=False)
            self.register_buffer("rope_sin", sin, persistent=False)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied: one matrix reads and writes tokens
        self.apply(self._init_weights)
        # every layer adds two branches (attention, MLP) to the residual stream; scaling their output
        # projections by 1/sqrt(2 * n_layer) keeps its variance from growing with depth (GPT-2 paper)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        """Logits (B, T, vocab) and, given targets (B, T), the mean cross-entropy (targets of -1 are ignored)."""
        B, T = idx.shape
        if T > self.config.block_size:
            raise ValueError(f"sequence of {T} tokens is longer than block_size {self.config.block_size}")
        x = self.transformer.wte(idx)
        rope = None
        if self.config.arch == "gpt2":
            x = x + self.transformer.wpe(torch.arange(T, device=idx.device))
        else:
            rope = (self.rope_cos, self.rope_sin)
        x = self.transformer.drop(x)
        for block in self.transformer.h:
            x = block(x, rope)
        x = self.transformer.ln_f(x)
        if targets is not None and self.chunked_loss and torch.is_grad_enabled():
            # the full logits are never held: a training step reads only the loss
            return None, chunked_cross_entropy(x.view(-1, x.size(-1)), self.lm_head.weight, targets.reshape(-1))
        logits = self.lm_head(x)
        loss = None
        if targets is not None:
            # no .float() copy of the logits: under autocast cross_entropy already computes in float32
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def num_params(self, exclude_pos: bool = True) -> int:
        """Parameters, the tied embedding counted once; position embeddings left out by default, as in FLOP counts."""
        n = sum(p.numel() for p in self.parameters())
        if exclude_pos and "wpe" in self.transformer:
            n -= self.transformer.wpe.weight.numel()
        return n

    def flops_per_token(self) -> int:
        """Training FLOPs per token: 6N for the weights, 12*L*H*Q*T for attention over a full block (PaLM, app. B)."""
        c = self.config
        head_size = c.n_embd // c.n_head
        return 6 * self.num_params() + 12 * c.n_layer * c.n_head * head_size * c.block_size

    def configure_optimizer(self, weight_decay: float, lr: float, betas: tuple[float, float], device_type: str):
        """AdamW that decays matrices and embeddings only: decaying norms' gains and biases just hurts."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), fused=device_type == "cuda")


LOSS_CHUNK_ROWS = 2048  # rows of logits at a time: 2048 x 50304 float32 is 412 MB, against 6.6 GB for 32 x 1024 rows


def chunked_cross_entropy(x: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                          rows: int = LOSS_CHUNK_ROWS) -> torch.Tensor:
    """``F.cross_entropy(x @ weight.T, targets, ignore_index=-1)``, holding one slice of the logits at a time.

    The gradients for x and weight are computed slice by slice in the forward pass and kept (x's size and
    weight's), so the backward pass only scales them: no logits are saved or computed again.
    """
    return ChunkedLinearCrossEntropy.apply(x, weight, targets, rows)


class ChunkedLinearCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, targets, rows):
        sums = torch.promote_types(weight.dtype, torch.float32)  # the loss and weight gradient add up in this
        valid = targets != -1
        count = valid.sum().clamp(min=1).to(sums)  # the mean is over the targets not ignored, as cross_entropy's
        grad_x = torch.empty_like(x)
        grad_weight = torch.zeros_like(weight, dtype=sums)
        total = torch.zeros((), device=x.device, dtype=sums)
        for start in range(0, len(x), rows):
            part, wanted, kept = x[start:start + rows], targets[start:start + rows], valid[start:start + rows]
            logits = part @ weight.t()  # under autocast the matmul runs in its dtype, as lm_head's does
            logits = logits.float() if logits.element_size() < 4 else logits  # the softmax in at least float32
            log_norm = logits.logsumexp(dim=-1)
            picked = wanted.clamp(min=0)
            total += ((log_norm - logits.gather(1, picked[:, None]).squeeze(1)) * kept).sum()
            # d(mean loss)/d(logits) = (softmax - one_hot(target)) / count, zero on ignored rows
            grad_logits = (logits - log_norm[:, None]).exp_()
            grad_logits[torch.arange(len(picked), device=x.device), picked] -= 1
            grad_logits *= (kept / count)[:, None]
            grad_x[start:start + rows] = grad_logits @ weight  # under autocast both matmuls run as lm_head's backward
            grad_weight += grad_logits.t() @ part
        ctx.save_for_backward(grad_x, grad_weight.to(weight.dtype))
        return total / count

    @staticmethod
    def backward(ctx, grad_loss):
        grad_x, grad_weight = ctx.saved_tensors
        return grad_x * grad_loss, grad_weight * grad_loss, None, None
