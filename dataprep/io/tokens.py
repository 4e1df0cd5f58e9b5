"""Reading token files: nanoGPT raw .bin (with an optional meta.json) and llm.c / modded-nanogpt shards.

Both come back as a read-only ``np.memmap`` of token ids, so a 10B-token corpus costs no memory.

A directory that ``dataprep build`` wrote (it holds the build's ledger ``.dataprep.json``, its
``.work/``, or a meta.json with ``checks``) is read only when the build is finished: meta.json is
there, no move of new outputs into place is under way, and every file read has the size and sampled
sha256 that meta.json's ``checks`` records. Each file is checked through the handle its tokens are
mapped from, so a build that replaces its files meanwhile cannot mix old and new ones unseen. Plain
bins (nanoGPT's own prepare.py, or copies of a build's bins without its meta.json) are read as they are.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import BinaryIO

import numpy as np

from dataprep.errors import DataprepError
from dataprep.io.digest import local_sha256, sampled_sha256
from dataprep.io.layout import LEDGER, META, NEXT, SWAP, WORK

# llm.c shard: 256 little-endian int32 (magic, version, token count, unused...), then uint16 tokens.
LLMC_MAGIC = 20240520
LLMC_VERSION = 1
LLMC_HEADER_BYTES = 256 * 4

# A raw uint16 file cannot start with the magic by accident: as two uint16 tokens it reads
# (54984, 308), and 54984 is past GPT-2's 50257 ids; as one uint32 token it is past any vocab we train.
RAW_DTYPES = {"uint16": np.dtype("<u2"), "uint32": np.dtype("<u4")}


def load_tokens(path: str | Path, build: dict | None = None) -> np.memmap:
    """The tokens of one file as a read-only memmap; llm.c shards are recognised by their magic number.

    ``build``: the meta.json of the directory the file is in, when that directory is a dataprep build
    (``read_build``); the file must then be one its checks describe.
    """
    path = Path(path)
    if not path.is_file():
        raise DataprepError(f"token file {path} does not exist")
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise DataprepError(f"token file {path} is empty")
        if build is not None:
            check_built_file(path, f, size, build)
        if size >= 4 and int(np.frombuffer(f.read(4), dtype="<i4")[0]) == LLMC_MAGIC:
            return _load_llmc_shard(path, f, size)
        dtype = raw_dtype(path.parent / META, build if build is not None else read_meta(path.parent / META))
        check_raw_size(size, dtype, str(path))
        return np.memmap(f, dtype=dtype, mode="r")


def check_raw_size(size: int, dtype: np.dtype, where: str) -> None:
    """A raw bin (nanoGPT's format) is a whole number of tokens."""
    if size % dtype.itemsize:
        raise DataprepError(f"{where}: {size} bytes is not a whole number of {dtype.name} tokens; is the dtype right?")


def _load_llmc_shard(path: Path, f: BinaryIO, size: int) -> np.memmap:
    if size < LLMC_HEADER_BYTES:
        raise DataprepError(f"{path}: llm.c shard is {size} bytes, shorter than its {LLMC_HEADER_BYTES}-byte header")
    f.seek(0)
    header = np.frombuffer(f.read(LLMC_HEADER_BYTES), dtype="<i4")
    version, count = int(header[1]), int(header[2])
    if version != LLMC_VERSION:
        raise DataprepError(f"{path}: llm.c shard version {version} is not supported (only {LLMC_VERSION}, GPT-2)")
    expected = LLMC_HEADER_BYTES + 2 * count
    if count <= 0 or size != expected:
        raise DataprepError(
            f"{path}: llm.c header says {count} tokens ({expected} bytes) but the file has {size} bytes; "
            "the shard is truncated or corrupt"
        )
    return np.memmap(f, dtype="<u2", mode="r", offset=LLMC_HEADER_BYTES, shape=(count,))


def read_meta(meta_path: Path) -> dict | None:
    """A directory's meta.json, or None where there is none."""
    if not meta_path.is_file():
        return None
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        raise DataprepError(f"{meta_path}: not readable JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise DataprepError(f"{meta_path}: not a JSON object")
    return meta


def raw_dtype(meta_path: Path, meta: dict | None) -> np.dtype:
    """uint16 unless the meta.json next to the file says otherwise (the build command writes one)."""
    name = "uint16" if meta is None else meta.get("dtype", "uint16")
    if name not in RAW_DTYPES:
        raise DataprepError(f"{meta_path}: dtype must be one of {sorted(RAW_DTYPES)}, got {name!r}")
    return RAW_DTYPES[name]


def read_build(directory: Path) -> dict | None:
    """The meta.json of a finished dataprep build in ``directory``; None where the directory is no build.

    Refuses, in one line, a build that is unfinished: meta.json missing, or new outputs being moved in.
    """
    meta = read_meta(directory / META)
    is_build = (directory / LEDGER).exists() or (directory / WORK).exists() or (meta is not None and "checks" in meta)
    if not is_build:
        return None
    if (directory / WORK / SWAP).exists() and (directory / WORK / NEXT / META).exists():
        raise unfinished(directory, "its new outputs are being moved into place")
    if meta is None:
        raise unfinished(directory, "it has no meta.json")
    if not isinstance(meta.get("checks"), dict):
        raise DataprepError(f"{directory / META} records no sizes and digests of the token files (a build by an "
                            "older dataprep), so they cannot be checked; rebuild it with dataprep build --overwrite")
    return meta


def check_built_file(path: Path, f: BinaryIO, size: int, build: dict) -> None:
    """``path`` (open as ``f``) is the file its build's meta.json describes: same size, same sampled sha256."""
    want = build["checks"].get(path.name)
    if not isinstance(want, dict):
        raise unfinished(path.parent, f"its meta.json does not describe {path.name}")
    fd = f.fileno()
    digest = sampled_sha256(size, lambda start, end: os.pread(fd, end - start, start))
    if want.get("bytes") != size or want.get("sampled_sha256") != digest:
        raise unfinished(path.parent, f"{path.name} is not the file its meta.json describes (size or sampled sha256)")


def unfinished(directory: Path, why: str) -> DataprepError:
    return DataprepError(f"{directory} holds an unfinished dataprep build ({why}); rerun dataprep build (the same "
                         "command) to finish it, then train")


def open_data(data_dir: str | Path, val_bin: str | Path | None = None) -> tuple[list[Path], Path, list[np.memmap],
                                                                                 np.memmap]:
    """(train files, val file, their tokens): ``find_data``'s files, each loaded and, where it lies in a
    dataprep build, checked against that build's meta.json (read once per directory)."""
    train_files, val_file = find_data(data_dir, val_bin)
    builds: dict[Path, dict | None] = {}

    def load(path: Path) -> np.memmap:
        if path.parent not in builds:
            builds[path.parent] = read_build(path.parent)
        return load_tokens(path, builds[path.parent])

    return train_files, val_file, [load(p) for p in train_files], load(val_file)


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
