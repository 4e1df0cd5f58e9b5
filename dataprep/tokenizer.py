"""GPT-2 tokenization that works offline, and the bin dtype that fits it.

tiktoken normally downloads the GPT-2 ranks on first use. We ship the same
ranks (``assets/gpt2.tiktoken``, from openai-whisper, MIT; the same bytes as
tiktoken's r50k_base file), check the sha256 tiktoken publishes for them, and
build the Encoding with tiktoken's own GPT-2 pattern, so a fresh machine
without network gets byte-identical ids.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from itertools import chain
from pathlib import Path

import numpy as np
import tiktoken
from tiktoken_ext.openai_public import r50k_pat_str

from dataprep.errors import DataprepError

GPT2_RANKS = Path(__file__).parent / "assets" / "gpt2.tiktoken"
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
ENDOFTEXT = "<|endoftext|>"
GPT2_EOT = 50256


def _bundled_ranks() -> dict[bytes, int]:
    """The shipped ranks file, refused unless its sha256 is the published one."""
    try:
        data = GPT2_RANKS.read_bytes()
    except OSError as exc:
        raise DataprepError(f"bundled GPT-2 ranks unreadable: {exc}") from None
    if hashlib.sha256(data).hexdigest() != GPT2_RANKS_SHA256:
        raise DataprepError(f"bundled GPT-2 ranks {GPT2_RANKS} are corrupt (sha256 mismatch); reinstall dataprep")
    return {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}


@lru_cache(maxsize=None)
def get_encoding(name: str = "gpt2") -> tiktoken.Encoding:
    """``gpt2`` comes from the bundled ranks; any other name goes to tiktoken,
    which may download it (honouring ``TIKTOKEN_CACHE_DIR``)."""
    if name == "gpt2":
        return tiktoken.Encoding(
            name="gpt2",
            pat_str=r50k_pat_str,
            mergeable_ranks=_bundled_ranks(),
            special_tokens={ENDOFTEXT: GPT2_EOT},
            explicit_n_vocab=GPT2_EOT + 1,
        )
    try:
        return tiktoken.get_encoding(name)
    except Exception as exc:  # tiktoken raises ValueError, network and hash errors alike
        raise DataprepError(f"cannot load tokenizer {name!r}: {exc}") from None


def bin_dtype(n_vocab: int) -> np.dtype:
    """uint16 holds every GPT-2 id (< 50,257); larger vocabularies need uint32."""
    return np.dtype(np.uint16) if n_vocab <= 1 << 16 else np.dtype(np.uint32)


def encode_batch(enc: tiktoken.Encoding, texts: list[str], threads: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of every text, flattened, and the token count of each text.

    Special-token text such as ``<|endoftext|>`` inside a document is encoded
    as ordinary text, as nanoGPT's and llm.c's preparers do.
    """
    ids = enc.encode_ordinary_batch(texts, num_threads=threads)
    lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
    flat = np.fromiter(chain.from_iterable(ids), dtype=np.uint32, count=int(lengths.sum()))
    return flat, lengths
