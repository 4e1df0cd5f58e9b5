"""Content fingerprints of files: whole (sha256) or sampled (for token files too large to read at every start)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
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
        with open(path, "rb") as f:
            _add_samples(digest, os.path.getsize(path), lambda start, end: _read_at(f, start, end), blocks,
                         block_bytes)
    return digest.hexdigest()


def sampled_sha256(size: int, read: Callable[[int, int], bytes], blocks: int = 64, block_bytes: int = 1 << 16) -> str:
    """``sampled_digest`` of one file of ``size`` bytes, read through ``read(start, end)`` (a local file
    or an object in a store): what meta.json records of each output, and the trainer checks."""
    digest = hashlib.sha256()
    _add_samples(digest, size, read, blocks, block_bytes)
    return digest.hexdigest()


def _add_samples(digest, size: int, read: Callable[[int, int], bytes], blocks: int, block_bytes: int) -> None:
    digest.update(f"{size}\n".encode())
    step = max(block_bytes, size // blocks)
    for offset in range(0, size, step):
        digest.update(read(offset, min(size, offset + block_bytes)))


def _read_at(f: BinaryIO, start: int, end: int) -> bytes:
    f.seek(start)
    return f.read(end - start)


def description(size: int, read: Callable[[int, int], bytes], whole_up_to: int | None = None) -> dict:
    """What a file holds, to recognise it later: ``{"bytes", "sha256"}``, or ``{"bytes", "sampled_sha256"}``
    for a file over ``whole_up_to`` bytes (None: always the whole file)."""
    if whole_up_to is not None and size > whole_up_to:
        return {"bytes": size, "sampled_sha256": sampled_sha256(size, read)}
    digest = hashlib.sha256()
    for start in range(0, size, CHUNK):
        digest.update(read(start, min(size, start + CHUNK)))
    return {"bytes": size, "sha256": digest.hexdigest()}


def local_description(path: str | os.PathLike, whole_up_to: int | None = None) -> dict:
    with open(path, "rb") as f:
        return description(os.path.getsize(path), lambda start, end: _read_at(f, start, end), whole_up_to)
