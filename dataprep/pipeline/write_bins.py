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
from dataprep.dedup.minhash import LSHParams
from dataprep.errors import DataprepError
from dataprep.io.binfile import BinWriter, LlmcWriter, with_eot
from dataprep.io.reader import Source
from dataprep.io.storage import Store, is_url
from dataprep.io.tokens import check_raw_size
from dataprep.pipeline.doc_tokens import DocTokens
from dataprep.pipeline.progress import Progress
from dataprep.pipeline.scan_shards import Scanned
from dataprep.text.tokenizer import bin_dtype


@dataclass
class Written:
    tokens: np.ndarray  # int64 tokens each kept document occupies in its bin (EOT included), else 0
    offset: np.ndarray  # int64 position of each kept document in its bin, else -1
    files: dict


def write_bins(out: Store, c: Scanned, d: Decisions, tokens: DocTokens, opts, enc, progress) -> Written:
    dtype = bin_dtype(enc.n_vocab)
    eot = enc.eot_token
    n = len(c.tokens)
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
    return Written(tokens=written, offset=offset, files=files)


def reuse_val(val_bin: str, out: Store, enc, lsh: LSHParams) -> tuple[np.ndarray | None, dict]:
    """Copy an earlier build's val.bin (and its val_bands.npy when the LSH settings match)."""
    src = Store(val_bin.rsplit("/", 1)[0] if is_url(val_bin) else os.path.dirname(os.path.abspath(val_bin)))
    name = val_bin.rsplit("/", 1)[-1]
    if not src.exists(name):
        raise DataprepError(f"--val-bin {val_bin}: no such file")
    dtype = bin_dtype(enc.n_vocab)
    check_raw_size(src.fs.size(src.path(name)), dtype, f"--val-bin {val_bin}")
    out.copy_in(val_bin, "val.bin")
    tokens = out.load_raw("val.bin", dtype)
    info = {"val_bin": val_bin, "val_tokens": int(len(tokens)), "val_docs": int(np.count_nonzero(tokens == enc.eot_token))}
    val_bands = None
    if src.exists("val_bands.npy") and src.exists("meta.json"):
        if src.read_json("meta.json").get("options", {}).get("lsh") == asdict(lsh):
            val_bands = src.load_array("val_bands.npy")
            out.save_array("val_bands.npy", val_bands)
    info["decontaminated"] = val_bands is not None
    return val_bands, info


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
            "tokens": np.where(w.tokens > 0, w.tokens, c.tokens + 1),
            "offset": w.offset,
        }
    )
    with out.writer("manifest.parquet") as f:
        pq.write_table(table, f)
