"""The build's output directory: one build per directory, one process at a time, and only its own files.

A local ``OUT/.lock`` is held with ``flock`` for the whole run, so a second
build into the same directory refuses at once; on object storage, where there
is no flock, the lock is an object holding the owner's token (best effort:
two drivers starting in the same instant can both see it free). ``OUT/.work/``
keeps finished stages under a fingerprint of the inputs and options: a rerun
of the same command after a kill picks up where it stopped; a different
command refuses unless ``--overwrite``.

Ownership is proven, not guessed from file names: ``OUT/.dataprep.json`` (the
ledger) names every file dataprep put there with its size, and for files up to
``CONTENT_CHECKED_BYTES`` its sha256. A name is claimed in the ledger before its
file is written and recorded once it is in place. A file the ledger does not
vouch for (someone else's ``train.bin``, or ours changed since) is never
replaced without ``--overwrite``, and only temporaries named after a claimed
file (``.NAME.tmp-PID``) are ever deleted.
"""

from __future__ import annotations

import fcntl
import fnmatch
import hashlib
import json
import os
import re
import uuid
from contextlib import contextmanager

from dataprep.errors import DataprepError
from dataprep.io.storage import Store

WORK = ".work"
LOCK = ".lock"
META = "meta.json"
LEDGER = ".dataprep.json"
LEDGER_KIND = "dataprep build output"
CONTENT_CHECKED_BYTES = 64 << 20  # larger files (the bins) are vouched for by size: hashing them costs minutes
TEMP = re.compile(r"\.(.+)\.tmp-\d+")  # atomic.temp_name's pattern


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


class Ledger:
    """The files dataprep wrote into one directory: name -> {"bytes", "sha256"}, or None while being written."""

    def __init__(self, store: Store):
        self.store = store
        self.files: dict[str, dict | None] = {}

    def load(self) -> None:
        self.files = {}
        if not self.store.exists(LEDGER):
            return
        try:
            data = self.store.read_json(LEDGER)
        except (OSError, ValueError):
            return  # unreadable: it vouches for nothing
        if isinstance(data, dict) and data.get("kind") == LEDGER_KIND and isinstance(data.get("files"), dict):
            self.files = {k: v for k, v in data["files"].items() if v is None or isinstance(v, dict)}

    def _save(self) -> None:
        self.store.write_json(LEDGER, {"kind": LEDGER_KIND, "files": self.files})

    def claim(self, name: str) -> None:
        """Before writing ``name``: from now on a file there is ours, even if a kill stops us halfway."""
        if name not in self.files or self.files[name] is not None:
            self.files[name] = None
            self._save()

    def record(self, name: str) -> None:
        """After ``name`` is in place: remember what it is, to recognise it later."""
        self.files[name] = self._describe(name)
        self._save()

    def forget(self, names) -> None:
        names = [n for n in names if n in self.files]
        for n in names:
            del self.files[n]
        if names:
            self._save()

    def vouches_for(self, name: str) -> bool:
        """True when ``name`` is a file dataprep wrote (or was writing) and nobody changed since."""
        if name not in self.files:
            return False
        want = self.files[name]
        if want is None:  # claimed: whatever is there was being written by a build of ours
            return True
        try:
            return self._describe(name) == want
        except OSError:
            return False

    def intact(self) -> bool:
        """Every recorded file still there, unchanged."""
        return all(v is None or self.vouches_for(k) for k, v in self.files.items() if k != WORK)

    def _describe(self, name: str) -> dict:
        size = self.store.fs.size(self.store.path(name))
        digest = None
        if size <= CONTENT_CHECKED_BYTES:
            digest = hashlib.sha256(self.store.read_bytes(name)).hexdigest()
        return {"bytes": size, "sha256": digest}


class OwnedStore(Store):
    """The output directory as the build writes it: every file claimed, then recorded, in the ledger."""

    ledger: Ledger

    @contextmanager
    def writer(self, rel: str):
        name = rel.split("/", 1)[0]
        self.ledger.claim(name)
        with super().writer(rel) as f:
            yield f
        self.ledger.record(name)


