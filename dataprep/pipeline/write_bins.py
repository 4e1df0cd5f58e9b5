"""Build, stage 3: the kept documents' tokens into the bins, and the manifest of every decision.

Where each document's tokens are read from (its scan, the bins of the build this one replaces, or
its text tokenized again) is ``doc_tokens.py``'s to say.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataprep.dedup.decide import Decisions
from dataprep.errors import DataprepError
from dataprep.io.binfile import BinWriter, LlmcWriter, with_eot
from dataprep.io.reader import Source
from dataprep.io.storage import Store, is_url
from dataprep.io.tokens import check_raw_size
from dataprep.pipeline.doc_tokens import DocTokens
from dataprep.pipeline.progress import Progress
from dataprep.pipeline.scan_shards import Scanned
from dataprep.text.tokenizer import bin_dtype, get_encoding


@dataclass
class Written:
    token_counts: np.ndarray  # int64 tokens each kept document occupies in its bin (EOT included), else 0
    offset: np.ndarray  # int64 position of each kept document in its bin, else -1
    files: dict


def write_bins(out: Store, c: Scanned, d: Decisions, tokens: DocTokens, opts, enc, progress) -> Written:
    dtype = bin_dtype(enc.n_vocab)
    eot = enc.eot_token
    n = len(c.docs)
    lengths = tokens.lengths
    offset = np.full(n, -1, dtype=np.int64)
    splits = ("train",) if opts.val_bin else ("train", "val")
    bins = {s: BinWriter(out, f"{s}.bin", dtype) for s in splits}
    llmc = {}
    if "llmc" in opts.formats:
        if dtype != np.uint16:
            raise DataprepError("--format llmc needs a vocabulary that fits uint16")
        llmc = {"val": LlmcWriter(out, "dataprep", "val", 0), "train": LlmcWriter(out, "dataprep", "train", 1)}
    bar = Progress("build: write", int((d.split != None).sum()), progress)  # noqa: E711
    try:
        for i in range(len(c.scan_dirs)):
            shard_docs = np.flatnonzero(c.shard == i)
            for split in splits:
                docs = shard_docs[d.split[shard_docs] == split]
                for lo in range(0, len(docs), 8192):
                    chunk = docs[lo : lo + 8192]
                    parts = tokens.take(i, chunk)
                    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
                    data = with_eot(flat, lengths[chunk], eot, dtype)
                    start = bins[split].write(data)
                    offset[chunk] = start + np.concatenate([[0], np.cumsum(lengths[chunk] + 1)[:-1]])
                    if llmc:
                        llmc[split].write(with_eot(flat, lengths[chunk], eot, dtype, eot_first=True))
                    bar.update(len(chunk), data.nbytes)  # MB/s: of the bins written
        for w in bins.values():
            w.close()
    except BaseException:
        for w in bins.values():
            w.abandon()
        raise
    bar.done()
    files = {s: f"{s}.bin" for s in splits}
    if llmc:
        files["llmc"] = llmc["val"].close() + llmc["train"].close()
    written = np.where(d.split != None, lengths + 1, 0)  # noqa: E711
    return Written(token_counts=written, offset=offset, files=files)


def reuse_val(val_bin: str, out: Store, opts) -> tuple[np.ndarray | None, dict]:
    """Copy an earlier build's val.bin (and its val_bands.npy when the LSH settings of ``opts``, a
    BuildOptions, are its own)."""
    enc, lsh = get_encoding(opts.encoding, opts.tokenizer_backend), opts.lsh
    src = Store(val_bin.rsplit("/", 1)[0] if is_url(val_bin) else os.path.dirname(os.path.abspath(val_bin)))
    name = val_bin.rsplit("/", 1)[-1]
    if not src.exists(name):
        raise DataprepError(f"--val-bin {val_bin}: no such file")
    dtype = bin_dtype(enc.n_vocab)
    check_raw_size(src.size(name), dtype, f"--val-bin {val_bin}")
    meta = _meta_beside(src, val_bin)
    _check_described(src, name, meta, val_bin)
    out.copy_in(val_bin, "val.bin")
    tokens = out.load_raw("val.bin", dtype)
    info = {"val_bin": val_bin, "val_tokens": int(len(tokens)), "val_docs": int(np.count_nonzero(tokens == enc.eot_token))}
    val_bands = None
    if src.exists("val_bands.npy") and meta.get("options", {}).get("lsh") == asdict(lsh):
        _check_described(src, "val_bands.npy", meta, val_bin)
        val_bands = src.load_array("val_bands.npy")
        out.save_array("val_bands.npy", val_bands)
    info["decontaminated"] = val_bands is not None
    return val_bands, info


def _meta_beside(src: Store, val_bin: str) -> dict:
    """The meta.json of the build a --val-bin comes from ({} when there is none)."""
    if not src.exists("meta.json"):
        return {}
    try:
        meta = src.read_json("meta.json")
    except (OSError, ValueError):
        raise DataprepError(f"--val-bin {val_bin}: the meta.json beside it is not readable JSON") from None
    return meta if isinstance(meta, dict) else {}


def _check_described(src: Store, name: str, meta: dict, val_bin: str) -> None:
    """A file beside a meta.json that records it must be what it recorded (a build half-replaced otherwise)."""
    want = (meta.get("checks") or {}).get(name)
    if want is not None and src.sampled_description(name) != want:
        raise DataprepError(f"--val-bin {val_bin}: {name} is not the file the meta.json beside it describes (a build "
                            "there is unfinished or was changed); rerun that build, or copy a complete one")


def write_manifest(out: Store, c: Scanned, d: Decisions, w: Written, sources: list[Source]) -> None:
    ids = c.ids
    rep = d.representative
    table = pa.table(
        {
            "source": pa.array([sources[i].path for i in c.shard]).dictionary_encode(),
            "row": c.row,
            "id": pa.array(ids, type=pa.string()),
            "kept": d.split != None,  # noqa: E711
            "reason": pa.array(d.reason.tolist(), type=pa.string()),
            "cluster": d.cluster,
            "representative": rep,
            "representative_id": pa.array([ids[r] if r >= 0 else None for r in rep.tolist()], type=pa.string()),
            "split": pa.array(d.split.tolist(), type=pa.string()),
            "tokens": np.where(w.token_counts > 0, w.token_counts, c.docs.token_counts + 1),
            "offset": w.offset,
        }
    )
    with out.writer("manifest.parquet") as f:
        pq.write_table(table, f)
