"""Reading token files: nanoGPT raw .bin (with an optional meta.json) and llm.c / modded-nanogpt shards.

Both come back as a read-only ``np.memmap`` of token ids, so a 10B-token corpus costs no memory.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dataprep.io.digest import local_sha256
from dataprep.errors import DataprepError

# llm.c shard: 256 little-endian int32 (magic, version, token count, unused...), then uint16 tokens.
LLMC_MAGIC = 20240520
LLMC_VERSION = 1
LLMC_HEADER_BYTES = 256 * 4

# A raw uint16 file cannot start with the magic by accident: as two uint16 tokens it reads
# (54984, 308), and 54984 is past GPT-2's 50257 ids; as one uint32 token it is past any vocab we train.
RAW_DTYPES = {"uint16": np.dtype("<u2"), "uint32": np.dtype("<u4")}


def load_tokens(path: str | Path) -> np.memmap:
    """The tokens of one file as a read-only memmap; llm.c shards are recognised by their magic number."""
    path = Path(path)
    if not path.is_file():
        raise DataprepError(f"token file {path} does not exist")
    size = path.stat().st_size
    if size == 0:
        raise DataprepError(f"token file {path} is empty")
    if size >= 4 and int(np.fromfile(path, dtype="<i4", count=1)[0]) == LLMC_MAGIC:
        return _load_llmc_shard(path, size)
    dtype = raw_dtype(path)
    check_raw_size(size, dtype, str(path))
    return np.memmap(path, dtype=dtype, mode="r")


def check_raw_size(size: int, dtype: np.dtype, where: str) -> None:
    """A raw bin (nanoGPT's format) is a whole number of tokens."""
    if size % dtype.itemsize:
        raise DataprepError(f"{where}: {size} bytes is not a whole number of {dtype.name} tokens; is the dtype right?")


def _load_llmc_shard(path: Path, size: int) -> np.memmap:
    if size < LLMC_HEADER_BYTES:
        raise DataprepError(f"{path}: llm.c shard is {size} bytes, shorter than its {LLMC_HEADER_BYTES}-byte header")
    header = np.fromfile(path, dtype="<i4", count=256)
    version, count = int(header[1]), int(header[2])
    if version != LLMC_VERSION:
        raise DataprepError(f"{path}: llm.c shard version {version} is not supported (only {LLMC_VERSION}, GPT-2)")
    expected = LLMC_HEADER_BYTES + 2 * count
    if count <= 0 or size != expected:
        raise DataprepError(
            f"{path}: llm.c header says {count} tokens ({expected} bytes) but the file has {size} bytes; "
            "the shard is truncated or corrupt"
        )
    return np.memmap(path, dtype="<u2", mode="r", offset=LLMC_HEADER_BYTES, shape=(count,))


def raw_dtype(path: Path) -> np.dtype:
    """uint16 unless a meta.json next to the file says otherwise (the build command writes one)."""
    meta_path = path.parent / "meta.json"
    if not meta_path.is_file():
        return RAW_DTYPES["uint16"]
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise DataprepError(f"{meta_path}: not readable JSON ({exc})") from None
    name = meta.get("dtype", "uint16") if isinstance(meta, dict) else None
    if name not in RAW_DTYPES:
        raise DataprepError(f"{meta_path}: dtype must be one of {sorted(RAW_DTYPES)}, got {name!r}")
    return RAW_DTYPES[name]


def find_data(data_dir: str | Path, val_bin: str | Path | None = None) -> tuple[list[Path], Path]:
    """(train files, val file) of a nanoGPT dir (train.bin, val.bin) or an llm.c shard dir (*_train_*.bin, *_val_*.bin).

    ``val_bin`` scores the run on another file; the directory then need not hold a val file.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataprepError(f"data directory {data_dir} does not exist")
    if (data_dir / "train.bin").is_file():
        train, val = [data_dir / "train.bin"], data_dir / "val.bin"
    else:
        train = sorted(data_dir.glob("*_train_*.bin"))
        vals = sorted(data_dir.glob("*_val_*.bin"))
        if not train:
            raise DataprepError(f"{data_dir} holds neither train.bin nor llm.c shards named *_train_*.bin")
        if len(vals) > 1 and val_bin is None:
            raise DataprepError(f"{data_dir} holds {len(vals)} val shards; choose one with --val-bin")
        val = vals[0] if vals else data_dir / "val.bin"
    if val_bin is not None:
        val = Path(val_bin)
        if not val.is_file():
            raise DataprepError(f"--val-bin {val} does not exist")
    elif not val.is_file():
        raise DataprepError(f"{data_dir} has training data but no val file; pass one with --val-bin")
    return train, val


def file_digest(path: str | Path) -> str:
    """The fingerprint that says two runs were scored on the same val set."""
    return local_sha256(path)
