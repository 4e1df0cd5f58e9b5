"""Write-then-rename, so an interrupted write never leaves a file that looks complete."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.tmp-{os.getpid()}")


@contextmanager
def atomic_path(final: str | Path, before_rename=None) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; on success fsync the file and rename it into place
    (``before_rename(tmp)`` is called just before, once the file is complete)."""
    final = Path(final)
    tmp = temp_name(final)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        if before_rename is not None:
            before_rename(tmp)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    finally:
        tmp.unlink(missing_ok=True)


def json_bytes(obj) -> bytes:
    """How every JSON file dataprep writes is laid out: indented, keys sorted, a final newline."""
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def write_json(path: str | Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(json_bytes(obj))

