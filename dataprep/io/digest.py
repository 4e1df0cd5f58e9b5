"""Content fingerprints of files: whole (sha256) or sampled (for token files too large to read at every start)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


def stream_sha256(f: BinaryIO, chunk: int = CHUNK) -> str:
    """sha256 of what ``f`` reads from here to its end, in chunks so any size fits in memory."""
    digest = hashlib.sha256()
    while block := f.read(chunk):
        digest.update(block)
    return digest.hexdigest()


def local_sha256(path: str | os.PathLike) -> str:
    with open(path, "rb") as f:
        return stream_sha256(f)


def sampled_digest(paths: list[Path], blocks: int = 64, block_bytes: int = 1 << 16) -> str:
    """sha256 over each file's size and ``blocks`` evenly spaced blocks: a few MB read, whatever the size.

    Two different builds differ almost everywhere, so this tells them apart in milliseconds where a full
    hash of a 20 GB train.bin would take half a minute on every start; it cannot see an edit that falls
    between the sampled blocks.
    """
    digest = hashlib.sha256()
    for path in paths:
        size = os.path.getsize(path)
        digest.update(f"{size}\n".encode())
        with open(path, "rb") as f:
            step = max(block_bytes, size // blocks)
            for offset in range(0, size, step):
                f.seek(offset)
                digest.update(f.read(block_bytes))
    return digest.hexdigest()
