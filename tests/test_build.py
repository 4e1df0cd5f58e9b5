"""build on generated shards: exact counts, bin layout, determinism, resume, validation split."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import defaultdict

import numpy as np
import pyarrow.parquet as pq
import pytest

from dataprep.io.binfile import LLMC_MAGIC, with_eot
from dataprep.pipeline.build import BuildOptions, build
from dataprep.errors import DataprepError
from dataprep.text.normalize import normalize_text
from dataprep.synth import SynthConfig, generate
from dataprep.text.tokenizer import encode_batch, get_encoding
from dataprep.io.storage import Store
from dataprep.pipeline.outdir import OutputDir

from reference import jaccard, shingle_set

def read_manifest(path) -> dict[str, np.ndarray]:
    """Columns of manifest.parquet as numpy arrays (strings and nulls as object arrays)."""
    t = pq.read_table(path)
    return {name: np.array(t[name].to_pylist(), dtype=object) if t[name].type != "int64" and name != "kept"
            else t[name].to_numpy() for name in t.column_names}


OUTPUTS = ("train.bin", "val.bin", "meta.json", "manifest.parquet", "val_bands.npy", "report.md")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("shards")
    cfg = SynthConfig(docs=300, shards=4, seed=21, exact_rate=0.06, near_rate=0.06, near_edit_rates=(0.005, 0.01))
    truth = generate(d / "in", cfg)
    texts = [t for f in truth.files for t in pq.read_table(f)["text"].to_pylist()]
    return d / "in", truth, texts


@pytest.fixture(scope="module")
def built(shards, tmp_path_factory):
    src, truth, texts = shards
    out = tmp_path_factory.mktemp("out") / "b"
    meta = build([str(src)], out, BuildOptions(min_score=None, val_fraction=0.05), workers=1, progress=False)
    return out, meta, read_manifest(out / "manifest.parquet")


def _expected_bin(texts, manifest, split):
    enc = get_encoding()
    rows = np.flatnonzero(manifest["split"] == split)
    ids = [enc.encode_ordinary(texts[i]) + [50256] for i in rows]
    return np.array([t for doc in ids for t in doc], dtype=np.uint16), rows


def test_bins_hold_kept_documents_in_order_with_eot_after_each(shards, built):
    _, _, texts = shards
    out, meta, manifest = built
    for split in ("train", "val"):
        expected, rows = _expected_bin(texts, manifest, split)
        got = np.memmap(out / f"{split}.bin", dtype=np.uint16, mode="r")
        assert np.array_equal(got, expected)
        assert meta[f"{split}_tokens"] == len(got) and meta[f"{split}_docs"] == len(rows)
        starts = np.concatenate([[0], np.cumsum(manifest["tokens"][rows])[:-1]])
        assert manifest["offset"][rows].tolist() == starts.tolist()
    assert meta["dtype"] == "uint16" and meta["eot"] == 50256


def test_manifest_has_one_row_per_input_document(shards, built):
    _, truth, texts = shards
    out, meta, manifest = built
    assert len(manifest["row"]) == len(texts) == meta["waterfall"][0]["docs"]
    for col in ("source", "row", "id", "kept", "reason", "cluster", "representative", "split", "tokens", "offset"):
        assert col in manifest
    kept = manifest["kept"].astype(bool)
    assert (kept == (manifest["reason"] == None)).all()  # noqa: E711
    assert (kept == (manifest["split"] != None)).all()  # noqa: E711
    assert sorted(set(manifest["source"])) == truth.files
    assert manifest["row"].tolist() == list(range(300)) * 4
    assert (manifest["offset"][~kept] == -1).all()
    rep = manifest["representative"][kept]
    assert (rep == np.flatnonzero(kept)).all()


def test_exact_and_near_copies_removed_across_shards(shards, built):
    _, truth, texts = shards
    out, meta, manifest = built
    planted = [i for i, k in enumerate(truth.kind) if k == "exact"]
    cross = [i for i in planted if truth.source[i] // 300 != i // 300]
    assert cross, "the generator must plant copies across shards"
    assert np.flatnonzero(manifest["reason"] == "exact-dup").tolist() == planted
    cluster = manifest["cluster"]
    assert (cluster[planted] == cluster[[truth.source[i] for i in planted]]).all()
    near = [i for i, k in enumerate(truth.kind) if k == "near"]
    joined = sum(cluster[i] == cluster[truth.source[i]] for i in near)
    assert joined / len(near) >= 0.95
    # Every cluster is one family: an original and its copies, never unrelated documents.
    family = [i if k == "original" else s for i, (k, s) in enumerate(zip(truth.kind, truth.source))]
    members = defaultdict(set)
    for i, c in enumerate(cluster):
        members[c].add(family[i])
    assert all(len(f) == 1 for f in members.values())
    kept_clusters = cluster[manifest["kept"].astype(bool)]
    assert len(set(kept_clusters)) == len(kept_clusters)  # one survivor per cluster


def test_val_has_no_near_duplicate_in_train(shards, built):
    _, _, texts = shards
    out, meta, manifest = built
    val = np.flatnonzero(manifest["split"] == "val").tolist()
    train = np.flatnonzero(manifest["split"] == "train").tolist()
    assert len(val) >= 5
    sets = {i: shingle_set(texts[i], 5) for i in val + train}
    worst = max(jaccard(sets[v], sets[t]) for v in val for t in train)
    assert worst < 0.5
    assert set(manifest["cluster"][val]).isdisjoint(manifest["cluster"][train])


def test_same_bytes_whatever_the_workers(shards, built, tmp_path):
    src, _, _ = shards
    out, _, _ = built
    build([str(src)], tmp_path / "w2", BuildOptions(min_score=None, val_fraction=0.05), workers=2, progress=False)
    for name in OUTPUTS:
        assert (tmp_path / "w2" / name).read_bytes() == (out / name).read_bytes(), name


def test_score_filter_and_nanogpt_get_batch(shards, tmp_path):
    src, truth, texts = shards
    meta = build([str(src)], tmp_path / "s", BuildOptions(min_score=3), workers=1, progress=False)
    manifest = read_manifest(tmp_path / "s" / "manifest.parquet")
    ints = np.concatenate([pq.read_table(f)["int_score"].to_numpy() for f in truth.files])
    assert (manifest["reason"] == "score").sum() == (ints < 3).sum()
    assert (ints[manifest["kept"].astype(bool)] >= 3).all()
    # nanoGPT's get_batch: a fresh memmap and random windows each call.
    data = np.memmap(tmp_path / "s" / "train.bin", dtype=np.uint16, mode="r")
    ix = np.random.default_rng(0).integers(0, len(data) - 65, 8)
    x = np.stack([data[i : i + 64].astype(np.int64) for i in ix])
    y = np.stack([data[i + 1 : i + 65].astype(np.int64) for i in ix])
    assert x.shape == (8, 64) and (x[:, 1:] == y[:, :-1]).all() and x.max() <= 50256
    assert meta["train_tokens"] == len(data)


def test_llmc_shards(shards, tmp_path):
    src, _, texts = shards
    out = tmp_path / "l"
    build([str(src)], out, BuildOptions(min_score=None, formats=("nanogpt", "llmc")), workers=1, progress=False)
    manifest = read_manifest(out / "manifest.parquet")
    enc = get_encoding()
    for name, split in (("dataprep_val_000000.bin", "val"), ("dataprep_train_000001.bin", "train")):
        raw = (out / name).read_bytes()
        header = np.frombuffer(raw[:1024], dtype="<i4")
        tokens = np.frombuffer(raw[1024:], dtype="<u2")
        assert header[0] == LLMC_MAGIC and header[1] == 1 and header[2] == len(tokens)
        assert len(raw) == 1024 + 2 * len(tokens)
        docs = np.flatnonzero(manifest["split"] == split)
        expected = [t for i in docs for t in [50256] + enc.encode_ordinary(texts[i])]
        assert tokens.tolist() == expected


def test_rerun_is_a_no_op_and_a_different_build_is_refused(shards, built, tmp_path):
    src, _, _ = shards
    out, meta, _ = built
    before = {n: (out / n).read_bytes() for n in OUTPUTS}
    assert build([str(src)], out, BuildOptions(min_score=None, val_fraction=0.05), workers=1, progress=False) == meta
    assert {n: (out / n).read_bytes() for n in OUTPUTS} == before
    with pytest.raises(DataprepError, match="different build"):
        build([str(src)], out, BuildOptions(min_score=3), workers=1, progress=False)
    other = tmp_path / "notempty"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(DataprepError, match="not empty"):
        build([str(src)], other, BuildOptions(), workers=1, progress=False)


def test_second_build_into_a_locked_directory_refuses(shards, tmp_path):
    src, _, _ = shards
    with OutputDir(Store(tmp_path / "locked"), ()):
        with pytest.raises(DataprepError, match="another dataprep build is running"):
            build([str(src)], tmp_path / "locked", BuildOptions(), workers=1, progress=False)


def test_killed_build_resumes_to_the_same_bytes(shards, built, tmp_path):
    src, _, _ = shards
    out, _, _ = built
    target = tmp_path / "k"
    cmd = [sys.executable, "-m", "dataprep_cli.main", "build", "--input", str(src), "--out", str(target),
           "--no-score-filter", "--val-fraction", "0.05", "--workers", "1", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not (target / ".state" / "scan" / "00001" / "source.json").exists() and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (target / "meta.json").exists()
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    for name in OUTPUTS:
        assert (target / name).read_bytes() == (out / name).read_bytes(), name
    assert not (target / ".work").exists()


def test_val_from_and_val_bin_reuse(shards, tmp_path):
    src, truth, texts = shards
    files = truth.files
    first = tmp_path / "one"
    build(files[:1], first, BuildOptions(min_score=None, val_from=[files[3]]), workers=1, progress=False)
    m1 = read_manifest(first / "manifest.parquet")
    val_rows = np.flatnonzero(m1["split"] == "val")
    assert set(m1["source"][val_rows]) == {files[3]}
    assert set(m1["split"][m1["source"] == files[0]]) <= {"train", None}

    # A second, larger build scored on the very same val tokens; train drops what val holds.
    second = tmp_path / "many"
    meta = build(files[:3] + [files[3]], second, BuildOptions(min_score=None, val_bin=str(first / "val.bin")),
                 workers=1, progress=False)
    assert (second / "val.bin").read_bytes() == (first / "val.bin").read_bytes()
    m2 = read_manifest(second / "manifest.parquet")
    assert set(m2["split"]) <= {"train", None}
    overlap = np.flatnonzero(m2["reason"] == "val-overlap")
    assert len(overlap) >= len(val_rows) * 0.9  # the val documents themselves are among the inputs
    val_texts = {normalize_text(texts[900 + r]) for r in m1["row"][val_rows]}
    train_texts = {normalize_text(texts[i]) for i in np.flatnonzero(m2["split"] == "train")}
    assert not val_texts & train_texts
    assert meta["val_reused"]["decontaminated"] and meta["val_docs"] == len(val_rows)


def test_strip_boilerplate_removes_planted_lines(shards, tmp_path):
    src, truth, texts = shards
    meta = build([str(src)], tmp_path / "bp", BuildOptions(min_score=None, strip_boilerplate=True), workers=1,
                 progress=False)
    enc = get_encoding()
    train = enc.decode(np.fromfile(tmp_path / "bp" / "train.bin", dtype=np.uint16).tolist())
    for line in truth.boilerplate:
        assert line not in train
    assert meta["boilerplate"]["lines"] >= len(truth.boilerplate)
    stripped = next(r for r in meta["waterfall"] if r["stage"] == "boilerplate stripped")
    assert stripped["tokens"] > 0
    assert meta["train_tokens"] + meta["val_tokens"] == sum(
        r["tokens"] for r in meta["waterfall"] if r["stage"] == "input"
    ) - sum(r["tokens"] for r in meta["waterfall"] if r["stage"] not in ("input", "train", "val"))


def test_token_that_does_not_fit_the_dtype_is_refused():
    with pytest.raises(DataprepError, match="does not fit"):
        with_eot(np.array([70000], dtype=np.uint32), np.array([1]), 50256, np.uint16)


def test_more_shards_than_files_is_refused(shards, tmp_path):
    src, _, _ = shards
    with pytest.raises(DataprepError, match="only 4"):
        build([str(src)], tmp_path / "x", BuildOptions(), shards=9, workers=1, progress=False)


def test_riptoken_backend_builds_the_same_bytes(shards, built, tmp_path):
    pytest.importorskip("riptoken")
    src, _, _ = shards
    out, _, _ = built
    opts = BuildOptions(min_score=None, val_fraction=0.05, tokenizer_backend="riptoken")
    build([str(src)], tmp_path / "rip", opts, workers=2, progress=False)
    for name in OUTPUTS:
        assert (tmp_path / "rip" / name).read_bytes() == (out / name).read_bytes(), name


def test_strip_boilerplate_writes_exactly_the_stripped_text_tokenizing_only_what_changes(shards, tmp_path, monkeypatch):
    import dataprep.pipeline.scan

    src, truth, texts = shards
    tokenized = []

    def counting(enc, batch, threads=2):
        tokenized.extend(batch)
        return encode_batch(enc, batch, threads)

    monkeypatch.setattr(dataprep.pipeline.scan, "encode_batch", counting)  # the scan, and stripped documents
    out = tmp_path / "bp"
    meta = build([str(src)], out, BuildOptions(min_score=None, strip_boilerplate=True, val_fraction=0.05), workers=1,
                 progress=False)
    manifest = read_manifest(out / "manifest.parquet")
    kept = np.flatnonzero(manifest["kept"].astype(bool))
    # The boilerplate lines, found independently: normalised lines held by >= 3 kept documents.
    norm = {i: [normalize_text(line) for line in texts[i].split("\n")] for i in kept}
    holders = defaultdict(set)
    for i, lines in norm.items():
        for line in lines:
            if line:
                holders[line].add(i)
    boiler = {line for line, docs in holders.items() if len(docs) >= 3}
    stripped = {}
    for i, lines in norm.items():
        raw = texts[i].split("\n")
        if any(n in boiler for n in lines):
            stripped[i] = "\n".join(r for r, n in zip(raw, lines) if n not in boiler)
    assert meta["boilerplate"] == {"lines": len(boiler), "docs": len(stripped)}
    # Every document once (the scan), then only the documents that lose a line, once more.
    assert len(tokenized) == len(texts) + len(stripped)
    assert sorted(tokenized[len(texts):]) == sorted(stripped.values())
    enc = get_encoding()
    for split in ("train", "val"):
        rows = np.flatnonzero(manifest["split"] == split)
        want = [t for i in rows for t in enc.encode_ordinary(stripped.get(i, texts[i])) + [50256]]
        assert np.fromfile(out / f"{split}.bin", dtype=np.uint16).tolist() == want
