"""What build prints says what happened: a copied val set, documents without a score, a build kept or
grown (in proper singulars and plurals, its name escaped), the inputs of a refused growth, the write
stage's speed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dataprep.synth import SynthConfig, generate
from dataprep.text.scores import UNSCORED_RULE
from dataprep_cli.main import main


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("words") / "in"
    return generate(d, SynthConfig(docs=150, shards=3, seed=23)).files


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["build", *[str(a) for a in argv], "--workers", "1"])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_reused_val_set_is_said_to_be_copied_and_whether_train_was_checked(files, capsys, tmp_path):
    first = tmp_path / "first"
    assert cli(capsys, "--input", *files, "--out", first, "--no-score-filter")[0] == 0
    val = json.loads((first / "meta.json").read_text())
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "val.bin").write_bytes((first / "val.bin").read_bytes())  # without val_bands.npy and meta.json
    for source, checked in ((first / "val.bin", "train documents sharing an LSH band with it were dropped"),
                            (bare / "val.bin", "train was not checked against it")):
        out = tmp_path / f"reusing-{source.parent.name}"
        code, printed, err = cli(capsys, "--input", files[0], "--out", out, "--no-score-filter", "--val-bin", source)
        assert code == 0, err
        said = (f"val.bin: {val['val_tokens']:,} tokens in {val['val_docs']:,} documents, copied from --val-bin "
                f"{source} (so none of these inputs went to val); {checked}")
        assert said in printed and said in (out / "report.md").read_text()
        assert "| val | 0 | 0 |" in printed  # the waterfall's val row, which the line above explains


def test_a_build_of_documents_without_a_score_says_how_the_score_filter_treats_them(capsys, tmp_path):
    plain = generate(tmp_path / "fineweb.parquet", SynthConfig(docs=300, seed=3, schema="fineweb")).files
    edu = generate(tmp_path / "edu.parquet", SynthConfig(docs=300, seed=3)).files
    code, printed, err = cli(capsys, "--input", *plain, "--out", tmp_path / "plain")
    assert code == 0, err
    assert f"no document has an edu score (no score column); {UNSCORED_RULE}" in printed
    assert json.loads((tmp_path / "plain" / "meta.json").read_text())["unscored_docs"] == 300
    code, printed, _ = cli(capsys, "--input", *edu, *plain, "--out", tmp_path / "mixed")
    assert f"300 of the 600 documents have no edu score; {UNSCORED_RULE}" in printed
    code, printed, _ = cli(capsys, "--input", *edu, "--out", tmp_path / "edu")
    assert "no edu score" not in printed


def test_a_kept_or_regrown_build_is_said_so_in_words_with_its_name_escaped(files, capsys, tmp_path):
    out = tmp_path / "new\nline"
    shown = str(out).replace("\n", "\\n")
    assert cli(capsys, "--input", *files, "--out", out, "--no-score-filter")[0] == 0
    code, printed, _ = cli(capsys, "--input", files[0], "--out", out, "--no-score-filter")
    assert code == 0
    assert printed.startswith(f"{shown} held a build of 3 input files with the same options, this one first: nothing "
                              "was scanned")
    assert "\n1 input file, tokenizer gpt2" in printed
    code, printed, _ = cli(capsys, "--input", *files[:2], "--out", out, "--no-score-filter")
    assert printed.startswith(f"{shown} held a build of the first of these 2 input files with the same options: "
                              "only the others were scanned")
    code, printed, _ = cli(capsys, "--input", *files[:2], "--out", out, "--no-score-filter")
    assert printed.startswith(f"{shown} is up to date: it already holds this build")


def test_a_refused_growth_names_both_inputs_by_their_resolved_paths(files, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(Path(files[0]).parent)
    names = [os.path.basename(f) for f in files]
    assert cli(capsys, "--input", names[0], names[1], "--out", tmp_path / "b", "--json")[0] == 0
    code, _, err = cli(capsys, "--input", names[1], names[0], "--out", tmp_path / "b")
    assert code == 2
    resolved = [os.path.realpath(f) for f in files]
    assert f"its input 1 is {resolved[0]} (" in err and f"not {resolved[1]} (" in err


def test_the_write_stage_speed_counts_the_bytes_it_writes(files, tmp_path, monkeypatch):
    from dataprep.pipeline import write_bins
    from dataprep.pipeline.build import BuildOptions, build

    counted = []

    class Recorder(write_bins.Progress):
        def update(self, rows: int, nbytes: int = 0) -> None:
            counted.append(nbytes)
            super().update(rows, nbytes)

    monkeypatch.setattr(write_bins, "Progress", Recorder)
    build(files, tmp_path / "b", BuildOptions(min_score=None), workers=1, progress=False)
    written = sum((tmp_path / "b" / n).stat().st_size for n in ("train.bin", "val.bin"))
    assert sum(counted) == written and all(counted)