class OutputDir:
    def __init__(self, store: Store, produced: tuple[str, ...]):
        self.store = store
        self.work = store.sub(WORK)
        self.produced = produced  # names (globs) this kind of build writes
        self.ledger = Ledger(store)
        self.outputs = OwnedStore(store.url)
        self.outputs.ledger = self.ledger
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

    def _produced_name(self, name: str) -> bool:
        return name == WORK or any(fnmatch.fnmatch(name, p) for p in self.produced)

    def _own_temp(self, name: str) -> bool:
        """A temporary of a file dataprep claimed (or of the ledger itself), left by a killed run."""
        m = TEMP.fullmatch(name)
        return bool(m) and (m.group(1) in self.ledger.files or m.group(1) == LEDGER)

    def prepare(self, print_: str, overwrite: bool) -> bool:
        """Check the directory against this build's fingerprint; True when it already holds this build."""
        self.ledger.load()
        if self._complete(print_):
            self._remove_own_temps()
            if self.store.exists(WORK):  # killed after meta.json was written, before the work files went
                self.finish()
            return True
        names = [n for n in self.store.names() if n not in (LOCK, LEDGER) and not self._own_temp(n)]
        foreign = [n for n in names if not self.ledger.vouches_for(n)]
        if foreign and not overwrite:
            ours_by_name = [n for n in foreign if self._produced_name(n)]
            if ours_by_name:
                raise DataprepError(
                    f"{self.store.url} holds {', '.join(ours_by_name[:3])}{', ...' if len(ours_by_name) > 3 else ''} "
                    "that dataprep did not write (or that changed since); choose an empty directory, or use "
                    "--overwrite to replace them"
                )
            raise DataprepError(
                f"{self.store.url} is not empty ({foreign[0]}, ...); choose an empty directory or --overwrite"
            )
        different = self._holds_other_build(print_)
        if different and not overwrite:
            raise DataprepError(different)
        if overwrite and (foreign or different):
            self.clear()
        if self.store.exists(META):  # ours, of this build, but incomplete: it must not look complete meanwhile
            self.store.remove(META)
            self.ledger.forget([META])
        self._remove_own_temps()
        self.ledger.claim(WORK)
        self.work.write_bytes("fingerprint", (print_ + "\n").encode())
        return False

    def _complete(self, print_: str) -> bool:
        if not (self.store.exists(META) and self.ledger.vouches_for(META) and self.ledger.intact()):
            return False
        try:
            return self.store.read_json(META).get("fingerprint") == print_
        except (OSError, ValueError, AttributeError):
            return False

    def _holds_other_build(self, print_: str) -> str | None:
        """Why the directory (all of it ours by now) holds a build other than this one, or None."""
        if self.store.exists(META):
            try:
                old = self.store.read_json(META).get("fingerprint")
            except (OSError, ValueError, AttributeError):
                old = None
            if old != print_:
                return f"{self.store.url} holds a different build; use --overwrite to replace it"
        if self.work.exists("fingerprint") and self.work.read_bytes("fingerprint").decode().strip() != print_:
            return (f"{self.store.url} holds an unfinished build of other inputs or options; rerun its command "
                    "or use --overwrite")
        return None

    def _remove_own_temps(self) -> None:
        for name in self.store.names():
            if self._own_temp(name):
                self.store.remove(name)
        if self.store.local and WORK in self.ledger.files and self.work.exists():
            for stale in self.work.local_path().rglob(".*.tmp-*"):  # all of .work is ours
                stale.unlink()

    def clear(self) -> None:
        """``--overwrite``: remove what dataprep wrote and the files this build will write anew."""
        for name in self.store.names():
            if name not in (LOCK, LEDGER) and (name in self.ledger.files or self._produced_name(name)
                                               or self._own_temp(name)):
                self.store.remove(name)
        self.ledger.forget(list(self.ledger.files))

    def finish(self) -> None:
        """The build is complete: its work files go."""
        self.work.remove()
        self.ledger.forget([WORK])
