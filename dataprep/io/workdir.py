"""The build's output directory: one build per directory, one process at a time, and only its own files.

A local ``OUT/.lock`` is held with ``flock`` for the whole run, so a second
build into the same directory refuses at once; on object storage, where there
is no flock, the lock is an object holding the owner's token (best effort:
two drivers starting in the same instant can both see it free). ``OUT/.work/``
keeps finished stages under a fingerprint of the inputs and options: a rerun
of the same command after a kill picks up where it stopped; a different
command refuses unless ``--overwrite``. ``OUT/.state/`` is kept after the
build: what a later build of more (or fewer) of the same inputs reuses.

Outputs are written to ``OUT/.work/next/`` and moved into place only when all
of them are complete, ``meta.json`` last (``swap``): the build they replace
stays whole until then, since a growing build reads its bins. A run killed
during the move is finished by the next one, whatever its command.

Ownership is proven, not guessed from file names: ``OUT/.dataprep.json`` (the
ledger) names every file dataprep put there with its size, and for files up to
``CONTENT_CHECKED_BYTES`` its sha256. A name is claimed in the ledger before its
file is written and recorded once it is in place. A file the ledger does not
vouch for (someone else's ``train.bin``, or ours changed since) is never
replaced without ``--overwrite``, and only temporaries named after a claimed
file (``.NAME.tmp-PID``) are ever deleted.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import uuid
from contextlib import contextmanager

from dataprep.errors import DataprepError
from dataprep.io.atomic import fsync_dir
from dataprep.io.layout import LEDGER, META, NEXT, STATE, SWAP, WORK
from dataprep.io.lock import LOCK_FILE, try_lock, unlock
from dataprep.io.storage import Store

LOCK = LOCK_FILE
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
        return all(v is None or self.vouches_for(k) for k, v in self.files.items() if k not in (WORK, STATE))

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
    def __init__(self, store: Store, produced: tuple[str, ...], derived: tuple[str, ...] = ()):
        self.store = store
        self.work = store.sub(WORK)
        self.state = store.sub(STATE)
        self.staged = self.work.sub(NEXT)
        self.produced = produced  # names (globs) this kind of build writes
        self.derived = derived  # outputs written from meta.json after it (a report): removed before it
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
        fd = try_lock(self.store.local_path() / LOCK)
        if fd is None:
            raise DataprepError(f"another dataprep build is running in {self.store.url} (lock {LOCK} held)")
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
            unlock(self._lock_fd)
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

    def prepare(self, print_: str, overwrite: bool, current=None, grows=None) -> str:
        """Check the directory against this build (fingerprint ``print_``) and say what to do.

        ``"done"``: it already holds this build (``print_`` is its fingerprint, or ``current(meta)``
        says so). ``"grow"``: it holds a finished build that ``grows(meta)`` accepts (returns None
        rather than why not); its outputs stay in place until the new ones replace them, since the
        new build reads them. ``"new"``: the build starts afresh, whatever of ours was there cleared
        (only with ``overwrite`` when it was another build).
        """
        self.ledger.load()
        self._remove_own_temps()
        self.swap()  # a build killed while its outputs were moved into place: that move is finished first
        meta = self._finished()
        if meta is not None and (meta.get("fingerprint") == print_ or (current is not None and current(meta))):
            if self.store.exists(WORK):  # killed after meta.json was written, before the work files went
                self.finish()
            return "done"
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
        if meta is not None and grows is not None and not foreign:
            why = grows(meta)
            if why is None:
                if not self._working_on(print_):  # what an abandoned attempt of another command left
                    self.work.remove()
                self._start(print_)
                return "grow"
            if not overwrite:
                raise DataprepError(f"{self.store.url} holds a different build ({why}); use --overwrite to replace it")
        different = self._holds_other_build(print_)
        if different and not overwrite:
            raise DataprepError(different)
        if overwrite and (foreign or different):
            self.clear()
        if self.store.exists(META):  # ours, of this build, but incomplete: it must not look complete meanwhile
            self.store.remove(META)
            self.ledger.forget([META])
        self._start(print_)
        return "new"

    def _start(self, print_: str) -> None:
        self.ledger.claim(WORK)
        self.ledger.claim(STATE)
        self.work.write_bytes("fingerprint", (print_ + "\n").encode())
        self.work.remove(SWAP)  # left by a finished swap of another command's build
        self.staged.remove()  # outputs of a killed run, staged but not all complete

    def _working_on(self, print_: str) -> bool:
        return self.work.exists("fingerprint") and self.work.read_bytes("fingerprint").decode().strip() == print_

    def _finished(self) -> dict | None:
        """meta.json of the finished build the directory holds, or None."""
        if not (self.store.exists(META) and self.ledger.vouches_for(META) and self.ledger.intact()):
            return None
        try:
            meta = self.store.read_json(META)
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) else None

    def staging_done(self, names: list[str]) -> None:
        """Every staged output (``names``, meta.json among them) is complete: from now on they replace
        the directory's outputs, even if this run is killed (the next run finishes the move)."""
        self.work.write_json(SWAP, {"files": sorted(names)})

    def swap(self) -> bool:
        """Move complete staged outputs into place: the old report and meta.json go first, so that
        nothing looks complete meanwhile, then the outputs the new build does not have; meta.json
        comes last. Each step can be repeated, so a run killed anywhere in here is finished by the next."""
        if WORK not in self.ledger.files or not self.work.exists(SWAP):
            return False
        if not self.staged.exists(META):  # moved last: the swap was complete
            return True
        names = set(self.work.read_json(SWAP)["files"])
        for name in [*self.derived, META]:
            self.store.remove(name)
            self.ledger.forget([name])
        stale = [n for n in self.ledger.files if n not in names and n not in (WORK, STATE)]
        for name in stale:
            self.store.remove(name)
        self.ledger.forget(stale)
        for name in sorted(names - {META}) + [META]:
            if self.staged.exists(name):
                self.ledger.claim(name)
                self._move_in(name)
                self.ledger.record(name)
        return True

    def _move_in(self, name: str) -> None:
        if self.store.local:
            os.replace(self.staged.path(name), self.store.path(name))
            fsync_dir(self.store.local_path())
        else:  # an object store copies the whole object, then deletes the staged one
            self.store.fs.mv(self.staged.path(name), self.store.path(name))

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
        for mine in (self.work, self.state):  # all of .work and .state is ours
            if self.store.local and mine.root.rsplit("/", 1)[-1] in self.ledger.files and mine.exists():
                for stale in mine.local_path().rglob(".*.tmp-*"):
                    stale.unlink()

    def clear(self) -> None:
        """``--overwrite``: remove what dataprep wrote and the files this build will write anew."""
        for name in self.store.names():
            if name not in (LOCK, LEDGER) and (name in self.ledger.files or self._produced_name(name)
                                               or self._own_temp(name)):
                self.store.remove(name)
        self.ledger.forget(list(self.ledger.files))

    def finish(self) -> None:
        """The build is complete: its work files go (``.state`` stays)."""
        self.work.remove()
        self.ledger.forget([WORK])
