"""A directory on any filesystem fsspec knows: local paths, ``s3://``, ``gs://``, ``hf://``, ...

Builds write their work files and outputs through one ``Store`` so that
workers on several machines can share one output prefix. Writes are atomic
everywhere: a local file is written under a temporary name, fsynced and
renamed; a remote object is written to a local temporary file and uploaded
in one ``put`` only when complete, so a reader never sees half an object.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import fsspec
import numpy as np
from fsspec.implementations.local import LocalFileSystem

from dataprep.io.atomic import atomic_path, fsync_dir, json_bytes
from dataprep.io.digest import description, sampled_sha256, stream_sha256
from dataprep.errors import DataprepError
from dataprep.io.lifeline import check_parent


def is_url(path: str | os.PathLike) -> bool:
    return "://" in str(path)


def filesystem(path: str | os.PathLike) -> tuple[fsspec.AbstractFileSystem, str]:
    """(filesystem, path inside it) for a local path or a URL."""
    if not is_url(path):
        return LocalFileSystem(), os.path.abspath(path)
    fs, inner = fsspec.core.url_to_fs(str(path))
    return fs, inner


def resolved(path: str | os.PathLike) -> str:
    """A path as the file system knows it: symlinks and ``..`` resolved; a URL as given, less a final slash.
    Two spellings of one local file resolve alike."""
    return str(path).rstrip("/") if is_url(path) else os.path.realpath(path)


def input_identity(path: str) -> tuple:
    """What makes an input the same input: resolved path, size and sha256 of the bytes.

    Size and mtime are not enough: a file rewritten with other bytes of the same size and its mtime
    set back passed for the old one. Hashing costs one read of the file, about 1% of its scan
    (docs/reliability.md); the scan reads it once more to check the bytes it scanned. URLs: size
    and ETag (or modification time) from the listing.
    """
    try:
        if is_url(path):
            fs, inner = filesystem(path)
            info = fs.info(inner)
            return (path, info.get("size"), str(info.get("ETag") or info.get("mtime") or info.get("LastModified")))
        return (resolved(path), os.path.getsize(path), file_sha256(path))
    except OSError as exc:
        raise DataprepError(f"{path}: cannot read for its checksum ({exc.strerror})") from None


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (local path or URL), read in chunks so any size fits in memory."""
    fs, inner = filesystem(path)
    with fs.open(inner, "rb") as f:
        return stream_sha256(f, chunk)


