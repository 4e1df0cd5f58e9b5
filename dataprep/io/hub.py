"""Fetch the parquet shards of a Hugging Face dataset into the hub cache, verified.

``fetch_shards`` lists ``*.parquet`` under a folder of a dataset repo, takes the
first N in sorted path order and downloads them with ``hf_hub_download``, so the
files land in huggingface_hub's own cache: a second call reuses them and a
download cut short mid-stream resumes with an HTTP Range request. Every file is
then checked against the listing (size, and sha256 for LFS files); a bad file is
evicted from the cache and fetched once more before giving up.

Every failure surfaces as one ``DataprepError`` line, never as a
huggingface_hub/httpx traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, RepoFile, constants, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
    RevisionResolutionError,
)
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, http_backoff
from huggingface_hub.utils import tqdm as hf_tqdm

from dataprep.io.storage import file_sha256
from dataprep.errors import DataprepError

__all__ = ["HubFile", "HubShards", "fetch_shards"]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 8 << 20


@dataclass(frozen=True)
class HubFile:
    """A parquet file of the dataset and what it must look like once downloaded."""

    path: str  # inside the repo, "/"-separated
    size: int | None  # None when only the cache was consulted (offline)
    sha256: str | None  # LFS content hash; None for plain git files


def fetch_shards(
    dataset: str,
    subset: str = "",
    shards: int | None = None,
    cache_dir: str | os.PathLike | None = None,
    revision: str | None = "main",
    progress: bool | None = None,
) -> list[Path]:
    """Download (or reuse) the first ``shards`` parquet files under ``subset`` of ``dataset``.

    ``subset`` is a folder of the dataset repo ("" is the whole repo), searched
    recursively. ``shards=None`` takes every file. ``cache_dir=None`` uses
    huggingface_hub's cache (``HF_HUB_CACHE`` / ``HF_HOME``). ``progress=None``
    shows huggingface_hub's bars on a terminal only; ``False`` silences them.
    ``HF_ENDPOINT`` and ``HF_HUB_OFFLINE=1`` are read at call time. Returns the
    paths of the files in the cache, in sorted repo-path order.
    """
    if shards is not None and shards < 1:
        raise DataprepError(f"shards must be at least 1, got {shards}")
    listed = HubShards(dataset, subset, cache_dir, revision, progress, wanted=shards)
    if shards is not None and shards > len(listed):
        raise DataprepError(f"{listed.where} has only {len(listed)} parquet files, {shards} requested")
    return [listed.fetch(i) for i in range(len(listed) if shards is None else shards)]


class HubShards:
    """The parquet files under a folder of a dataset repo, listed once at one pinned commit (sorted by
    path) and each downloaded when first fetched: ``build --tokens`` takes them one at a time.

    ``wanted``: how many the caller means to fetch, when it knows (offline, more than the cache
    holds is refused at once).
    """

    def __init__(self, dataset: str, subset: str = "", cache_dir: str | os.PathLike | None = None,
                 revision: str | None = "main", progress: bool | None = None, wanted: int | None = None):
        # huggingface_hub reads these variables once, at import; read them per call so
        # that a caller (or a test) setting them later is still obeyed.
        endpoint = (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")
        offline = constants.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}
        cache = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache()
        subset = subset.strip("/")
        self.where = f"{dataset}/{subset}" if subset else dataset
        self.ctx = _Context(dataset, revision or "main", endpoint, offline, cache)
        api = HfApi(endpoint=endpoint)
        with _translated(self.ctx, subset or "the repo root"):
            # Pin one commit: the listing and every download then agree even if the
            # branch moves meanwhile, and cached files are served without any request.
            self.rev = api.resolve_revision(
                dataset, repo_type="dataset", revision=revision, cache_dir=cache, local_files_only=offline
            )
            if offline:
                listed = _list_cached(cache, dataset, self.rev.resolved, subset)
            else:
                listed = _list_remote(api, dataset, self.rev.resolved, subset)
        listed.sort(key=lambda f: f.path)
        if offline and (not listed or (wanted or 0) > len(listed)):
            asked = f", {wanted} requested" if wanted else ""
            raise DataprepError(
                f"{self.where} has {len(listed)} cached parquet files (revision {self.ctx.revision}){asked} and "
                "HF_HUB_OFFLINE=1 forbids downloading; unset HF_HUB_OFFLINE to fetch them"
            )
        if not listed:
            raise DataprepError(f"no parquet files in {self.where} (revision {self.ctx.revision})")
        self.files = listed
        self.bar = _bar_class(progress)
        self.description = f"hf://datasets/{dataset}@{self.rev.resolved}/{subset}"
        self.as_options = ["--dataset", dataset, "--subset", subset]
        self._fetched: dict[int, Path] = {}

    def __len__(self) -> int:
        return len(self.files)

    def fetch(self, i: int) -> Path:
        """The ``i``-th file (sorted by path), downloaded into the cache or found there, verified."""
        if i not in self._fetched:
            self._fetched[i] = _fetch(self.files[i], self.rev, self.ctx, self.bar)
        return self._fetched[i]

    def read_range(self, i: int, start: int, end: int) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive) of the ``i``-th file, by an HTTP range request at the
        pinned commit (nothing is cached): what a reader of a few columns of a large file needs."""
        f = self.files[i]
        if self.ctx.offline:
            raise DataprepError(f"{f.path} of {self.ctx.dataset}: HF_HUB_OFFLINE=1 forbids range requests; "
                                "unset HF_HUB_OFFLINE")
        url = hf_hub_url(self.ctx.dataset, f.path, repo_type="dataset", revision=self.rev.resolved,
                         endpoint=self.ctx.endpoint)
        with _translated(self.ctx, f.path):
            reply = http_backoff("GET", url, headers={**build_hf_headers(), "Range": f"bytes={start}-{end - 1}"})
            hf_raise_for_status(reply)
        if len(reply.content) != end - start:  # e.g. a whole file (HTTP 200) where a range was asked for
            raise DataprepError(f"{self.ctx.endpoint} answered a range request for {end - start:,} bytes of {f.path} "
                                f"of {self.ctx.dataset} with {len(reply.content):,} (HTTP {reply.status_code})")
        return reply.content


