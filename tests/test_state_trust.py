"""Build state is keyed by everything that shaped it and checked before it is trusted.

Each test pins a case of the third hostile probe (docs/reliability.md, "Round 3"): scans reused
under other scan options, damaged scans used as they were, a ledger that names files dataprep did
not write, a --val-bin reached through an alias of --out, a directory that cannot be written, a
lock that could be deleted. The outcome is always one of two: the one-shot bytes with exit 0, or
one line with exit 2 and nothing touched that dataprep did not write.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dataprep.io.storage
from dataprep.dedup.minhash import LSHParams
from dataprep.errors import DataprepError
from dataprep.io.storage import Store
from dataprep.pipeline.outdir import LEDGER, OutputDir
from dataprep.pipeline.build import PRODUCED, BuildOptions, build
from dataprep.pipeline.scan_shards import ScanJob, ScanOptions, scan_key
from dataprep.synth import SynthConfig, generate
from dataprep_cli.main import main
from expect import one_line

OUTPUTS = ("train.bin", "val.bin", "meta.json", "manifest.parquet", "val_bands.npy", "report.md")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("trust")
    truth = generate(d / "in", SynthConfig(docs=150, shards=3, seed=71, pool=400, boilerplate_docs=(2, 10)))
    pq.write_table(pa.table({"text": ["tiny doc"]}), d / "val1.parquet")
    return d, truth.files


def run(capsys, *argv) -> tuple[int, str]:
    code = main(["build", *[str(a) for a in argv], "--workers", "1", "--no-score-filter", "--val-fraction", "0.1"])
    _, err = capsys.readouterr()
    return code, err


_one_shot: dict = {}


def one_shot(capsys, corpus, files, *extra) -> "os.PathLike":
    key = (tuple(files), extra)
    if key not in _one_shot:
        out = corpus[0] / f"one-{len(_one_shot)}"
        code, err = run(capsys, "--input", *files, "--out", out, *extra)
        assert code == 0, err
        _one_shot[key] = out
    return _one_shot[key]


def same_bytes(a, b) -> None:
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


# ---------------------------------------------------------------- 1: scans keyed by their options


@pytest.mark.parametrize("flag", [("--ngram", "3"), ("--num-perm", "64"), ("--threshold", "0.5")])
def test_scans_left_by_a_refused_build_are_not_reused_under_other_scan_options(capsys, corpus, tmp_path, flag):
    d, files = corpus
    out = tmp_path / "X"
    one_line(*run(capsys, "--input", *files, "--val-from", d / "val1.parquet", "--out", out), "validation split")
    code, err = run(capsys, "--input", *files, "--out", out, *flag)
    assert code == 0, err
    same_bytes(out, one_shot(capsys, corpus, files, *flag))
    assert (out / "train.bin").read_bytes() != (one_shot(capsys, corpus, files) / "train.bin").read_bytes()


def test_every_scan_option_is_part_of_the_scan_key():
    base = ScanOptions(lsh=LSHParams(), text_column="text", encoding="gpt2", dtype="uint16")
    other = {"lsh": LSHParams(ngram=3), "text_column": "body", "encoding": "cl100k_base", "dtype": "uint32",
             "line_tokens": True, "diversity_ngram": 13, "token_count": True}
    assert set(other) == {f.name for f in dataclasses.fields(ScanOptions)}, "a new scan option needs a case here"
    identity = ("/data/a.parquet", 10, "ab" * 32)
    for name, value in other.items():
        assert scan_key(identity, dataclasses.replace(base, **{name: value})) != scan_key(identity, base), name
    for lsh in (LSHParams(num_perm=64), LSHParams(threshold=0.5), LSHParams(seed=2)):
        assert scan_key(identity, dataclasses.replace(base, lsh=lsh)) != scan_key(identity, base)
    assert scan_key(("/data/b.parquet", 10, "ab" * 32), base) != scan_key(identity, base)


def test_a_scan_job_holds_nothing_that_shapes_its_bytes_outside_the_scan_options():
    # What a scan writes may depend on its input and its options only; the rest says how it runs.
    how_it_runs = {"source", "identity", "state", "out", "work", "tokens", "backend", "batch_rows", "threads",
                   "process_text"}
    assert {f.name for f in dataclasses.fields(ScanJob)} == how_it_runs | {"options"}


# ---------------------------------------------------------------- 2: kept state checked before use


def _swap(a, b) -> None:
    tmp = a.with_name(a.name + ".x")
    os.replace(a, tmp)
    os.replace(b, a)
    os.replace(tmp, b)


def _flip(path, count=200, seed=0) -> None:
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    for i in rng.choice(len(data), size=min(count, len(data)), replace=False):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE = {
    "swap docs.parquet": lambda s: _swap(s / "00000" / "docs.parquet", s / "00001" / "docs.parquet"),
    "swap bands.npy": lambda s: _swap(s / "00000" / "bands.npy", s / "00001" / "bands.npy"),
    "swap lines.npz": lambda s: _swap(s / "00000" / "lines.npz", s / "00001" / "lines.npz"),
    "flip bands.npy": lambda s: _flip(s / "00001" / "bands.npy"),
    "truncate docs.parquet": lambda s: os.truncate(s / "00000" / "docs.parquet", 100),
    "delete bands.npy": lambda s: (s / "00001" / "bands.npy").unlink(),
    "delete lines.npz": lambda s: (s / "00000" / "lines.npz").unlink(),
    "damage source.json": lambda s: (s / "00000" / "source.json").write_text("{"),
}


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("overwrite", [False, True])
def test_a_damaged_scan_is_made_again_with_a_note(capsys, corpus, tmp_path, damage, overwrite):
    _, files = corpus
    out = tmp_path / "out"
    assert run(capsys, "--input", *files[:2], "--out", out, "--strip-boilerplate")[0] == 0
    DAMAGE[damage](out / ".state" / "scan")
    code, err = run(capsys, "--input", *files, "--out", out, "--strip-boilerplate", *(["--overwrite"] * overwrite))
    assert code == 0, err
    assert "scanning" in err and "again" in err, err
    same_bytes(out, one_shot(capsys, corpus, files, "--strip-boilerplate"))


# ---------------------------------------------------------------- 3: the ledger vouches only for its own files


def _ledger(out) -> dict:
    return json.loads((out / LEDGER).read_text())


# A forged entry in each shape a ledger entry has had: being written, recorded, or either of two files.
SHAPES = {"null": lambda d: None, "dict": lambda d: d, "list": lambda d: [d]}


def _forge(out, name, description) -> None:
    ledger = _ledger(out)
    ledger["files"][name] = description
    (out / LEDGER).write_text(json.dumps(ledger))


def _sha(path) -> str:
    return dataprep.io.storage.file_sha256(path)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("files_asked", [3, 1], ids=["grow", "cut back"])
def test_a_ledger_entry_for_a_users_file_does_not_get_it_deleted(capsys, corpus, tmp_path, shape, files_asked):
    _, files = corpus
    out = tmp_path / "out"
    assert run(capsys, "--input", *files[:2], "--out", out)[0] == 0
    notes = out / "notes.txt"
    notes.write_text("my notes")
    _forge(out, "notes.txt", SHAPES[shape]({"bytes": 8, "sha256": _sha(notes)}))
    code, err = run(capsys, "--input", *files[:files_asked], "--out", out)
    assert notes.read_text() == "my notes"
    one_line(code, err, "notes.txt")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ["", ".", "../victim", ".state/scan"])
def test_a_ledger_entry_outside_the_build_outputs_is_ignored(capsys, corpus, tmp_path, name, shape):
    _, files = corpus
    out = tmp_path / "in" / "out"
    assert run(capsys, "--input", *files[:2], "--out", out)[0] == 0
    victim = tmp_path / "in" / "victim"
    victim.write_text("keep me")
    _forge(out, name, SHAPES[shape]({"bytes": 7, "sha256": _sha(victim)}))
    for asked in (files, files[:2]):  # grow, then cut back: each replaces the outputs
        code, err = run(capsys, "--input", *asked, "--out", out)
        assert code == 0, err
        same_bytes(out, one_shot(capsys, corpus, asked))
    assert victim.read_text() == "keep me"


@pytest.mark.parametrize("shape", SHAPES)
def test_a_swap_whose_ledger_names_a_path_outside_is_finished_by_the_next_run(capsys, corpus, tmp_path, shape):
    _, files = corpus
    out = tmp_path / "in" / "out"
    assert run(capsys, "--input", *files[:2], "--out", out)[0] == 0
    moved = []
    move = OutputDir._move_in

    def killed_midway(self, name, *args):
        if len(moved) == 2:
            raise KeyboardInterrupt
        moved.append(name)
        move(self, name, *args)

    OutputDir._move_in = killed_midway
    try:
        with pytest.raises(KeyboardInterrupt):
            build(files, out, BuildOptions(min_score=None, val_fraction=0.1), workers=1, progress=False)
    finally:
        OutputDir._move_in = move
    victim = tmp_path / "in" / "victim"
    victim.write_text("keep me")
    _forge(out, "../victim", SHAPES[shape]({"bytes": 7, "sha256": _sha(victim)}))
    code, err = run(capsys, "--input", *files[:2], "--out", out, "--overwrite")
    assert code == 0, err
    same_bytes(out, one_shot(capsys, corpus, files[:2]))
    assert victim.read_text() == "keep me"


def test_a_corrupt_ledger_makes_the_outputs_foreign_and_nothing_is_deleted(capsys, corpus, tmp_path):
    _, files = corpus
    out = tmp_path / "out"
    assert run(capsys, "--input", *files[:2], "--out", out)[0] == 0
    (out / LEDGER).write_text("{not json")
    before = {n: (out / n).read_bytes() for n in OUTPUTS}
    one_line(*run(capsys, "--input", *files, "--out", out), "did not write", "--overwrite")
    assert {n: (out / n).read_bytes() for n in OUTPUTS} == before


def test_only_build_output_names_are_accepted_by_the_ledger(tmp_path):
    od = OutputDir(Store(tmp_path), PRODUCED)
    for good in ("train.bin", "report.md", "dataprep_train_000001.bin"):
        assert od.ledger.accepts(good, [{"bytes": 1, "sha256": "0" * 64}])
    for bad in ("", ".", "..", "../x", "a/train.bin", "notes.txt", ".state", ".work", "/train.bin"):
        assert not od.ledger.accepts(bad, [{"bytes": 1, "sha256": "0" * 64}]), bad
    assert not od.ledger.accepts("train.bin", None)
    assert not od.ledger.accepts("train.bin", [{"bytes": "1", "sha256": "0"}])


# ---------------------------------------------------------------- 4: --val-bin through an alias of --out


@pytest.mark.parametrize("alias", ["symlink", "hard link", "dotdot"])
def test_a_val_bin_inside_out_by_any_path_is_refused_before_anything_is_touched(capsys, corpus, tmp_path, alias):
    _, files = corpus
    out = tmp_path / "o5"
    assert run(capsys, "--input", *files[:2], "--out", out)[0] == 0
    before = {n: (out / n).read_bytes() for n in OUTPUTS}
    link = tmp_path / "vlink"
    if alias == "symlink":
        link.symlink_to(out / "val.bin")
    elif alias == "hard link":
        os.link(out / "val.bin", link)
    else:
        (tmp_path / "elsewhere").mkdir()
        link = tmp_path / "elsewhere" / ".." / "o5" / "val.bin"
    one_line(*run(capsys, "--input", files[2], "--out", out, "--overwrite", "--val-bin", link), "--val-bin")
    assert {n: (out / n).read_bytes() for n in OUTPUTS} == before


def test_a_missing_val_bin_is_refused_before_overwrite_clears_anything(capsys, corpus, tmp_path):
    _, files = corpus
    out = tmp_path / "o5"
    assert run(capsys, "--input", *files[:2], "--out", out)[0] == 0
    before = {n: (out / n).read_bytes() for n in OUTPUTS}
    one_line(*run(capsys, "--input", files[2], "--out", out, "--overwrite", "--val-bin", tmp_path / "nope.bin"),
             "no such file")
    assert {n: (out / n).read_bytes() for n in OUTPUTS} == before


@pytest.mark.parametrize("changed", ["val.bin", "val_bands.npy"])
def test_a_val_bin_whose_build_was_changed_is_refused(capsys, corpus, tmp_path, changed):
    _, files = corpus
    src, out = tmp_path / "src", tmp_path / "out"
    assert run(capsys, "--input", *files[:2], "--out", src)[0] == 0
    _flip(src / changed, count=4)
    one_line(*run(capsys, "--input", files[2], "--out", out, "--val-bin", src / "val.bin"), changed, "meta.json")
    assert not (out / "meta.json").exists()


# ---------------------------------------------------------------- 6, 8: the directory and its lock


def _read_only(monkeypatch, root) -> None:
    """Every write under ``root`` fails as on a read-only file system."""
    def refused(path):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    def writer(self, rel, *args, **kwargs):
        refused(self.path(rel))

    def remove(self, rel=""):
        refused(self.path(rel))

    os_open = os.open

    def opened(path, flags, *args, **kwargs):
        if str(path).startswith(str(root)) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            refused(path)
        return os_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(Store, "writer", writer)
    monkeypatch.setattr(Store, "remove", remove)
    monkeypatch.setattr(os, "open", opened)


def test_an_up_to_date_build_writes_nothing_so_it_runs_in_a_read_only_directory(capsys, corpus, tmp_path,
                                                                                 monkeypatch):
    _, files = corpus
    out = tmp_path / "out"
    assert run(capsys, "--input", *files[:2], "--out", out)[0] == 0
    _read_only(monkeypatch, out)
    code, err = run(capsys, "--input", *files[:2], "--out", out)
    assert code == 0, err


def test_a_read_only_directory_is_one_line(capsys, corpus, tmp_path, monkeypatch):
    _, files = corpus
    out = tmp_path / "out"
    assert run(capsys, "--input", *files[:2], "--out", out)[0] == 0
    _read_only(monkeypatch, out)
    one_line(*run(capsys, "--input", *files, "--out", out), "Read-only file system")


def test_a_lock_path_that_is_a_directory_is_no_obstacle(capsys, corpus, tmp_path):
    _, files = corpus
    out = tmp_path / "out"
    assert run(capsys, "--input", *files[:2], "--out", out)[0] == 0
    (out / ".lock").mkdir()
    code, err = run(capsys, "--input", *files, "--out", out)
    assert code == 0, err


def test_the_lock_cannot_be_deleted_from_under_a_running_build(tmp_path):
    first = OutputDir(Store(tmp_path), PRODUCED)
    first.acquire()
    try:
        for leftover in tmp_path.iterdir():  # whatever a user might delete by hand
            if leftover.name.startswith(".lock"):
                shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
        with pytest.raises(DataprepError, match="another dataprep build is running"):
            OutputDir(Store(tmp_path), PRODUCED).acquire()
    finally:
        first.release()
    second = OutputDir(Store(tmp_path), PRODUCED)
    second.acquire()
    second.release()


def test_a_build_of_an_earlier_dataprep_is_named_so_and_rebuilt_with_overwrite(capsys, corpus, tmp_path):
    _, files = corpus
    out = tmp_path / "out"
    assert run(capsys, "--input", *files[:2], "--out", out)[0] == 0
    ledger = _ledger(out)
    ledger.pop("format")  # the form an earlier dataprep wrote
    (out / LEDGER).write_text(json.dumps(ledger))
    before = {n: (out / n).read_bytes() for n in OUTPUTS}
    one_line(*run(capsys, "--input", *files[:2], "--out", out), "earlier dataprep", "--overwrite")
    assert {n: (out / n).read_bytes() for n in OUTPUTS} == before
    code, err = run(capsys, "--input", *files[:2], "--out", out, "--overwrite")
    assert code == 0, err
    same_bytes(out, one_shot(capsys, corpus, files[:2]))
