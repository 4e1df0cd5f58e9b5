"""GPT-2 tokenization that works offline, and the bin dtype that fits it.

tiktoken normally downloads the GPT-2 ranks on first use. We ship the same
ranks (``assets/gpt2.tiktoken``, from openai-whisper, MIT) and load them
through tiktoken's own loader with the sha256 it publishes for r50k_base, so
a fresh machine without network gets byte-identical ids.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import chain
from pathlib import Path

import numpy as np
import tiktoken
from tiktoken.load import load_tiktoken_bpe
from tiktoken_ext.openai_public import r50k_pat_str

from dataprep.errors import DataprepError

GPT2_RANKS = Path(__file__).parent / "assets" / "gpt2.tiktoken"
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
ENDOFTEXT = "<|endoftext|>"
GPT2_EOT = 50256


@lru_cache(maxsize=None)
def get_encoding(name: str = "gpt2") -> tiktoken.Encoding:
    """``gpt2`` comes from the bundled ranks; any other name goes to tiktoken,
    which may download it (honouring ``TIKTOKEN_CACHE_DIR``)."""
    if name == "gpt2":
        try:
            ranks = load_tiktoken_bpe(str(GPT2_RANKS), expected_hash=GPT2_RANKS_SHA256)
        except (OSError, ValueError) as exc:
            raise DataprepError(f"bundled GPT-2 ranks unusable ({GPT2_RANKS}): {exc}") from None
        return tiktoken.Encoding(
            name="gpt2",
            pat_str=r50k_pat_str,
            mergeable_ranks=ranks,
            special_tokens={ENDOFTEXT: GPT2_EOT},
            explicit_n_vocab=GPT2_EOT + 1,
        )
    try:
        return tiktoken.get_encoding(name)
    except Exception as exc:  # tiktoken raises ValueError, network and hash errors alike
        raise DataprepError(f"cannot load tokenizer {name!r}: {exc}") from None


def eot_id(enc: tiktoken.Encoding) -> int:
    return enc.eot_token


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
