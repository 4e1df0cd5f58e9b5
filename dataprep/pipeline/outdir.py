"""The build's output directory: one build per directory, one process at a time, and only its own files.

A local output directory is locked with ``flock`` on the directory itself for the whole run, so a
second build into it refuses at once (a lock on the directory cannot be deleted from under the
build, and works where the directory is read-only); on object storage, where there is no flock,
the lock is an object holding the owner's token (best effort: two drivers starting in the same
instant can both see it free). ``OUT/.work/`` keeps finished stages under a fingerprint of the
inputs and options: a rerun of the same command after a kill picks up where it stopped; a
different command refuses unless ``--overwrite``. ``OUT/.state/`` is kept after the build: what a
later build of more (or fewer) of the same inputs reuses, each scan checked against its key and
checksums before use.

Outputs are written to ``OUT/.work/next/`` and moved into place only when all of them are complete,
``meta.json`` last (``swap``): the build they replace stays whole until then, since a growing build
reads its bins. A run killed during the move is finished by the next one, whatever its command.

Ownership is proven, not guessed from file names: ``OUT/.dataprep.json`` (the ledger) names every
file dataprep put there, with its size and sha256 (sampled, for files over
``CONTENT_CHECKED_BYTES``), recorded before the file appears. It accepts only names of the files a
build writes, directly inside ``OUT``. A file is replaced or deleted only when it is still what
the ledger recorded; anything else there is foreign: refused by name without ``--overwrite``, and
never deleted unless it bears the name of a build output and ``--overwrite`` is given.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import uuid
from contextlib import contextmanager

from dataprep.errors import DataprepError
from dataprep.io.digest import local_description
from dataprep.io.layout import LEDGER, META, NEXT, STATE, SWAP, WORK
from dataprep.io.lock import try_lock, unlock
from dataprep.io.storage import Store

LOCK = ".lock"  # the lock object of a build on object storage (a local directory is locked itself)
LEDGER_KIND = "dataprep build output"
LEDGER_FORMAT = 2
CONTENT_CHECKED_BYTES = 64 << 20  # larger files (the bins) are recognised by size and a sampled sha256
TEMP = re.compile(r"\.(.+)\.tmp-\d+")  # atomic.temp_name's pattern


def fingerprint(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


class Ledger:
    """The files dataprep wrote into one directory (name -> the descriptions it may have: one, or two
    while it is being replaced), and the directories that are wholly dataprep's (``.work``, ``.state``)."""

    def __init__(self, store: Store, produced: tuple[str, ...]):
        self.store = store
        self.produced = produced  # names (globs) of the files a build writes: the only ones accepted
        self.files: dict[str, list[dict]] = {}
        self.dirs: set[str] = set()
        self.outdated = False  # a ledger an earlier dataprep wrote, in a form this one does not read

    def load(self) -> None:
        """Read the ledger; an entry it cannot vouch for by the rules above is dropped, so that what it
        names is foreign (and a corrupt or missing ledger vouches for nothing)."""
        self.files, self.dirs, self.outdated = {}, set(), False
        try:
            data = self.store.read_json(LEDGER) if self.store.exists(LEDGER) else None
        except (OSError, ValueError):
            return
        if not (isinstance(data, dict) and data.get("kind") == LEDGER_KIND and data.get("format") == LEDGER_FORMAT):
            self.outdated = isinstance(data, dict) and data.get("kind") == LEDGER_KIND
            return
        files, dirs = data.get("files"), data.get("dirs")
        if isinstance(files, dict):
            self.files = {k: v for k, v in files.items() if self.accepts(k, v)}
        if isinstance(dirs, list):
            self.dirs = {d for d in dirs if d in (WORK, STATE)}

    def accepts(self, name, descriptions) -> bool:
        """A name of a file a build writes, directly in the directory, with one or two descriptions."""
        return (isinstance(name, str) and "/" not in name and "\\" not in name and name not in ("", ".", "..")
                and any(fnmatch.fnmatchcase(name, p) for p in self.produced)
                and isinstance(descriptions, list) and 0 < len(descriptions) <= 2
                and all(_is_description(d) for d in descriptions))

    def _save(self) -> None:
        self.store.write_json(LEDGER, {"kind": LEDGER_KIND, "format": LEDGER_FORMAT, "files": self.files,
                                       "dirs": sorted(self.dirs)})

    def claim_dir(self, name: str) -> None:
        if name not in self.dirs:
            self.dirs.add(name)
            self._save()

    def expect(self, name: str, description: dict) -> None:
        """Before a file that ``description`` describes appears at ``name``: from then on, it or the file
        it replaces (if that was ours) is ours, even if this run is killed in between."""
        was = [d for d in self.files.get(name, []) if self.vouches_for(name, [d])]
        self.files[name] = was[-1:] + [description] if was and was[-1] != description else [description]
        self._save()

    def settle(self, name: str, description: dict) -> None:
        """After the file is in place: only it is ours at ``name``."""
        if self.files.get(name) != [description]:
            self.files[name] = [description]
            self._save()

    def forget(self, names) -> None:
        names = [n for n in names if n in self.files]
        for n in names:
            del self.files[n]
        if names:
            self._save()

    def forget_dir(self, name: str) -> None:
        if name in self.dirs:
            self.dirs.discard(name)
            self._save()

    def vouches_for(self, name: str, descriptions: list[dict] | None = None) -> bool:
        """True when ``name`` is a directory of ours, or a file still as dataprep recorded it."""
        if name in self.dirs:
            return True
        descriptions = self.files.get(name) if descriptions is None else descriptions
        if not descriptions:
            return False
        try:
            size = self.store.size(name)
            if not any(d["bytes"] == size for d in descriptions):
                return False
            return self.store.describe(name, CONTENT_CHECKED_BYTES) in descriptions
        except OSError:
            return False

    def intact(self) -> bool:
        """Every recorded file still there, unchanged."""
        return all(self.vouches_for(k) for k in self.files)


