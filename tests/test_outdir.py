"""The output directory holds one build, proven to be dataprep's, of exactly the inputs named.

Each test pins a case an adversarial probe found (docs/reliability.md, "Output directory and
inputs"): files deleted or overwritten that dataprep did not write, a reused --val-bin deleted,
a scan reused for other bytes, a build reading its own output, a finished build not recognised.
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dataprep.pipeline.build
from dataprep.io.storage import file_sha256
from dataprep.synth import SynthConfig, generate
from dataprep_cli.main import main
from expect import one_line

OUTPUTS = ("train.bin", "val.bin", "meta.json", "manifest.parquet", "val_bands.npy", "report.md")
OPTS = dataprep.pipeline.build.BuildOptions(min_score=None, val_fraction=0.1)  # what cli() asks for


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["build", *[str(a) for a in argv], "--workers", "1", "--no-score-filter", "--val-fraction", "0.1"])
    out, err = capsys.readouterr()
    return code, out, err


def contents(out) -> dict[str, bytes]:
    return {n: (out / n).read_bytes() for n in OUTPUTS}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("outdir")
    generate(d / "in", SynthConfig(docs=120, shards=2, seed=81))
    generate(d / "val.parquet", SynthConfig(docs=40, seed=82))
    return d


@pytest.fixture(scope="module")
def reference(corpus):
    out = corpus / "reference"
    assert main(["build", "--input", str(corpus / "in"), "--out", str(out), "--workers", "1", "--no-score-filter",
                 "--val-fraction", "0.1", "--json"]) == 0
    return out


# ---------------------------------------------------------------- files that are not dataprep's


def test_a_users_temporary_file_in_out_is_kept_and_the_directory_refused(capsys, corpus, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    thesis = out / ".thesis.tex.tmp-4242"
    thesis.write_text("three years of work")
    one_line(*cli(capsys, "--input", corpus / "in", "--out", out)[::2], "not empty", ".thesis.tex.tmp-4242")
    assert thesis.read_text() == "three years of work"


def test_a_trainers_temporary_checkpoint_in_a_build_directory_survives_a_rerun(capsys, corpus, reference, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    ckpt = out / f".ckpt.pt.tmp-{os.getpid()}"  # a trainer saving its checkpoint into the data directory
    ckpt.write_bytes(b"half a checkpoint")
    code, _, err = cli(capsys, "--input", corpus / "in", "--out", out, "--json")
    assert code == 0, err
    assert ckpt.read_bytes() == b"half a checkpoint"


def test_someone_elses_bins_are_not_overwritten_without_overwrite(capsys, corpus, reference, tmp_path):
    out = tmp_path / "nanogpt"
    out.mkdir()
    theirs = {"train.bin": b"\x01\x00" * 50, "val.bin": b"\x02\x00" * 5, "report.md": b"# my experiment\n"}
    for name, data in theirs.items():
        (out / name).write_bytes(data)
    line = one_line(*cli(capsys, "--input", corpus / "in", "--out", out)[::2], "did not write", "--overwrite")
    assert "train.bin" in line
    assert {n: (out / n).read_bytes() for n in theirs} == theirs
    code, _, err = cli(capsys, "--input", corpus / "in", "--out", out, "--overwrite", "--json")
    assert code == 0, err
    assert contents(out) == contents(reference)


def test_a_bin_changed_after_the_build_is_no_longer_taken_for_dataprep_s(capsys, corpus, reference, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    (out / "val.bin").write_bytes(b"\x07\x00" * 3)  # someone else's val set, put in place by hand
    # The same command used to find the build "complete" and return; another would overwrite val.bin.
    one_line(*cli(capsys, "--input", corpus / "in", "--out", out)[::2], "val.bin", "did not write")
    assert (out / "val.bin").read_bytes() == b"\x07\x00" * 3


def test_overwrite_with_val_bin_inside_out_keeps_that_val_bin(capsys, corpus, reference, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    before = (out / "val.bin").read_bytes()
    line = one_line(*cli(capsys, "--input", corpus / "in", "--out", out, "--overwrite", "--min-tokens", "5",
                         "--val-bin", out / "val.bin")[::2], "--val-bin", "inside --out")
    assert "copy it" in line
    assert (out / "val.bin").read_bytes() == before
    assert contents(out) == contents(reference)


# ---------------------------------------------------------------- inputs: identity, not names


def _interrupted(out, inputs, monkeypatch) -> None:
    """Leave ``out`` as a build killed after its scans: .state and .work hold every finished shard."""
    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dataprep.pipeline.build, "decide", stop)
    with pytest.raises(KeyboardInterrupt):
        dataprep.pipeline.build.build([str(p) for p in inputs], out, OPTS, workers=1, progress=False)
    monkeypatch.undo()
    assert (out / ".state" / "scan" / "00000" / "source.json").exists()


def _same_size_texts(seed: int) -> list[str]:
    import numpy as np

    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return [" ".join("".join(rng.choice(letters, 6)) for _ in range(80)) for _ in range(50)]


def _plain_parquet(path, texts) -> None:
    # No dictionary, no compression, no statistics: the same text lengths give the same file size.
    pq.write_table(pa.table({"text": texts}), path, compression="none", use_dictionary=False,
                   write_statistics=False)


def test_an_input_rewritten_with_same_size_and_mtime_is_not_taken_for_the_old_one(capsys, tmp_path, monkeypatch):
    shard = tmp_path / "shard.parquet"
    _plain_parquet(shard, _same_size_texts(1))
    out = tmp_path / "out"
    _interrupted(out, [shard], monkeypatch)
    old = os.stat(shard)
    _plain_parquet(shard, _same_size_texts(2))  # other bytes, same size ...
    os.utime(shard, ns=(old.st_atime_ns, old.st_mtime_ns))  # ... and the old mtime
    assert os.stat(shard).st_size == old.st_size
    fresh = tmp_path / "fresh"
    assert cli(capsys, "--input", shard, "--out", fresh, "--json")[0] == 0

    code, _, err = cli(capsys, "--input", shard, "--out", out, "--json")
    if code != 0:  # refusing the stale scans is right, so long as --overwrite then builds the new bytes
        one_line(code, err, "other inputs")
        code, _, err = cli(capsys, "--input", shard, "--out", out, "--json", "--overwrite")
    assert code == 0, err
    assert (out / "train.bin").read_bytes() == (fresh / "train.bin").read_bytes()
    meta = dataprep.pipeline.build.Store(out).read_json("meta.json")
    assert meta["sources"][0]["sha256"] == file_sha256(shard)


def test_a_scan_of_another_input_is_never_reused(capsys, tmp_path, monkeypatch):
    # What a worker that outlived its build left behind: a finished scan/00000 of other inputs.
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    generate(a, SynthConfig(docs=60, seed=91))
    generate(b, SynthConfig(docs=60, seed=92))
    stray, out = tmp_path / "stray", tmp_path / "out"
    _interrupted(stray, [a], monkeypatch)
    _interrupted(out, [b], monkeypatch)
    shutil.rmtree(out / ".state" / "scan" / "00000")
    shutil.copytree(stray / ".state" / "scan" / "00000", out / ".state" / "scan" / "00000")
    shutil.copy(stray / ".work" / "tokens" / "00000.bin", out / ".work" / "tokens" / "00000.bin")

    fresh = tmp_path / "fresh"
    dataprep.pipeline.build.build([str(b)], fresh, OPTS, workers=1, progress=False)
    dataprep.pipeline.build.build([str(b)], out, OPTS, workers=1, progress=False)
    for name in ("train.bin", "val.bin", "manifest.parquet"):
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name


def test_out_inside_the_input_directory_is_not_read_as_input(capsys, corpus, reference, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(corpus / "in", data)
    out = data / "build"
    for _ in range(2):  # the rerun used to read the first run's manifest.parquet and work files as inputs
        code, _, err = cli(capsys, "--input", data, "--out", out, "--json")
        assert code == 0, err
    assert (out / "train.bin").read_bytes() == (reference / "train.bin").read_bytes()


def test_the_same_build_from_another_directory_is_up_to_date(capsys, corpus, tmp_path, monkeypatch):
    link = tmp_path / "link"
    link.symlink_to(corpus)
    out = tmp_path / "out"
    monkeypatch.chdir(corpus)
    code, _, err = cli(capsys, "--input", "in", "--val-from", "val.parquet", "--out", out, "--json")
    assert code == 0, err
    before = contents(out)
    stamps = {n: (out / n).stat().st_mtime_ns for n in OUTPUTS}
    monkeypatch.chdir(tmp_path)  # the same files, through other relative paths and a symlink
    code, stdout, err = cli(capsys, "--input", "link/in", "--val-from", "link/val.parquet", "--out", "out")
    assert code == 0, err
    assert "up to date" in stdout
    assert contents(out) == before and {n: (out / n).stat().st_mtime_ns for n in OUTPUTS} == stamps


# ---------------------------------------------------------------- a usable val split, a bounded download


def test_a_small_corpus_gets_a_val_split_of_at_least_the_floor(capsys, tmp_path):
    from dataprep.pipeline.build import MIN_VAL_TOKENS
    from dataprep.dedup.decide import MAX_VAL_SHARE, MIN_VAL_DOCS

    src = tmp_path / "small.parquet"
    generate(src, SynthConfig(docs=400, seed=83, exact_rate=0.0, near_rate=0.0))  # no copies: every doc may be val
    out = tmp_path / "out"
    # The default --val-fraction (0.0005) used to give this corpus no val document: an empty val.bin.
    code = main(["build", "--input", str(src), "--out", str(out), "--workers", "1", "--no-score-filter", "--json"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    meta = json.loads(stdout)
    floor = min(MIN_VAL_DOCS, int(MAX_VAL_SHARE * 400))
    assert meta["val_floor"]["took"] == floor and meta["val_floor"]["fraction_gave"] < floor
    assert meta["val_docs"] == floor and meta["val_tokens"] >= MIN_VAL_TOKENS
    assert len(np.fromfile(out / "val.bin", dtype=np.uint16)) == meta["val_tokens"]
    assert "the floor for a small corpus" in (out / "report.md").read_text()


def test_a_val_split_under_one_training_window_is_refused_with_advice(capsys, tmp_path):
    src = tmp_path / "tiny.parquet"
    generate(src, SynthConfig(docs=30, seed=84, mean_words=40))
    out = tmp_path / "out"
    argv = ["build", "--input", str(src), "--out", str(out), "--workers", "1", "--no-score-filter", "--json"]
    line = one_line(main(argv), capsys.readouterr()[1], "--val-fraction 0.0005 gives", "training window",
                    "--val-from")
    assert "raise --val-fraction" in line
    assert not (out / "meta.json").exists() and not (out / "val.bin").exists()
    # The advice can be followed in the same directory, without --overwrite.
    code = main([*argv, "--val-fraction", "0.9"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(stdout)["val_tokens"] >= dataprep.pipeline.build.MIN_VAL_TOKENS
    # Asked for no val at all: built, and said so by the empty val.bin the user chose.
    none = tmp_path / "none"
    code = main([*argv[:4], str(none), *argv[5:], "--val-fraction", "0"])
    assert code == 0, capsys.readouterr()[1]
    assert (none / "val.bin").stat().st_size == 0


def test_a_hub_build_without_a_size_is_refused_before_any_download(capsys, tmp_path, monkeypatch):
    import dataprep.io.hub

    def fetch(**kwargs):
        raise AssertionError(f"fetched {kwargs}")

    monkeypatch.setattr(dataprep.io.hub, "fetch_shards", fetch)
    out = tmp_path / "out"
    for extra in ([], ["--dataset", "someone/corpus", "--subset", "data"]):
        line = one_line(main(["build", "--out", str(out), *extra]), capsys.readouterr()[1], "--shards N",
                        "would be downloaded")
        assert ("someone/corpus/data" if extra else "HuggingFaceFW/fineweb-edu/sample/100BT") in line
    assert not out.exists()


def test_a_build_killed_after_meta_json_is_finished_by_its_rerun(capsys, corpus, reference):
    # meta.json marks a finished build; a kill after it (before report.md and the work files' removal)
    # must not leave a build that is reported up to date with its report missing or .work kept.
    out = corpus / "killed-after-meta"
    shutil.copytree(reference, out)
    (out / "report.md").unlink()
    (out / ".work" / "scan").mkdir(parents=True)
    ledger = json.loads((out / ".dataprep.json").read_text())  # as the killed build left it
    ledger["files"].pop("report.md")
    ledger["files"][".work"] = None
    (out / ".dataprep.json").write_text(json.dumps(ledger))
    code, stdout, _ = cli(capsys, "--input", corpus / "in", "--out", out)
    assert code == 0 and "up to date" in stdout
    assert contents(out) == contents(reference)
    assert not (out / ".work").exists()
