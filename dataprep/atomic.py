"""Write-then-rename, so an interrupted write never leaves a file that looks complete."""

from __future__ import annotations

import json
import os
import shutil
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
def atomic_path(final: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``final``; on success fsync it and rename it into place.

    The temporary may be a file or a directory (every file in it is fsynced).
    """
    final = Path(final)
    tmp = temp_name(final)
    try:
        yield tmp
        files = [tmp] if tmp.is_file() else [p for p in tmp.rglob("*") if p.is_file()]
        for p in files:
            with open(p, "rb+") as f:
                os.fsync(f.fileno())
        if tmp.is_dir():
            fsync_dir(tmp)
        os.replace(tmp, final)
        fsync_dir(final.parent)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def write_json(path: str | Path, obj) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)