def _list_remote(api: HfApi, dataset: str, commit: str, subset: str) -> list[HubFile]:
    # Recursive, so a subset of nested folders (or the repo root) is covered.
    tree = api.list_repo_tree(
        dataset, path_in_repo=subset or None, recursive=True, revision=commit, repo_type="dataset"
    )
    return [
        HubFile(e.path, e.size, e.lfs.sha256 if e.lfs else None)
        for e in tree
        if isinstance(e, RepoFile) and e.path.endswith(".parquet")
    ]


def _list_cached(cache: Path, dataset: str, commit: str, subset: str) -> list[HubFile]:
    # Offline there is no listing: what the snapshot folder holds is what exists.
    # An LFS blob is named after its sha256, so the content can still be checked.
    root = cache / repo_folder_name(repo_id=dataset, repo_type="dataset") / "snapshots" / commit
    base = root / subset if subset else root
    files = []
    for p in base.rglob("*.parquet") if base.is_dir() else ():
        blob = p.resolve().name
        files.append(HubFile(p.relative_to(root).as_posix(), None, blob if _SHA256.fullmatch(blob) else None))
    return files


def _fetch(f: HubFile, rev: str, ctx: _Context, bar: type | None) -> Path:
    for _ in range(2):
        with _translated(ctx, f.path):
            local = Path(
                hf_hub_download(
                    ctx.dataset,
                    f.path,
                    repo_type="dataset",
                    revision=rev,
                    cache_dir=ctx.cache,
                    endpoint=ctx.endpoint,
                    local_files_only=ctx.offline,
                    tqdm_class=bar,
                )
            )
        problem = _check(local, f)
        if problem is None:
            return local
        # hf_hub_download trusts whatever blob is in the cache, so a bad one must go
        # before the retry (and before giving up, so the next run does not trust it).
        _evict(local)
        if ctx.offline:
            raise DataprepError(
                f"cached {f.path} of {ctx.dataset} is corrupt ({problem}) and was removed; "
                "unset HF_HUB_OFFLINE to download it again"
            )
    raise DataprepError(
        f"{f.path} of {ctx.dataset} failed verification twice ({problem}); "
        f"{ctx.endpoint} (or a proxy) is serving bad data"
    )


