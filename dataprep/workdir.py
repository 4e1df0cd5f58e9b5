"""The build's output directory: one build per directory, one process at a time.

``OUT/.lock`` is held with ``flock`` for the whole run, so a second build into
the same directory refuses at once. ``OUT/.work/`` keeps finished stages
(scan results per shard, decisions) under a fingerprint of the inputs and
options: a rerun of the same command after a kill picks up where it
stopped; a different command refuses unless ``--overwrite``.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

from dataprep.errors import DataprepError

WORK = ".work"
LOCK = ".lock"
META = "meta.json"


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


class OutputDir:
    def __init__(self, path: str | Path, produced: tuple[str, ...]):
        self.path = Path(path)
        self.work = self.path / WORK
        self.produced = produced  # names (globs) this kind of build writes
        self._lock_fd: int | None = None

    def acquire(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataprepError(f"cannot create output directory {self.path}: {exc.strerror}") from None
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataprepError(f"another dataprep build is running in {self.path} (lock {LOCK} held)") from None
        self._lock_fd = fd
        for stale in self.path.glob(".*.tmp-*"):  # a killed run's half-written files
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()

    def release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "OutputDir":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _ours(self) -> list[Path]:
        found = [self.work] if self.work.exists() else []
        for pattern in self.produced:
            found.extend(self.path.glob(pattern))
        return found

    def prepare(self, print_: str, overwrite: bool) -> bool:
        """Check the directory against this build's fingerprint; True when it is already complete."""
        meta = self.path / META
        if meta.exists():
            try:
                old = json.loads(meta.read_text()).get("fingerprint")
            except (OSError, ValueError):
                old = None
            if old == print_:
                return True
            if not overwrite:
                raise DataprepError(f"{self.path} holds a different build; use --overwrite to replace it")
            self.clear()
        started = self.work / "fingerprint"
        if started.exists() and started.read_text().strip() != print_:
            if not overwrite:
                raise DataprepError(
                    f"{self.path} holds an unfinished different build; rerun its command or use --overwrite"
                )
            self.clear()
        others = [p.name for p in self.path.iterdir() if p.name != LOCK and p not in self._ours()]
        if others and not overwrite:
            raise DataprepError(f"{self.path} is not empty ({others[0]}, ...); choose an empty directory or --overwrite")
        self.work.mkdir(exist_ok=True)
        started.write_text(print_ + "\n")
        return False

    def clear(self) -> None:
        for p in self._ours():
            shutil.rmtree(p) if p.is_dir() else p.unlink()