class Store:
    def __init__(self, root: str | os.PathLike):
        self.url = str(root)
        self.fs, self.root = filesystem(root)
        self.local = isinstance(self.fs, LocalFileSystem)

    def path(self, rel: str = "") -> str:
        """The full path of ``rel``, which must stay inside this store (no ``..``, not absolute)."""
        if rel.startswith("/") or "\\" in rel or ".." in rel.split("/"):
            raise DataprepError(f"refusing a path that leaves {self.url}: {rel!r}")
        return f"{self.root.rstrip('/')}/{rel}" if rel else self.root

    def local_path(self, rel: str = "") -> Path:
        assert self.local
        return Path(self.path(rel))

    def sub(self, rel: str) -> "Store":
        self.path(rel)  # refuses a path that leaves this store
        return Store(f"{self.url.rstrip('/')}/{rel}")

    # ------------------------------------------------------------------ reading

    def exists(self, rel: str = "") -> bool:
        return self.fs.exists(self.path(rel))

    def read_bytes(self, rel: str) -> bytes:
        return self.fs.cat_file(self.path(rel))

    def read_range(self, rel: str, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of a file."""
        if self.local:
            with open(self.path(rel), "rb") as f:
                f.seek(start)
                return f.read(end - start)
        return self.fs.cat_file(self.path(rel), start=start, end=end)

    def size(self, rel: str) -> int:
        return self.fs.size(self.path(rel))

    def read_json(self, rel: str):
        return json.loads(self.read_bytes(rel))

    def open(self, rel: str):
        return self.fs.open(self.path(rel), "rb")

    def load_array(self, rel: str, mmap: bool = False) -> np.ndarray:
        """An .npy array (or .npz archive); memory-mapped when local and asked for, read whole otherwise."""
        if self.local:
            return np.load(self.path(rel), mmap_mode="r" if mmap else None)
        return np.load(io.BytesIO(self.read_bytes(rel)))

    def load_raw(self, rel: str, dtype: np.dtype) -> np.ndarray:
        if self.local:
            return np.fromfile(self.path(rel), dtype=dtype)
        return np.frombuffer(self.read_bytes(rel), dtype=dtype)

    def names(self, rel: str = "") -> list[str]:
        if not self.exists(rel):
            return []
        return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self.path(rel), detail=False))

    # ------------------------------------------------------------------ writing

    def sampled_description(self, rel: str) -> dict:
        """``{"bytes", "sampled_sha256"}`` of a file, a few MB read whatever its size (meta.json's checks)."""
        size = self.size(rel)
        return {"bytes": size, "sampled_sha256": sampled_sha256(size, lambda start, end: self.read_range(rel, start, end))}

    def describe(self, rel: str, whole_up_to: int | None = None) -> dict:
        """``digest.description`` of a file: its size and sha256 (sampled above ``whole_up_to`` bytes)."""
        return description(self.size(rel), lambda start, end: self.read_range(rel, start, end), whole_up_to)

    @contextmanager
    def writer(self, rel: str, seal=None) -> Iterator[io.BufferedWriter]:
        """A binary file that appears at ``rel`` only when the block ends without error.

        ``seal(path)``, when given, is called with the complete file's temporary path just before it
        appears (to record what it holds while no reader can see it yet).
        """
        if self.local:
            final = Path(self.path(rel))
            check_parent()  # a worker whose build is gone must not recreate a directory the user deleted
            final.parent.mkdir(parents=True, exist_ok=True)

            def publish(tmp: Path) -> None:
                if seal is not None:
                    seal(tmp)
                check_parent()

            with atomic_path(final, publish) as tmp, open(tmp, "wb") as f:
                yield f
            return
        fd, tmp = tempfile.mkstemp(prefix="dataprep-upload-")
        try:
            with os.fdopen(fd, "wb") as f:
                yield f
            if seal is not None:
                seal(Path(tmp))
            check_parent()
            self.fs.put_file(tmp, self.path(rel))
        finally:
            os.unlink(tmp)

    def write_bytes(self, rel: str, data: bytes) -> None:
        with self.writer(rel) as f:
            f.write(data)

    def write_json(self, rel: str, obj) -> None:
        self.write_bytes(rel, json_bytes(obj))

    def save_array(self, rel: str, arr: np.ndarray) -> None:
        with self.writer(rel) as f:
            np.save(f, arr)

    def move_in(self, other: "Store", rel: str) -> None:
        """Move ``rel`` of ``other`` (a store on the same file system) to ``rel`` here, replacing what is
        there: a rename where local; on an object store a copy of the whole object, then a delete."""
        if self.local:
            os.replace(other.path(rel), self.path(rel))
            fsync_dir(Path(self.path(rel)).parent)
        else:
            self.fs.mv(other.path(rel), self.path(rel))

    def copy_in(self, source: str, rel: str) -> None:
        """Copy a file (local path or URL) to ``rel``."""
        src_fs, src_path = filesystem(source)
        with self.writer(rel) as out, src_fs.open(src_path, "rb") as inp:
            shutil.copyfileobj(inp, out, 1 << 20)

    def remove(self, rel: str = "") -> None:
        if self.exists(rel):
            self.fs.rm(self.path(rel), recursive=True)

    def makedirs(self, rel: str = "") -> None:
        check_parent()
        if self.local:
            Path(self.path(rel)).mkdir(parents=True, exist_ok=True)
