"""A build that replaces the finished build in its directory with one of more (or fewer) of the same
inputs: only the new shards are scanned, and the bins already written give the kept documents' tokens.

The finished build can be grown when the new one differs from it in its inputs only, the old inputs
being the first of the new ones (or the reverse): the same options that change decisions, the same
``--val-from`` files or ``--val-bin``, the same dataprep version, and every old input unchanged (resolved
path, size, sha256). ``--format`` may differ, since every output is written afresh. Whether it can
is proven, not assumed: the old build's fingerprint is computed again from its inputs, as its scans
in ``.state`` name them, and this build's other parts; only an exact match grows.

The decisions are then taken again over all documents, with the same rules, so the result is the
build of all the shards at once; ``doc_tokens.py`` says which documents' tokens the old bins hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from dataprep.dedup.boilerplate import find_boilerplate
from dataprep.io.storage import Store
from dataprep.io.workdir import fingerprint
from dataprep.pipeline.doc_tokens import Previous
from dataprep.pipeline.scan_shards import Scanned, scan_dirs
from dataprep.version import __version__

# The options that change decisions, as BuildOptions.as_dict() names them, and their command-line flags.
OPTION_FLAGS = {
    "min_score": "--min-score / --no-score-filter", "min_language_score": "--min-language-score",
    "min_tokens": "--min-tokens", "val_fraction": "--val-fraction", "strip_boilerplate": "--strip-boilerplate",
    "boilerplate_min_docs": "--boilerplate-min-docs", "text_column": "--text-column", "encoding": "the encoding",
    "lsh.num_perm": "--num-perm", "lsh.threshold": "--threshold", "lsh.ngram": "--ngram",
}


def plan_of(identities: list[tuple], n_train: int, val_bin: tuple | None, options: dict, target: dict | None) -> dict:
    """What a build is: its inputs' identities (resolved paths and content), its options, and its
    ``--tokens`` target. Paths as typed do not count, so the same command run from another
    directory (or through a symlink) is the same build."""
    options = {**options, "val_from": None, "val_bin": None}  # their files count through their identities
    plan = {"version": __version__, "inputs": [list(i) for i in identities[:n_train]],
            "val": [list(i) for i in identities[n_train:]], "val_bin": list(val_bin) if val_bin else None,
            "options": options}
    if target is not None:
        plan["target"] = target
    return plan


def old_inputs(state: Store, n: int) -> list[list] | None:
    """The identities of the first ``n`` train inputs, as their kept scans name them; None when one is missing."""
    out = []
    for d in scan_dirs(n, 0):
        try:
            out.append(state.read_json(f"{d}/source.json")["identity"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return out


def growth_problem(meta: dict, state: Store, plan: dict) -> str | None:
    """Why the finished build ``meta`` describes cannot become ``plan`` by growing (or cutting), or None.

    ``plan["inputs"]`` may hold only the first of this build's inputs (``build --tokens`` checks the
    ones it will take first).
    """
    old = old_inputs(state, len(meta.get("sources") or []))
    if old is None:
        return "it keeps no scans to grow from: made by an earlier dataprep, or its .state was removed"
    new = plan["inputs"]
    for i, (a, b) in enumerate(zip(old, new)):
        if a != b:
            return (f"its input {i + 1} is {a[0]} ({a[2][:12]}...), not {b[0]} ({b[2][:12]}...); "
                    "a build grows by inputs added after the old ones")
    old_options = meta.get("options") or {}
    same = {**plan, "inputs": old, "options": {**plan["options"], "formats": old_options.get("formats")}}
    same.pop("target", None)
    if meta.get("target"):
        same["target"] = {k: meta["target"].get(k) for k in ("tokens", "epochs")}
    if fingerprint(same) == meta.get("fingerprint"):
        return None
    return _difference(meta, plan)


def _difference(meta: dict, plan: dict) -> str:
    """Name what makes the two builds differ beyond their inputs."""
    old, new = _flat(meta.get("options") or {}), _flat(plan["options"])
    for key, flag in OPTION_FLAGS.items():
        if old.get(key) != new.get(key):
            return f"{flag} is {_shown(new.get(key))} here, {_shown(old.get(key))} there"
    if meta.get("dataprep_version") != plan["version"]:
        return f"it was made by dataprep {meta.get('dataprep_version')}, this is {plan['version']}"
    if [s.get("sha256") for s in meta.get("val_sources") or []] != [v[2] for v in plan["val"]]:
        return "its --val-from files differ"
    return "its --val-bin differs"


def _flat(options: dict) -> dict:
    out = {k: v for k, v in options.items() if k != "lsh"}
    out.update({f"lsh.{k}": v for k, v in (options.get("lsh") or {}).items()})
    return out


def _shown(value) -> str:
    return "none" if value is None else str(value).lower() if isinstance(value, bool) else f"{value}"


@dataclass
class OldBuild:
    """The finished build being replaced: its manifest, and which lines it stripped (old numbering)."""

    out: Store
    dtype: np.dtype
    dirs: list[str]  # its scan directories, train inputs then --val-from files
    starts: dict[str, int]  # first old manifest row of each scan directory
    split: np.ndarray  # int8 per old manifest row: 0 dropped, 1 train, 2 val
    offset: np.ndarray
    written: np.ndarray
    stripped: tuple[np.ndarray, np.ndarray]  # (old document, line hash) of every line it stripped

    def for_corpus(self, c: Scanned) -> Previous:
        """The old build seen from the documents of ``c``: which old manifest row each one is."""
        index = np.full(len(c.tokens), -1, dtype=np.int64)
        for i, d in enumerate(c.scan_dirs):
            if d in self.starts:
                mine = c.shard == i
                index[mine] = self.starts[d] + c.row[mine]
        new_of_old = np.full(len(self.split), -1, dtype=np.int64)
        new_of_old[index[index >= 0]] = np.flatnonzero(index >= 0)
        docs = new_of_old[self.stripped[0]]
        return Previous(out=self.out, dtype=self.dtype, index=index, split=self.split, offset=self.offset,
                        written=self.written, stripped=(docs[docs >= 0], self.stripped[1][docs >= 0]))


def load_old_build(out: Store, state: Store, meta: dict) -> OldBuild:
    """The finished build in ``out`` (``meta``: its meta.json), with its scans in ``state``."""
    n_train, n_val = len(meta["sources"]), len(meta["val_sources"])
    dirs = scan_dirs(n_train, n_val)
    rows = [s["rows"] for s in meta["sources"] + meta["val_sources"]]
    starts = dict(zip(dirs, np.concatenate([[0], np.cumsum(rows)]).tolist()))
    with out.open("manifest.parquet") as f:
        t = pq.read_table(f, columns=["split", "offset", "tokens"])
    names = np.array(t["split"].to_pylist(), dtype=object)
    split = np.where(names == "train", 1, np.where(names == "val", 2, 0)).astype(np.int8)
    stripped = (np.zeros(0, np.int64), np.zeros(0, np.uint64))
    if meta["options"].get("strip_boilerplate"):
        # Its boilerplate lines, found again as it found them: lines held by enough of its kept documents.
        lines = [state.load_array(f"{d}/lines.npz") for d in dirs]
        line_hash = np.concatenate([z["hash"] for z in lines])
        line_doc = np.concatenate([z["doc"] + starts[d] for d, z in zip(dirs, lines)])
        kept = split > 0
        boiler = find_boilerplate(line_hash, line_doc, kept, meta["options"]["boilerplate_min_docs"])
        take = np.isin(line_hash, boiler.hashes) & kept[line_doc]
        stripped = (line_doc[take], line_hash[take])
    return OldBuild(out=out, dtype=np.dtype(meta["dtype"]).newbyteorder("<"), dirs=dirs, starts=starts, split=split,
                    offset=t["offset"].to_numpy(), written=t["tokens"].to_numpy(), stripped=stripped)
