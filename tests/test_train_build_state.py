"""The trainer trains only on a finished build: killed at any step of moving a growth's outputs into place,
or changed since, a build directory is refused in one line; plain bins train as they always did."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")

from dataprep.pipeline.outdir import OutputDir  # noqa: E402
from dataprep.pipeline.build import BuildOptions, build  # noqa: E402
from dataprep.synth import SynthConfig, generate  # noqa: E402
from dataprep_cli.main import main  # noqa: E402

OPTIONS = BuildOptions(min_score=None)
STAGED = ["manifest.parquet", "train.bin", "val.bin", "val_bands.npy", "meta.json"]  # the order swap moves them in


class Crash(Exception):
    pass


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return generate(tmp_path_factory.mktemp("state") / "in", SynthConfig(docs=150, shards=2, seed=71)).files


@pytest.fixture(scope="module")
def finished(shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "build"
    build(shards[:1], out, OPTIONS, workers=1, progress=False)
    return out


def train(capsys, data, run, *extra) -> tuple[int, str]:
    argv = ["train", str(data), "--out", str(run), "--n-layer", "1", "--n-head", "2", "--n-embd", "32",
            "--block-size", "16", "--batch-size", "4", "--max-iters", "2", "--eval-windows", "2", "--quiet",
            "--device", "cpu", *extra]
    code = main(argv)
    return code, capsys.readouterr().err.strip()


def assert_unfinished(code: int, err: str, build_dir, why: str) -> None:
    assert code == 2 and "\n" not in err, err
    assert err.startswith(f"dataprep: {build_dir} holds an unfinished dataprep build ("), err
    assert why in err and err.endswith("; rerun dataprep build (the same command) to finish it, then train"), err


def copy_of(build_dir, tmp_path):
    return shutil.copytree(build_dir, tmp_path / "build", symlinks=True)


@pytest.mark.parametrize("moved", range(len(STAGED)))
def test_a_growth_killed_at_each_step_of_its_swap_is_refused_then_finished(shards, finished, tmp_path, monkeypatch,
                                                                         capsys, moved):
    out = copy_of(finished, tmp_path)
    real_move_in, done = OutputDir._move_in, []

    def move_in_then_die(self, name, *args):
        if len(done) == moved:
            raise Crash  # a kill -9 or a full disk between two moves
        real_move_in(self, name, *args)
        done.append(name)

    monkeypatch.setattr(OutputDir, "_move_in", move_in_then_die)
    with pytest.raises(Crash):
        build(shards, out, OPTIONS, workers=1, progress=False)
    monkeypatch.undo()
    assert done == STAGED[:moved] and not (out / "meta.json").exists()
    if moved == 2:  # the issue's case: the new train.bin beside the old val.bin, and no meta.json
        assert (out / "train.bin").stat().st_size != (finished / "train.bin").stat().st_size
        assert (out / "val.bin").read_bytes() == (finished / "val.bin").read_bytes()
    assert_unfinished(*train(capsys, out, tmp_path / "run"), out, "its new outputs are being moved into place")
    assert not (tmp_path / "run").exists()

    build(shards, out, OPTIONS, workers=1, progress=False)  # the rerun finishes the move
    assert train(capsys, out, tmp_path / "run") == (0, "")


def test_a_finished_build_trains(finished, tmp_path, capsys):
    assert train(capsys, finished, tmp_path / "run") == (0, "")


def test_the_issues_half_swapped_build_with_no_swap_record_is_refused(finished, tmp_path, capsys):
    out = copy_of(finished, tmp_path)
    (out / "meta.json").unlink()  # the ledger says a build wrote here; without meta.json it never finished
    assert_unfinished(*train(capsys, out, tmp_path / "run"), out, "it has no meta.json")


@pytest.mark.parametrize("change", ["longer", "same size, other bytes", "not described"])
def test_files_that_are_not_the_ones_meta_json_describes_are_refused(finished, tmp_path, capsys, change):
    out = copy_of(finished, tmp_path)
    if change == "longer":
        with open(out / "train.bin", "ab") as f:
            f.write(b"\x01\x00")
        why = "train.bin is not the file its meta.json describes"
    elif change == "same size, other bytes":
        data = bytearray((out / "train.bin").read_bytes())
        data[0] ^= 1  # the first block is always among the sampled ones
        (out / "train.bin").write_bytes(bytes(data))
        why = "train.bin is not the file its meta.json describes"
    else:
        meta = json.loads((out / "meta.json").read_text())
        del meta["checks"]["val.bin"]
        (out / "meta.json").write_text(json.dumps(meta))
        why = "its meta.json does not describe val.bin"
    assert_unfinished(*train(capsys, out, tmp_path / "run"), out, why)


def test_a_swap_record_with_staged_outputs_is_refused(finished, tmp_path, capsys):
    out = copy_of(finished, tmp_path)
    (out / ".work" / "next").mkdir(parents=True)
    shutil.copy(out / "meta.json", out / ".work" / "next" / "meta.json")
    (out / ".work" / "swap.json").write_text(json.dumps({"files": ["meta.json"]}))
    assert_unfinished(*train(capsys, out, tmp_path / "run"), out, "its new outputs are being moved into place")


def test_a_val_bin_from_another_build_is_checked_too(finished, tmp_path, capsys):
    other = copy_of(finished, tmp_path)
    (other / "meta.json").unlink()
    code, err = train(capsys, finished, tmp_path / "run", "--val-bin", str(other / "val.bin"))
    assert_unfinished(code, err, other, "it has no meta.json")


def test_a_build_without_checks_in_its_meta_json_is_refused(finished, tmp_path, capsys):
    out = copy_of(finished, tmp_path)
    meta = json.loads((out / "meta.json").read_text())
    del meta["checks"]
    (out / "meta.json").write_text(json.dumps(meta))
    code, err = train(capsys, out, tmp_path / "run")
    assert code == 2 and err == (
        f"dataprep: {out / 'meta.json'} records no sizes and digests of the token files (a build by an older "
        "dataprep), so they cannot be checked; rebuild it with dataprep build --overwrite"
    )


@pytest.mark.parametrize("meta", [None, {"dtype": "uint16", "vocab_size": 50257}])
def test_plain_bins_train_as_they_are(finished, tmp_path, capsys, meta):
    """nanoGPT's prepare.py output, or a build's bins copied without the rest: nothing says what they should be."""
    plain = tmp_path / "plain"
    plain.mkdir()
    for name in ("train.bin", "val.bin"):
        shutil.copy(finished / name, plain / name)
    if meta is not None:
        (plain / "meta.json").write_text(json.dumps(meta))
    assert train(capsys, plain, tmp_path / "run") == (0, "")
    tokens = np.fromfile(plain / "train.bin", dtype="<u2")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train_tokens"] == len(tokens)


def test_files_replaced_after_meta_json_was_read_are_refused(shards, finished, tmp_path, monkeypatch):
    """A growth's swap that starts while the trainer opens the files: what it maps must be what meta.json said."""
    import dataprep.io.tokens as tokens

    out, grown = copy_of(finished, tmp_path), tmp_path / "grown"
    build(shards, grown, OPTIONS, workers=1, progress=False)
    real_read_build = tokens.read_build

    def read_build_then_swap(directory):
        meta = real_read_build(directory)
        shutil.copy(grown / "train.bin", out / ".train.bin.new")
        (out / ".train.bin.new").replace(out / "train.bin")  # as the swap moves it: a rename over the old one
        return meta

    monkeypatch.setattr(tokens, "read_build", read_build_then_swap)
    with pytest.raises(tokens.DataprepError, match="train.bin is not the file its meta.json describes"):
        tokens.open_data(out)
