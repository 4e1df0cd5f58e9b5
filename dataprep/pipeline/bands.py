"""LSH across all shards as tasks: candidate edges per band partition, then clusters.

Each scanned shard stores its band hashes band-major (``bands.npy``, shape
``(bands, docs)``), so one band is one contiguous row. A ``BandJob`` takes one
band and one slice of the hash space (``hash % parts == part``), streams the
shards keeping only its slice, and writes the edges joining documents that
share a bucket. No task ever holds more than its slice of one band.

Connected components run in one process when the edges are few; otherwise
they are computed by rounds of hook-and-compress: each task reads one edge
file and the current labels and proposes smaller labels, the driver applies
the proposals and jumps pointers. Both give every document the smallest
member of its component, so the result is the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataprep.dedup.components import connected_components, jump_pointers, lsh_edges
from dataprep.io.storage import Store
from dataprep.pipeline.engine import Engine

LOCAL_EDGE_LIMIT = 20_000_000  # past this many edges, components are computed by tasks
INLINE_DOCS = 1_000_000  # up to this many documents, the band tasks cost less than starting workers for them
DOCS_PER_PART = 50_000_000  # hash-space slices per band keep each task below this many documents


@dataclass(frozen=True)
class BandJob:
    work: str  # the work directory (a path or URL)
    state: str  # the directory of the scans (a path or URL)
    shards: tuple[str, ...]  # scan directories, relative to state
    band: int
    part: int
    parts: int
    with_val: bool  # also report train documents whose band matches a val band (val-overlap)


def band_edges(job: BandJob) -> dict:
    """Edges for one band slice, written to ``edges/BBBB-PPPP.npy`` as a (2, k) int64 array."""
    work, state = Store(job.work), Store(job.state)
    active = work.load_array("active.npy", mmap=True)
    first = 0
    hashes, docs = [], []
    for shard in job.shards:
        band = state.load_array(f"{shard}/bands.npy", mmap=True)[job.band]
        ids = np.arange(first, first + len(band), dtype=np.int64)
        keep = active[first : first + len(band)] & (band % np.uint64(job.parts) == job.part)
        hashes.append(np.asarray(band[keep]))
        docs.append(ids[keep])
        first += len(band)
    h, d = np.concatenate(hashes), np.concatenate(docs)
    u, v = lsh_edges(h[:, None], d)
    name = f"edges/{job.band:04d}-{job.part:04d}.npy"
    work.save_array(name, np.stack([u, v]))
    result = {"edges": name, "count": int(len(u))}
    if job.with_val:
        val = work.load_array("val_bands.npy")[:, job.band]
        overlap = d[np.isin(h, val[val % np.uint64(job.parts) == job.part])]
        name = f"edges/overlap-{job.band:04d}-{job.part:04d}.npy"
        work.save_array(name, overlap)
        result["overlap"] = name
    return result


def band_jobs(work: Store, state: Store, shards: list[str], bands: int, n_docs: int, with_val: bool) -> list[BandJob]:
    parts = max(1, -(-n_docs // DOCS_PER_PART))
    return [
        BandJob(work.url, state.url, tuple(shards), band, part, parts, with_val)
        for band in range(bands) for part in range(parts)
    ]


@dataclass(frozen=True)
class HookJob:
    work: str
    edges: str  # an edge file, relative to work
    labels: str  # the current labels, relative to work
    out: str  # where to write the proposals


def propose_labels(job: HookJob) -> str:
    """For each edge whose ends carry different labels: (larger label, smaller label), the smallest per label."""
    work = Store(job.work)
    label = work.load_array(job.labels, mmap=True)
    u, v = work.load_array(job.edges)
    lu, lv = np.asarray(label[u]), np.asarray(label[v])
    crossing = lu != lv
    hi = np.maximum(lu[crossing], lv[crossing])
    lo = np.minimum(lu[crossing], lv[crossing])
    order = np.lexsort((lo, hi))
    hi, lo = hi[order], lo[order]
    first = np.ones(len(hi), dtype=bool)
    first[1:] = hi[1:] != hi[:-1]
    work.save_array(job.out, np.stack([hi[first], lo[first]]))
    return job.out


def components(work: Store, n: int, edge_files: list[str], total_edges: int, engine) -> np.ndarray:
    """Component label (smallest member) of each of n documents."""
    if total_edges <= LOCAL_EDGE_LIMIT:
        edges = [work.load_array(f) for f in edge_files]
        u = np.concatenate([e[0] for e in edges]) if edges else np.zeros(0, np.int64)
        v = np.concatenate([e[1] for e in edges]) if edges else np.zeros(0, np.int64)
        return connected_components(n, u, v)
    label = np.arange(n, dtype=np.int64)
    for round_ in range(10_000):
        work.save_array("labels.npy", label)
        jobs = [HookJob(work.url, f, "labels.npy", f"hooks/{round_:04d}-{i:05d}.npy") for i, f in enumerate(edge_files)]
        proposals = [work.load_array(out) for out in engine.map(propose_labels, jobs)]
        hi = np.concatenate([p[0] for p in proposals])
        if len(hi) == 0:
            return label
        np.minimum.at(label, hi, np.concatenate([p[1] for p in proposals]))
        label = jump_pointers(label)
        work.remove("hooks")
    raise RuntimeError("connected components did not converge")


@dataclass
class BandsOnShards:
    """Near duplicates across scanned shards, found by band tasks on an engine (build's ``NearDuplicates``).

    The tasks read the scans' bands from the state directory and share their inputs and outputs
    through the work directory: the active documents, the reused val set's bands, and one edge file
    per task.
    """

    work: Store
    state: Store
    scan_dirs: list[str]
    bands: int
    engine: Engine
    val_bands: np.ndarray | None  # band hashes of a reused val set, (docs, bands)

    def clusters(self, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(active)
        self.work.save_array("active.npy", active)
        if self.val_bands is not None:
            self.work.save_array("val_bands.npy", self.val_bands)
        self.work.remove("edges")
        jobs = band_jobs(self.work, self.state, self.scan_dirs, self.bands, n, self.val_bands is not None)
        results = list(self.engine.map(band_edges, jobs, inline=n <= INLINE_DOCS))
        cluster = components(self.work, n, [r["edges"] for r in results], sum(r["count"] for r in results), self.engine)
        overlap = np.zeros(n, dtype=bool)
        for r in results:
            if "overlap" in r:
                overlap[self.work.load_array(r["overlap"])] = True
        return cluster, overlap
