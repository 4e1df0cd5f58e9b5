"""A build grown shard by shard (or cut back) writes the bytes of a build of all its shards at once.

The shards overlap across files (``SynthConfig.pool``: later shards repeat more of the earlier
ones), so growing moves clusters, their kept documents, the val split's floor and the boilerplate
lines; every step is compared byte for byte with a fresh build of the same shards.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import dataprep.pipeline.doc_tokens
import dataprep.pipeline.scan_shards
from dataprep.errors import DataprepError
from dataprep.pipeline.outdir import OutputDir
from dataprep.pipeline.build import BuildOptions, build
from dataprep.synth import SynthConfig, generate
from dataprep_cli.main import main

OUTPUTS = ("train.bin", "val.bin", "meta.json", "manifest.parquet", "val_bands.npy", "report.md")
RULES = {
    # the default val fraction: its floor takes more documents as the corpus grows
    "val-floor": dict(min_score=None),
    # boilerplate lines appear (and go) as documents are added and clusters move
    "boilerplate": dict(min_score=None, strip_boilerplate=True, val_fraction=0.05),
    "score-filter": dict(val_fraction=0.05),
    "val-from": dict(min_score=None),  # with val taken from a file of its own (added in the test)
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp("grow")
    truth = generate(d / "in", SynthConfig(docs=150, shards=5, seed=61, pool=500, exact_rate=0.03, near_rate=0.05,
                                           boilerplate_docs=(2, 12)))
    generate(d / "val.parquet", SynthConfig(docs=60, seed=62))
    return d, truth.files


def options(corpus, rules: str) -> BuildOptions:
    d, _ = corpus
    extra = {"val_from": [str(d / "val.parquet")]} if rules == "val-from" else {}
    return BuildOptions(**RULES[rules], **extra)


_one_shot: dict = {}


def one_shot(corpus, files: list[str], rules: str):
    """A fresh build of ``files`` (made once per module)."""
    key = (tuple(files), rules)
    if key not in _one_shot:
        out = corpus[0] / f"one-{rules}-{len(files)}"
        build(files, out, options(corpus, rules), workers=1, progress=False)
        _one_shot[key] = out
    return _one_shot[key]


def same_bytes(a, b) -> None:
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture
def counted(monkeypatch):
    """Shards scanned, and documents tokenized again after the scan, by each build."""
    seen = {"scanned": [], "tokenized": 0}
    scan, tokenize = dataprep.pipeline.scan_shards.scan_shard, dataprep.pipeline.doc_tokens._tokenize

    def scan_shard(job):
        seen["scanned"].append(job.source.path)
        return scan(job)

    def _tokenize(c, docs, *args):
        seen["tokenized"] += len(docs)
        return tokenize(c, docs, *args)

    monkeypatch.setattr(dataprep.pipeline.scan_shards, "scan_shard", scan_shard)
    monkeypatch.setattr(dataprep.pipeline.doc_tokens, "_tokenize", _tokenize)
    return seen


@pytest.mark.parametrize("rules", list(RULES))
def test_three_growth_steps_each_write_the_one_shot_bytes(corpus, rules, counted, tmp_path):
    _, files = corpus
    out = tmp_path / "grown"
    build(files[:1], out, options(corpus, rules), workers=1, progress=False)
    for k_before, k in ((1, 2), (2, 4), (4, 5)):
        counted["scanned"].clear()
        counted["tokenized"] = 0
        build(files[:k], out, options(corpus, rules), workers=1, progress=False)
        assert counted["scanned"] == files[k_before:k]  # only the new shards
        same_bytes(out, one_shot(corpus, files[:k], rules))
        # The old documents' tokens come from the old bins; a few change (boilerplate, val floor).
        meta = json.loads((out / "meta.json").read_text())
        assert counted["tokenized"] <= 0.3 * meta["train_docs"], counted["tokenized"]
    assert not (out / ".work").exists()
    scans = sorted(p.name for p in (out / ".state" / "scan").iterdir())
    assert scans == [f"{i:05d}" for i in range(5)] + (["val-00000"] if rules == "val-from" else [])
    # The state keeps what deduplication needs, never a second copy of the tokens.
    assert {p.name for p in (out / ".state").rglob("*") if p.is_file()} == {"docs.parquet", "bands.npy", "lines.npz",
                                                                          "source.json"}


def test_a_boilerplate_growth_tokenizes_again_only_documents_whose_stripped_lines_change(corpus, counted, tmp_path):
    _, files = corpus
    out = tmp_path / "grown"
    build(files[:2], out, options(corpus, "boilerplate"), workers=1, progress=False)
    counted["tokenized"] = 0
    build(files[:3], out, options(corpus, "boilerplate"), workers=1, progress=False)
    grown = counted["tokenized"]
    counted["tokenized"] = 0
    fresh = tmp_path / "fresh"
    build(files[:3], fresh, options(corpus, "boilerplate"), workers=1, progress=False)
    # A fresh build tokenizes again every document that loses a line; the grown one, fewer.
    assert json.loads((fresh / "meta.json").read_text())["boilerplate"]["docs"] == counted["tokenized"] > grown
    same_bytes(out, fresh)


def test_a_build_cut_back_to_fewer_shards_writes_their_one_shot_bytes(corpus, counted, tmp_path):
    _, files = corpus
    out = tmp_path / "cut"
    build(files[:4], out, options(corpus, "val-floor"), workers=1, progress=False)
    counted["scanned"].clear()
    build(files[:2], out, options(corpus, "val-floor"), workers=1, progress=False)
    assert counted["scanned"] == []
    same_bytes(out, one_shot(corpus, files[:2], "val-floor"))
    assert sorted(p.name for p in (out / ".state" / "scan").iterdir()) == ["00000", "00001"]


def test_the_format_may_change_in_a_growth(corpus, tmp_path):
    _, files = corpus
    out = tmp_path / "grown"
    build(files[:2], out, options(corpus, "val-floor"), workers=1, progress=False)
    opts = BuildOptions(**RULES["val-floor"], formats=("nanogpt", "llmc"))
    build(files[:3], out, opts, workers=1, progress=False)
    fresh = tmp_path / "fresh"
    build(files[:3], fresh, opts, workers=1, progress=False)
    same_bytes(out, fresh)
    llmc = sorted(p.name for p in fresh.glob("dataprep_*.bin"))
    assert llmc and all((out / n).read_bytes() == (fresh / n).read_bytes() for n in llmc)
    build(files[:4], out, options(corpus, "val-floor"), workers=1, progress=False)  # and back: those files go
    assert not list(out.glob("dataprep_*.bin"))
    same_bytes(out, one_shot(corpus, files[:4], "val-floor"))


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["build", *[str(a) for a in argv], "--workers", "1"])
    out, err = capsys.readouterr()
    return code, out, err


def refused(code: int, err: str, *words: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("dataprep: "), err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def test_a_growth_with_other_decision_options_is_refused_naming_the_option(corpus, capsys, tmp_path):
    _, files = corpus
    out = tmp_path / "out"
    assert cli(capsys, "--input", *files[:2], "--out", out, "--no-score-filter", "--json")[0] == 0
    before = {n: (out / n).read_bytes() for n in OUTPUTS}
    for extra, words in ((["--no-score-filter", "--min-tokens", "5"], ["--min-tokens is 5 here, 0 there"]),
                         ([], ["--min-score", "3.0 here, none there"]),
                         (["--no-score-filter", "--threshold", "0.8"], ["--threshold is 0.8 here, 0.7 there"]),
                         (["--no-score-filter", "--strip-boilerplate"], ["--strip-boilerplate is true here"]),
                         (["--no-score-filter", "--val-fraction", "0.1"], ["--val-fraction is 0.1 here"])):
        refused(*cli(capsys, "--input", *files[:3], "--out", out, *extra)[::2], "different build", *words,
                "--overwrite")
    assert {n: (out / n).read_bytes() for n in OUTPUTS} == before
    assert not (out / ".state" / "scan" / "00002").exists()  # nothing was scanned for a refused build


def test_inputs_that_are_not_the_old_ones_first_are_refused(corpus, capsys, tmp_path):
    _, files = corpus
    out = tmp_path / "out"
    assert cli(capsys, "--input", *files[:2], "--out", out, "--no-score-filter", "--json")[0] == 0
    refused(*cli(capsys, "--input", files[0], files[2], "--out", out, "--no-score-filter")[::2],
            "its input 2 is", files[1], "grows by inputs added after the old ones")
    refused(*cli(capsys, "--input", files[1], files[0], files[2], "--out", out, "--no-score-filter")[::2],
            "its input 1 is")
    code, _, err = cli(capsys, "--input", files[1], files[0], "--out", out, "--no-score-filter", "--overwrite",
                       "--json")
    assert code == 0, err


def test_a_changed_old_input_is_refused(corpus, capsys, tmp_path):
    import shutil

    _, files = corpus
    mine = tmp_path / "in"
    mine.mkdir()
    for f in files[:3]:
        shutil.copy(f, mine)
    out = tmp_path / "out"
    assert cli(capsys, "--input", *sorted(mine.iterdir())[:2], "--out", out, "--no-score-filter", "--json")[0] == 0
    shutil.copy(files[4], sorted(mine.iterdir())[1])  # the second input's bytes replaced
    refused(*cli(capsys, "--input", mine, "--out", out, "--no-score-filter")[::2], "its input 2 is")


def test_a_grown_build_rerun_is_up_to_date(corpus, capsys, tmp_path):
    _, files = corpus
    out = tmp_path / "out"
    assert cli(capsys, "--input", *files[:2], "--out", out, "--no-score-filter", "--json")[0] == 0
    assert cli(capsys, "--input", *files[:3], "--out", out, "--no-score-filter", "--json")[0] == 0
    before = {n: (out / n).stat().st_mtime_ns for n in OUTPUTS}
    code, stdout, _ = cli(capsys, "--input", *files[:3], "--out", out, "--no-score-filter")
    assert code == 0 and "up to date" in stdout
    assert {n: (out / n).stat().st_mtime_ns for n in OUTPUTS} == before


@pytest.mark.parametrize("stop_at", [1, 3])
def test_a_growth_killed_while_moving_its_outputs_in_is_finished_by_any_next_run(corpus, tmp_path, monkeypatch,
                                                                                 stop_at):
    _, files = corpus
    opts = options(corpus, "val-floor")
    moved = []
    move = OutputDir._move_in

    def killed_midway(self, name, *args):
        if len(moved) == stop_at:
            raise KeyboardInterrupt
        moved.append(name)
        move(self, name, *args)

    for rerun in (files[:4], files[:2]):  # the same command, or the old one
        out = tmp_path / f"to-{len(rerun)}"
        build(files[:2], out, opts, workers=1, progress=False)
        moved.clear()
        monkeypatch.setattr(OutputDir, "_move_in", killed_midway)
        with pytest.raises(KeyboardInterrupt):
            build(files[:4], out, opts, workers=1, progress=False)
        monkeypatch.undo()
        # Mid-move nothing looks complete: the old meta.json and report went first.
        assert not (out / "meta.json").exists() and not (out / "report.md").exists()
        build(rerun, out, opts, workers=1, progress=False)
        same_bytes(out, one_shot(corpus, rerun, "val-floor"))
        assert not (out / ".work").exists()


def test_a_library_caller_gets_the_same_refusal(corpus, tmp_path):
    _, files = corpus
    out = tmp_path / "out"
    build(files[:2], out, BuildOptions(min_score=None), workers=1, progress=False)
    with pytest.raises(DataprepError, match=r"different build \(--min-tokens is 3 here, 0 there\)"):
        build(files[:3], out, BuildOptions(min_score=None, min_tokens=3), workers=1, progress=False)
    assert np.fromfile(out / "train.bin", dtype=np.uint16).size == json.loads((out / "meta.json").read_text())[
        "train_tokens"]


def test_a_val_floor_that_lapses_gives_dropped_documents_back_and_they_are_tokenized_again(tmp_path, counted):
    # One shard: --val-fraction 0.08 gives fewer val documents than the floor, which takes more. Four:
    # the fraction gives enough, the floor lapses, and documents it had taken into val, some dropped
    # there as val-contamination, are train candidates again: the old bins never held their tokens.
    truth = generate(tmp_path / "in", SynthConfig(docs=400, shards=4, seed=5, pool=1200, mean_words=80))
    opts = BuildOptions(min_score=None, val_fraction=0.08)
    out = tmp_path / "grown"
    assert build(truth.files[:1], out, opts, workers=1, progress=False)["val_floor"] is not None
    counted["tokenized"] = 0
    assert build(truth.files, out, opts, workers=1, progress=False)["val_floor"] is None
    assert counted["tokenized"] > 0
    fresh = tmp_path / "fresh"
    build(truth.files, fresh, opts, workers=1, progress=False)
    same_bytes(out, fresh)
