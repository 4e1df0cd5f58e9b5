"""The build's output directory: one build per directory, one process at a time.

A local ``OUT/.lock`` is held with ``flock`` for the whole run, so a second
build into the same directory refuses at once; on object storage, where there
is no flock, the lock is an object holding the owner's token (best effort:
two drivers starting in the same instant can both see it free). ``OUT/.work/``
keeps finished stages under a fingerprint of the inputs and options: a rerun
of the same command after a kill picks up where it stopped; a different
command refuses unless ``--overwrite``.
"""

from __future__ import annotations

import fcntl
import fnmatch
import hashlib
import json
import os
import uuid

from dataprep.errors import DataprepError
from dataprep.storage import Store

WORK = ".work"
LOCK = ".lock"
META = "meta.json"


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


class OutputDir:
    def __init__(self, store: Store, produced: tuple[str, ...]):
        self.store = store
        self.work = store.sub(WORK)
        self.produced = produced  # names (globs) this kind of build writes
        self._lock_fd: int | None = None
        self._token: str | None = None

    def acquire(self) -> None:
        try:
            self.store.makedirs()
        except OSError as exc:
            raise DataprepError(f"cannot create output directory {self.store.url}: {exc.strerror}") from None
        if self.store.local:
            self._lock_local()
        else:
            self._lock_remote()

    def _lock_local(self) -> None:
        root = self.store.local_path()
        fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataprepError(f"another dataprep build is running in {self.store.url} (lock {LOCK} held)") from None
        self._lock_fd = fd
        for stale in root.rglob(".*.tmp-*"):  # a killed run's half-written files
            stale.unlink()

    def _lock_remote(self) -> None:
        if self.store.exists(LOCK):
            raise DataprepError(
                f"another dataprep build holds {self.store.url}/{LOCK}; if none is running, delete that object"
            )
        self._token = uuid.uuid4().hex
        self.store.write_bytes(LOCK, self._token.encode())

    def release(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None
        if self._token is not None:
            if self.store.exists(LOCK) and self.store.read_bytes(LOCK).decode() == self._token:
                self.store.remove(LOCK)
            self._token = None

    def __enter__(self) -> "OutputDir":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def _ours(self, name: str) -> bool:
        return name == WORK or any(fnmatch.fnmatch(name, p) for p in self.produced)

    def prepare(self, print_: str, overwrite: bool) -> bool:
        """Check the directory against this build's fingerprint; True when it is already complete."""
        if self.store.exists(META):
            try:
                old = self.store.read_json(META).get("fingerprint")
            except (OSError, ValueError):
                old = None
            if old == print_:
                return True
            if not overwrite:
                raise DataprepError(f"{self.store.url} holds a different build; use --overwrite to replace it")
            self.clear()
        if self.work.exists("fingerprint") and self.work.read_bytes("fingerprint").decode().strip() != print_:
            if not overwrite:
                raise DataprepError(
                    f"{self.store.url} holds an unfinished different build; rerun its command or use --overwrite"
                )
            self.clear()
        others = [n for n in self.store.names() if n != LOCK and not self._ours(n)]
        if others and not overwrite:
            raise DataprepError(
                f"{self.store.url} is not empty ({others[0]}, ...); choose an empty directory or --overwrite"
            )
        self.work.write_bytes("fingerprint", (print_ + "\n").encode())
        return False

    def clear(self) -> None:
        for name in self.store.names():
            if self._ours(name):
                self.store.remove(name)
