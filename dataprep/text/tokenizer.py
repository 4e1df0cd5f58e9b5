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
from array import array
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache, partial
from itertools import chain
from pathlib import Path

import numpy as np
import tiktoken
from tiktoken_ext.openai_public import r50k_pat_str

from dataprep.errors import DataprepError

GPT2_RANKS = Path(__file__).parents[1] / "assets" / "gpt2.tiktoken"
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
ENDOFTEXT = "<|endoftext|>"
GPT2_EOT = 50256


@lru_cache(maxsize=None)
def _bundled_ranks() -> dict[bytes, int]:
    """The shipped ranks file, refused unless its sha256 is the published one."""
    try:
        data = GPT2_RANKS.read_bytes()
    except OSError as exc:
        raise DataprepError(f"bundled GPT-2 ranks unreadable: {exc}") from None
    if hashlib.sha256(data).hexdigest() != GPT2_RANKS_SHA256:
        raise DataprepError(f"bundled GPT-2 ranks {GPT2_RANKS} are corrupt (sha256 mismatch); reinstall dataprep")
    return {base64.b64decode(token): int(rank) for token, rank in (line.split() for line in data.splitlines() if line)}


BACKENDS = ("tiktoken", "riptoken")
# Text that exercises the pre-tokenizer's branches: contractions, letters, numbers,
# punctuation runs, whitespace runs and line ends, non-Latin scripts, emoji.
_CHECK_TEXT = (
    "Hello world! It's 2024, they'll say: \"naïve café\" costs $3.50 -- or 12,345.678?\n\n"
    "    def f(x):\n\treturn x**2  # comment\r\n"
    "Ünïcödé — “quotes” ½ 東京 Москва مرحبا 🙂🙂 ...!!! <|endoftext|> trailing   \n"
)


@lru_cache(maxsize=None)
def get_encoding(name: str = "gpt2", backend: str = "tiktoken"):
    """A tiktoken ``Encoding`` (or a riptoken one, verified to give the same ids).

    ``gpt2`` comes from the bundled ranks; any other name goes to tiktoken,
    which may download it (honouring ``TIKTOKEN_CACHE_DIR``). The riptoken
    backend (``pip install 'dataprep[fast]'``) re-implements tiktoken's BPE
    faster; it is checked against tiktoken on load and never the default.
    """
    enc = _tiktoken_encoding(name)
    if backend == "tiktoken":
        return enc
    if backend != "riptoken":
        raise DataprepError(f"unknown tokenizer backend {backend!r}; choose from {', '.join(BACKENDS)}")
    try:
        import riptoken
    except ImportError:
        raise DataprepError("the riptoken backend needs: pip install 'dataprep[fast]'") from None
    if name != "gpt2":  # riptoken is built from the ranks we ship; tiktoken keeps other encodings' ranks private
        raise DataprepError(f"the riptoken backend supports the gpt2 tokenizer only, not {name!r}")
    fast = riptoken.Encoding(riptoken.CoreBPE(_bundled_ranks(), {ENDOFTEXT: GPT2_EOT}, r50k_pat_str), enc)
    samples = [_CHECK_TEXT, _CHECK_TEXT * 3, ""]
    if [fast.encode_ordinary(t) for t in samples] != [enc.encode_ordinary(t) for t in samples]:
        raise DataprepError("riptoken's ids differ from tiktoken's on the check text; use --tokenizer tiktoken")
    return fast


def _tiktoken_encoding(name: str) -> tiktoken.Encoding:
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


@lru_cache(maxsize=None)
def token_byte_lengths(enc) -> np.ndarray:
    """Bytes each token id spells (int64, indexed by id), for finding where tokens start without decoding."""
    n = enc.max_token_value + 1
    one = getattr(enc, "decode_single_token_bytes", None) or (lambda i: enc.decode_bytes([i]))  # riptoken: no single form
    return np.fromiter((len(one(i)) for i in range(n)), dtype=np.int64, count=n)


def bin_dtype(n_vocab: int) -> np.dtype:
    """uint16 holds every GPT-2 id (< 50,257); larger vocabularies need uint32."""
    return np.dtype(np.uint16) if n_vocab <= 1 << 16 else np.dtype(np.uint32)


def encode_batch(enc, texts: list[str], threads: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Tokens of every text, flattened (uint32), and the token count of each text.

    Special-token text such as ``<|endoftext|>`` inside a document is encoded
    as ordinary text, as nanoGPT's and llm.c's preparers do.
    """
    if not isinstance(enc, tiktoken.Encoding):  # riptoken: lists of ids; its batch call sizes its own thread pool
        ids = [enc.encode_ordinary(t) for t in texts] if threads <= 1 else enc.encode_ordinary_batch(texts)
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        return np.frombuffer(array("I", chain.from_iterable(ids)), dtype=np.uint32), lengths
    encode = partial(_encode_to_numpy, enc)
    if threads <= 1:  # a thread pool per call costs more than it gives on one thread
        arrays = [encode(t) for t in texts]
    else:
        with ThreadPoolExecutor(threads) as pool:  # tiktoken releases the GIL while encoding
            arrays = list(pool.map(encode, texts))
    lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
    flat = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.uint32)
    return flat, lengths


def _encode_to_numpy(enc: tiktoken.Encoding, text: str) -> np.ndarray:
    """``enc.encode_ordinary(text)`` as a uint32 array.

    tiktoken documents ``encode_ordinary`` as ``encode`` with nothing
    disallowed; its numpy form hands back one buffer instead of a Python int
    per token that would only be turned back into an array here.
    """
    try:
        return enc.encode_to_numpy(text, disallowed_special=())
    except UnicodeEncodeError:  # lone surrogates: encode_ordinary repairs them, the numpy path does not
        return np.array(enc.encode_ordinary(text), dtype=np.uint32)
