"""The one token-bin writer: nanoGPT raw bins and llm.c header shards.

nanoGPT (``train.bin``, ``val.bin``): raw little-endian tokens, no header;
each document is followed by its EOT. ``np.memmap(path, dtype=np.uint16)``
reads it.

llm.c / modded-nanogpt: shards of at most ``LLMC_SHARD_TOKENS`` tokens, each
with a header of 256 little-endian int32 (magic 20240520, version 1, token
count) and uint16 tokens; each document is *preceded* by its EOT; shard 0 is
val. File size is 1024 + 2n bytes.

Every file is written under a temporary name, fsynced and renamed, so a
killed run never leaves a file that looks complete.
"""

from __future__ import annotations

from contextlib import ExitStack

import numpy as np

from dataprep.errors import DataprepError
from dataprep.io.storage import Store
from dataprep.io.tokens import LLMC_HEADER_BYTES, LLMC_MAGIC, LLMC_VERSION  # the format is defined once, by its reader

LLMC_HEADER_INTS = LLMC_HEADER_BYTES // 4
LLMC_SHARD_TOKENS = 100_000_000


def with_eot(tokens: np.ndarray, lengths: np.ndarray, eot: int, dtype: np.dtype, eot_first: bool = False) -> np.ndarray:
    """Documents laid out back to back with one EOT each, after (nanoGPT) or before (llm.c) the document."""
    dtype = np.dtype(dtype)
    if len(tokens) and int(tokens.max()) > np.iinfo(dtype).max:
        raise DataprepError(f"token id {int(tokens.max())} does not fit the bin dtype {dtype.name}")
    out = np.empty(len(tokens) + len(lengths), dtype=dtype)
    ends = np.cumsum(lengths + 1)
    eot_at = ends - lengths - 1 if eot_first else ends - 1
    mask = np.ones(len(out), dtype=bool)
    mask[eot_at] = False
    out[eot_at] = eot
    out[mask] = tokens
    return out


class _StoreFile:
    """A file in a Store that appears only when ``finish()`` is called."""

    def __init__(self, store: Store, rel: str):
        self.rel = rel
        self._stack = ExitStack()
        self.f = self._stack.enter_context(store.writer(rel))

    def finish(self) -> None:
        self._stack.close()

    def abandon(self) -> None:
        self._stack.__exit__(DataprepError, DataprepError("abandoned"), None)


class BinWriter:
    """Appends token arrays to one raw bin; ``close()`` makes it appear."""

    def __init__(self, store: Store, rel: str, dtype: np.dtype):
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self.file = _StoreFile(store, rel)
        self.tokens = 0

    def write(self, tokens: np.ndarray) -> int:
        """Append; returns the offset (in tokens) where this array starts."""
        start = self.tokens
        self.file.f.write(np.ascontiguousarray(tokens, dtype=self.dtype).tobytes())
        self.tokens += len(tokens)
        return start

    def close(self) -> None:
        self.file.finish()

    def abandon(self) -> None:
        self.file.abandon()


def llmc_header(n_tokens: int) -> bytes:
    header = np.zeros(LLMC_HEADER_INTS, dtype="<i4")
    header[:3] = (LLMC_MAGIC, LLMC_VERSION, n_tokens)
    return header.tobytes()


class LlmcWriter:
    """Splits a token stream into llm.c shards named ``{prefix}_{split}_{index:06d}.bin``.

    Shard 0 is val; train shards start at 1. A document may straddle two
    shards, as in llm.c's own writer.
    """

    def __init__(self, store: Store, prefix: str, split: str, first_index: int, shard_tokens: int = LLMC_SHARD_TOKENS):
        self.store = store
        self.prefix = prefix
        self.split = split
        self.index = first_index
        self.shard_tokens = shard_tokens
        self.buffer: list[np.ndarray] = []
        self.buffered = 0
        self.names: list[str] = []

    def write(self, tokens: np.ndarray) -> None:
        tokens = np.ascontiguousarray(tokens, dtype="<u2")
        while len(tokens):
            take = min(len(tokens), self.shard_tokens - self.buffered)
            self.buffer.append(tokens[:take])
            self.buffered += take
            tokens = tokens[take:]
            if self.buffered == self.shard_tokens:
                self._flush()

    def _flush(self) -> None:
        name = f"{self.prefix}_{self.split}_{self.index:06d}.bin"
        with self.store.writer(name) as f:
            f.write(llmc_header(self.buffered))
            for chunk in self.buffer:
                f.write(chunk.tobytes())
        self.names.append(name)
        self.index += 1
        self.buffer, self.buffered = [], 0

    def close(self) -> list[str]:
        if self.buffered or not self.names:
            self._flush()
        return self.names