def _is_description(d) -> bool:
    return (isinstance(d, dict) and isinstance(d.get("bytes"), int)
            and isinstance(d.get("sha256") or d.get("sampled_sha256"), str))


class OwnedStore(Store):
    """The output directory as the build writes it: every file recorded in the ledger before it appears."""

    def __init__(self, root: str, ledger: Ledger):
        super().__init__(root)
        self.ledger = ledger

    @contextmanager
    def writer(self, rel: str, seal=None):
        if "/" in rel:
            raise DataprepError(f"refusing to write {rel!r}: a build's outputs lie directly in its directory")
        written: dict = {}

        def record(path) -> None:
            written.update(local_description(path, CONTENT_CHECKED_BYTES))
            self.ledger.expect(rel, dict(written))
            if seal is not None:
                seal(path)

        with super().writer(rel, seal=record) as f:
            yield f
        self.ledger.settle(rel, written)


class OutputDir:
    def __init__(self, store: Store, produced: tuple[str, ...], derived: tuple[str, ...] = ()):
        self.store = store
        self.work = store.sub(WORK)
        self.state = store.sub(STATE)
        self.staged = self.work.sub(NEXT)
        self.produced = produced  # names (globs) this kind of build writes
        self.derived = derived  # outputs written from meta.json after it (a report): removed before it
        self.ledger = Ledger(store, produced)
        self.outputs = OwnedStore(store.url, self.ledger)
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
        fd = try_lock(self.store.local_path())
        if fd is None:
            raise DataprepError(f"another dataprep build is running in {self.store.url}")
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
        return name == WORK or any(fnmatch.fnmatchcase(name, p) for p in self.produced)

    def _own_temp(self, name: str) -> bool:
        """A temporary of a file dataprep records (or of the ledger itself), left by a killed run."""
        m = TEMP.fullmatch(name)
        return bool(m) and (m.group(1) in self.ledger.files or m.group(1) == LEDGER)

    def prepare(self, print_: str, overwrite: bool, current=None, grows=None) -> str:
        """Check the directory against this build (fingerprint ``print_``) and say what to do.

        ``"done"``: it already holds this build (``print_`` is its fingerprint, or ``current(meta)``
        says so). ``"grow"``: it holds a finished build that ``grows(meta)`` accepts (returns None
        rather than why not); its outputs stay in place until the new ones replace them, since the
        new build reads them. ``"new"``: the build starts afresh, whatever of ours was there cleared
        (only with ``overwrite`` when it was another build; the kept scans stay, each checked
        before it is reused).
        """
        self.ledger.load()
        self._remove_own_temps()
        self.swap(overwrite)  # a build killed while its outputs were moved into place: that move is finished first
        meta = self._finished()
        if meta is not None and (meta.get("fingerprint") == print_ or (current is not None and current(meta))):
            if self.store.exists(WORK):  # killed after meta.json was written, before the work files went
                self.finish()
            return "done"
        names = [n for n in self.store.names() if n not in (LOCK, LEDGER) and not self._own_temp(n)]
        foreign = [n for n in names if not self.ledger.vouches_for(n)]
        if foreign and not overwrite:
            if self.ledger.outdated:
                raise DataprepError(f"{self.store.url} holds a build made by an earlier dataprep, whose files this one "
                                    "cannot vouch for; use --overwrite to build it again")
            raise DataprepError(_foreign_problem(self.store.url, foreign, self._produced_name))
        if overwrite:
            self.clear()
        elif meta is not None and grows is not None:
            why = grows(meta)
            if why is not None:
                raise DataprepError(f"{self.store.url} holds a different build ({why}); use --overwrite to replace it")
            if not self._working_on(print_):  # what an abandoned attempt of another command left
                self._remove_work()
            self._start(print_)
            return "grow"
        different = self._holds_other_build(print_)
        if different:
            raise DataprepError(different)
        self._remove_own(META)  # ours, of this build, but incomplete: it must not look complete meanwhile
        self._start(print_)
        return "new"

    def _start(self, print_: str) -> None:
        self.ledger.claim_dir(WORK)
        self.ledger.claim_dir(STATE)
        self.work.write_bytes("fingerprint", (print_ + "\n").encode())
        self.work.remove(SWAP)  # left by a finished swap of another command's build
        self.staged.remove()  # outputs of a killed run, staged but not all complete

    def abandon(self) -> None:
        """This build will not be finished (its options must change): its work files stay for the next
        build, but no longer as this build's, so a build of other options may take them up."""
        self.work.remove("fingerprint")

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
        the directory's outputs, even if this run is killed (the next run finishes the move). What
        each holds is recorded, so that the move checks it."""
        self.work.write_json(SWAP, {"files": {n: self.staged.describe(n, CONTENT_CHECKED_BYTES) for n in sorted(names)}})

    def swap(self, overwrite: bool = False) -> bool:
        """Move complete staged outputs into place: the old report and meta.json go first, so that
        nothing looks complete meanwhile, then the outputs the new build does not have; meta.json
        comes last. Each step can be repeated, so a run killed anywhere in here is finished by the
        next. Staged outputs that are not what ``staging_done`` recorded are dropped (the build is
        then made again), and a foreign file in the way is refused unless ``overwrite``."""
        if WORK not in self.ledger.dirs or not self.work.exists(SWAP):
            return False
        if not self.staged.exists(META):  # moved last: the swap was complete
            return True
        staged = self._staged_outputs()
        if staged is None:
            self.work.remove(SWAP)
            self.staged.remove()
            return False
        for name in [*self.derived, META]:
            self._remove_own(name)
        stale = [n for n in self.ledger.files if n not in staged]
        for name in stale:
            self._remove_own(name)
        for name in sorted(set(staged) - {META}) + [META]:
            if self.staged.exists(name):
                self._move_in(name, staged[name], overwrite)
        return True

    def _staged_outputs(self) -> dict[str, dict] | None:
        """The staged outputs and what each holds, when every one still in .work/next is intact."""
        try:
            files = self.work.read_json(SWAP)["files"]
            for name, want in files.items():
                if not (self.ledger.accepts(name, [want]) and
                        (not self.staged.exists(name) or self.staged.describe(name, CONTENT_CHECKED_BYTES) == want)):
                    return None
            return files
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def _move_in(self, name: str, description: dict, overwrite: bool) -> None:
        if self.store.exists(name) and not self.ledger.vouches_for(name) and not overwrite:
            raise DataprepError(_foreign_problem(self.store.url, [name], self._produced_name))
        self.ledger.expect(name, description)
        self.store.move_in(self.staged, name)
        self.ledger.settle(name, description)

    def _remove_own(self, name: str) -> None:
        """Remove ``name`` if it is a file the ledger vouches for; forget it either way."""
        if name in self.ledger.files and self.store.exists(name) and self.ledger.vouches_for(name):
            self.store.remove(name)
        self.ledger.forget([name])

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
        for mine in (WORK, STATE):  # all of .work and .state is ours
            sub = self.store.sub(mine)
            if self.store.local and mine in self.ledger.dirs and sub.exists():
                for stale in sub.local_path().rglob(".*.tmp-*"):
                    stale.unlink()

    def clear(self) -> None:
        """``--overwrite``: remove the files this build will write anew, whoever wrote them, and the work
        files. The kept scans stay: each is checked against its key and checksums before reuse."""
        for name in self.store.names():
            if name not in (LOCK, LEDGER, STATE) and (self._produced_name(name) or self._own_temp(name)):
                self.store.remove(name)
        self.ledger.forget(list(self.ledger.files))
        self.ledger.forget_dir(WORK)

    def _remove_work(self) -> None:
        self.work.remove()
        self.ledger.forget_dir(WORK)

    def finish(self) -> None:
        """The build is complete: its work files go (``.state`` stays)."""
        self._remove_work()


def _foreign_problem(url: str, foreign: list[str], produced_name) -> str:
    ours_by_name = [n for n in foreign if produced_name(n)]
    if ours_by_name:
        listed = ", ".join(ours_by_name[:3]) + (", ..." if len(ours_by_name) > 3 else "")
        return (f"{url} holds {listed} that dataprep did not write (or that changed since); choose an empty "
                "directory, or use --overwrite to replace them")
    return f"{url} is not empty ({foreign[0]}, ...); choose an empty directory or --overwrite"
