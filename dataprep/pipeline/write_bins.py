"""Build, stage 3: the kept documents' tokens into the bins, and the manifest of every decision.

Tokens come from the scan (``tokens.bin`` per shard), never tokenized twice; only documents whose
boilerplate lines are stripped are tokenized again, so the bins hold exactly the stripped text.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataprep.dedup.boilerplate import find_boilerplate, strip_lines
from dataprep.dedup.decide import Decisions
from dataprep.dedup.minhash import LSHParams
from dataprep.errors import DataprepError
from dataprep.io.binfile import BinWriter, LlmcWriter, with_eot
from dataprep.io.reader import Source, iter_batches
from dataprep.io.storage import Store, is_url
from dataprep.io.tokens import check_raw_size
from dataprep.pipeline.progress import Progress
from dataprep.pipeline.scan_shards import Scanned
from dataprep.text.tokenizer import bin_dtype, encode_batch


def stripped_tokens(c: Scanned, d: Decisions, sources: list[Source], opts, enc) -> tuple[dict, dict]:
    """Tokens of kept documents once boilerplate lines are removed (only documents that change)."""
    kept = d.split != None  # noqa: E711
    offsets = np.concatenate([[0], np.cumsum(np.bincount(c.shard, minlength=len(c.scan_dirs)))])
    lines = [c.work.load_array(f"{s}/lines.npz") for s in c.scan_dirs]
    line_hash = np.concatenate([z["hash"] for z in lines])
    line_doc = np.concatenate([z["doc"] + offsets[i] for i, z in enumerate(lines)])
    boiler = find_boilerplate(line_hash, line_doc, kept, opts.boilerplate_min_docs)
    docs = np.unique(line_doc[np.isin(line_hash, boiler.hashes)])
    docs = docs[kept[docs]]
    out: dict[int, np.ndarray] = {}
    for i, src in enumerate(sources):
        mine = docs[c.shard[docs] == i]
        if not len(mine):
            continue
        rows = c.row[mine]
        for batch in iter_batches([src], (), opts.batch_rows):
            sel = (rows >= batch.first_row) & (rows < batch.first_row + len(batch))
            if not sel.any():
                continue
            stripped, _ = strip_lines(batch.text.take(rows[sel] - batch.first_row).to_pylist(), boiler.hashes)
            flat, lengths = encode_batch(enc, stripped)
            starts = np.concatenate([[0], np.cumsum(lengths)])
            for k, doc in enumerate(mine[sel]):
                out[int(doc)] = flat[starts[k] : starts[k + 1]]
    return out, {"lines": int(len(boiler)), "docs": int(len(docs))}


@dataclass
class Written:
    tokens: np.ndarray  # int64 tokens each kept document occupies in its bin (EOT included), else 0
    offset: np.ndarray  # int64 position of each kept document in its bin, else -1
    files: dict


def write_bins(out: Store, c: Scanned, d: Decisions, stripped: dict, opts, enc, progress) -> Written:
    dtype = bin_dtype(enc.n_vocab)
    eot = enc.eot_token
    n = len(c.tokens)
    lengths = c.tokens.copy()
    for doc, toks in stripped.items():
        lengths[doc] = len(toks)
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
        for i, scan_dir in enumerate(c.scan_dirs):
            shard_docs = np.flatnonzero(c.shard == i)
            tokens = c.work.load_raw(f"{scan_dir}/tokens.bin", dtype)
            local_start = np.concatenate([[0], np.cumsum(c.tokens[shard_docs])[:-1]])
            for split in splits:
                pick = d.split[shard_docs] == split
                docs = shard_docs[pick]
                starts = local_start[pick]
                for lo in range(0, len(docs), 8192):
                    chunk = docs[lo : lo + 8192]
                    parts = [
                        stripped[k] if k in stripped else tokens[s : s + c.tokens[k]]
                        for k, s in zip(chunk.tolist(), starts[lo : lo + 8192].tolist())
                    ]
                    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
                    start = bins[split].write(with_eot(flat, lengths[chunk], eot, dtype))
                    offset[chunk] = start + np.concatenate([[0], np.cumsum(lengths[chunk] + 1)[:-1]])
                    if llmc:
                        llmc[split].write(with_eot(flat, lengths[chunk], eot, dtype, eot_first=True))
                    bar.update(len(chunk))
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