def _check(local: Path, f: HubFile) -> str | None:
    size = local.stat().st_size
    if f.size is not None and size != f.size:
        return f"{size} bytes, listing says {f.size}"
    if f.sha256 is not None:
        got = file_sha256(local, _CHUNK)
        if got != f.sha256:
            return f"sha256 {got[:12]}..., listing says {f.sha256[:12]}..."
    return None


def _evict(local: Path) -> None:
    # The snapshot entry is normally a symlink into blobs/; remove both so the
    # next hf_hub_download fetches afresh instead of relinking the bad blob.
    blob = local.resolve()
    local.unlink(missing_ok=True)
    blob.unlink(missing_ok=True)


def _default_cache() -> Path:
    # Same precedence as huggingface_hub.constants, evaluated now rather than at import.
    env = os.environ.get
    home = env("HF_HOME") or os.path.join(env("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface")
    hub = env("HF_HUB_CACHE") or env("HUGGINGFACE_HUB_CACHE") or os.path.join(home, "hub")
    return Path(os.path.expandvars(hub)).expanduser()


def _bar_class(progress: bool | None) -> type | None:
    if progress is None:
        return None  # huggingface_hub's default: bars only on a terminal

    class Bar(hf_tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = not progress
            super().__init__(*args, **kwargs)

    return Bar


@dataclass
class _Context:
    """What the error messages need, to say where things went wrong."""

    dataset: str
    revision: str
    endpoint: str
    offline: bool
    cache: Path

    def explain(self, err: Exception, what: str) -> str | None:
        ds, rev = self.dataset, self.revision
        # huggingface_hub's first line says what happened; later lines give advice
        # that does not apply here (e.g. "retry with force_download=True"). When it
        # wraps a connection error, that error is the part worth showing.
        cause = err.__cause__ if isinstance(err, (RevisionResolutionError, LocalEntryNotFoundError)) else None
        shown = cause or err
        detail = next((line.strip() for line in str(shown).splitlines() if line.strip()), "")[:300]
        if isinstance(shown, HfHubHTTPError):
            detail = f"HTTP {shown.response.status_code}: {shown.server_message or detail}"
        detail = f"{type(shown).__name__}: {detail}" if detail else type(shown).__name__
        if isinstance(err, GatedRepoError):
            return f"dataset {ds} is gated on {self.endpoint}: accept its terms on the website and set HF_TOKEN"
        if isinstance(err, RepositoryNotFoundError):
            return f"dataset {ds} not found on {self.endpoint} (a private dataset needs HF_TOKEN)"
        if isinstance(err, RevisionNotFoundError):
            return f"revision {rev!r} not found in dataset {ds}"
        if isinstance(err, RemoteEntryNotFoundError):
            return f"{what!r} not found in dataset {ds} at revision {rev!r}"
        unreachable = (httpx2.HTTPError, RevisionResolutionError, LocalEntryNotFoundError, OfflineModeIsEnabled)
        if self.offline and isinstance(err, unreachable):
            return (
                f"{ds} ({what}, revision {rev!r}) is not in the cache {self.cache} and HF_HUB_OFFLINE=1 "
                "forbids downloading; unset HF_HUB_OFFLINE to fetch it"
            )
        if isinstance(err, unreachable) or (isinstance(err, HfHubHTTPError) and err.response.status_code >= 500):
            return (
                f"cannot reach {self.endpoint} for {ds} ({detail}); "
                "check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use cached files only"
            )
        if isinstance(err, HfHubHTTPError):
            return f"{self.endpoint} refused {ds} ({what}): {detail}"
        if isinstance(err, ValueError):  # e.g. HFValidationError for a malformed repo id
            return f"bad dataset id or revision for {ds}: {detail}"
        if isinstance(err, OSError):  # a short body caught by huggingface_hub itself, disk full, ...
            return f"downloading {what} of {ds} failed: {detail}"
        if type(err).__module__.split(".")[0] in {"huggingface_hub", "httpx2", "httpcore"}:
            return f"huggingface_hub failed on {ds} ({what}): {detail}"
        return None  # not the hub's doing (a bug here): let it show


@contextmanager
def _translated(ctx: _Context, what: str) -> Iterator[None]:
    """Turn huggingface_hub/httpx exceptions raised inside into one-line DataprepErrors."""
    try:
        yield
    except DataprepError:
        raise
    except Exception as err:
        message = ctx.explain(err, what)
        if message is None:
            raise
        raise DataprepError(message) from None
