"""``build --tokens``: shards taken in order until the train split meets a budget, on the loopback hub
and on local files; what each shard added; a source that runs out; the command estimate prints.

The shards overlap across files (``SynthConfig.pool``): each repeats more of the earlier ones, so
the share of a shard's tokens that the corpus gains falls from shard to shard.
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import pytest
from hubserver import FakeHub

from dataprep.pipeline.budget import TokenTarget
from dataprep.pipeline.build import BuildOptions, build
from dataprep.synth import SynthConfig, generate
from dataprep_cli.main import main

REPO = "HuggingFaceFW/fineweb-edu"
SUBSET = "sample/10BT"
BINS = ("train.bin", "val.bin", "manifest.parquet", "val_bands.npy")
OUTPUTS = BINS + ("meta.json", "report.md")
RULES = ("--no-score-filter", "--val-fraction", "0.05")


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("budget") / "in"
    truth = generate(d, SynthConfig(docs=120, shards=6, seed=17, pool=400, mean_words=200))
    return truth.files


@pytest.fixture(scope="module")
def steps(shards, tmp_path_factory):
    """Every step of a build that takes all six shards (a budget they cannot meet)."""
    out = tmp_path_factory.mktemp("all") / "b"
    meta = build(shards, out, BuildOptions(min_score=None, val_fraction=0.05), workers=1, progress=False,
                 target=TokenTarget(tokens=1e12))
    return meta["target"]["steps"]


@pytest.fixture
def hub(shards, monkeypatch, tmp_path):
    files = {"README.md": b"# fake\n"}
    files |= {f"{SUBSET}/{i:03d}_00000.parquet": open(f, "rb").read() for i, f in enumerate(shards)}
    server = FakeHub({REPO: files}, page_size=4)
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    yield server
    server.close()


def downloads(hub: FakeHub) -> int:
    return sum(1 for r in hub.requests if r.method == "GET" and "/resolve/" in r.path)


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["build", *[str(a) for a in argv], "--workers", "1", *RULES])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_marginal_share_falls_as_the_shards_overlap(steps):
    assert [s["shard"] for s in steps] == [1, 2, 3, 4, 5, 6]
    shares = [s["added_share"] for s in steps]
    assert shares[0] > 0.85 and shares[-1] < 0.6 * shares[0], shares
    assert sum(b < a for a, b in zip(shares, shares[1:])) >= 4, shares  # falling, give or take the noise
    assert all(s["added"] == s["effective_tokens"] - p["effective_tokens"] for p, s in zip(steps, steps[1:]))


def test_tokens_on_the_hub_fetches_shard_by_shard_and_stops_at_the_budget(hub, steps, capsys, tmp_path):
    budget = steps[2]["train_tokens"]  # met by three shards, not by two
    assert steps[1]["train_tokens"] < budget
    out = tmp_path / "b"
    code, stdout, err = cli(capsys, "--dataset", REPO, "--subset", SUBSET, "--tokens", budget, "--out", out)
    assert code == 0 and err == "", err
    assert downloads(hub) == 3  # six listed, three fetched
    meta = json.loads((out / "meta.json").read_text())
    t = meta["target"]
    assert t["met"] and t["shards"] == 3 and t["short_by"] == 0 and len(meta["sources"]) == 3
    assert [s["train_tokens"] for s in t["steps"]] == [s["train_tokens"] for s in steps[:3]]
    assert meta["train_tokens"] == budget
    for s in t["steps"]:  # the report shows every step, and what the next shard would add
        assert f"| {s['shard']} | {s['path'].rsplit('/', 1)[-1]} | {s['tokens']:,} |" in stdout
    assert f"would add about {t['steps'][-1]['added']:,} effective tokens" in stdout
    # The same bytes as a build of those three shards named up front.
    fixed = tmp_path / "fixed"
    assert cli(capsys, "--dataset", REPO, "--subset", SUBSET, "--shards", 3, "--out", fixed, "--json")[0] == 0
    for name in BINS:
        assert (out / name).read_bytes() == (fixed / name).read_bytes(), name
    # Asked again: up to date, nothing fetched or rewritten.
    before = {n: (out / n).stat().st_mtime_ns for n in OUTPUTS}
    code, stdout, _ = cli(capsys, "--dataset", REPO, "--subset", SUBSET, "--tokens", budget, "--out", out)
    assert code == 0 and "up to date" in stdout
    assert {n: (out / n).stat().st_mtime_ns for n in OUTPUTS} == before


def test_a_source_that_runs_out_gives_a_complete_build_and_one_warning(hub, steps, capsys, tmp_path):
    out = tmp_path / "b"
    need = 4 * steps[-1]["train_tokens"]
    code, stdout, err = cli(capsys, "--dataset", REPO, "--subset", SUBSET, "--tokens", need, "--epochs", 2,
                            "--out", out)
    assert code == 0
    lines = err.strip().splitlines()
    short = math.ceil(need / 2) - steps[-1]["train_tokens"]
    assert len(lines) == 1 and lines[0].startswith("dataprep: warning: the train split of the 6 input files is"), err
    assert f"{short:,} short" in lines[0] and "--epochs 2" in lines[0]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["target"]["met"] is False and meta["target"]["short_by"] == short
    assert meta["target"]["train_tokens_needed"] == math.ceil(need / 2) and len(meta["sources"]) == 6
    assert "**Not met**" in stdout and f"{short:,}" in stdout
    assert (out / "train.bin").stat().st_size == 2 * meta["train_tokens"]


def test_shards_caps_what_tokens_may_take(hub, steps, capsys, tmp_path):
    code, _, err = cli(capsys, "--dataset", REPO, "--subset", SUBSET, "--tokens", steps[4]["train_tokens"],
                       "--shards", 2, "--out", tmp_path / "b")
    assert code == 0 and "warning" in err and downloads(hub) == 2


def test_local_tokens_take_as_few_files_as_needed_and_grow_or_cut_to_the_one_shot_bytes(shards, steps, capsys,
                                                                                        tmp_path):
    out = tmp_path / "grown"
    for k in (2, 5, 1, 6):  # grow, grow, cut back, grow to every file (short of the last budget)
        budget = steps[k - 1]["train_tokens"] if k < 6 else steps[-1]["train_tokens"] + 1
        code, _, err = cli(capsys, "--input", *shards, "--tokens", budget, "--out", out, "--json")
        assert code == 0, err
        meta = json.loads((out / "meta.json").read_text())
        assert len(meta["sources"]) == k and meta["target"]["met"] == (k < 6)
        fresh = tmp_path / f"fresh-{k}"
        assert cli(capsys, "--input", *shards, "--tokens", budget, "--out", fresh, "--json")[0] == 0
        for name in OUTPUTS:
            assert (out / name).read_bytes() == (fresh / name).read_bytes(), (k, name)
    assert sorted(p.name for p in (out / ".state" / "scan").iterdir()) == [f"{i:05d}" for i in range(6)]


def test_local_shards_scanned_ahead_are_not_kept(shards, steps, tmp_path):
    out = tmp_path / "b"
    meta = build(shards, out, BuildOptions(min_score=None, val_fraction=0.05), workers=2, progress=False,
                 target=TokenTarget(tokens=steps[0]["train_tokens"]))
    assert len(meta["sources"]) == 1
    assert [p.name for p in (out / ".state" / "scan").iterdir()] == ["00000"]


def test_a_plain_build_over_a_tokens_build_of_the_same_files_drops_the_target(shards, steps, capsys, tmp_path):
    out = tmp_path / "b"
    assert cli(capsys, "--input", *shards, "--tokens", steps[1]["train_tokens"], "--out", out, "--json")[0] == 0
    assert cli(capsys, "--input", *shards[:2], "--out", out, "--json")[0] == 0
    fresh = tmp_path / "fresh"
    assert cli(capsys, "--input", *shards[:2], "--out", fresh, "--json")[0] == 0
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name


@pytest.mark.parametrize("argv,words", [
    (["--tokens", "0"], ["--tokens must be at least 1"]),
    (["--tokens", "lots"], ["cannot read --tokens 'lots'"]),
    (["--tokens", "-5M"], ["cannot read --tokens '-5M'", "positive count"]),
    (["--tokens=-5M"], ["cannot read --tokens '-5M'", "positive count"]),
    (["--tokens", "2e9B"], ["cannot read --tokens '2e9B'"]),
    (["--tokens", "1,5M"], ["cannot read --tokens '1,5M'"]),
    (["--tokens", "1e30"], ["--tokens 1e30 is more than 1e15"]),
    (["--tokens", "1M", "--epochs", "0"], ["epochs (--epochs) must be a positive number"]),
    (["--tokens", "1M", "--epochs", "nan"], ["epochs (--epochs) must be a positive number"]),
    (["--tokens", "1e10", "--epochs", "1e-300"], ["--epochs 1e-300 asks for a train split", "more than 1e15"]),
    (["--tokens", "1e10", "--epochs", "5e-324"], ["asks for a train split", "more than 1e15"]),
    (["--epochs", "2"], ["--epochs needs --tokens"]),
])
def test_bad_budgets_are_one_line(shards, capsys, tmp_path, argv, words):
    code, _, err = cli(capsys, "--input", *shards, "--out", tmp_path / "b", *argv)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and all(w in lines[0] for w in words), err
    assert not (tmp_path / "b").exists()


def test_a_hub_build_needs_shards_or_tokens(capsys, tmp_path, monkeypatch):
    import dataprep.io.hub

    monkeypatch.setattr(dataprep.io.hub, "HubShards", lambda *a, **k: pytest.fail("listed the hub"))
    code, _, err = cli(capsys, "--out", tmp_path / "b")
    assert code == 2 and "--shards N" in err and "--tokens T" in err


@pytest.mark.parametrize("estimated,need", [(2, 0), (1, 3)])
def test_estimate_prints_the_build_command_that_meets_its_plan(shards, steps, capsys, tmp_path, monkeypatch,
                                                               estimated, need):
    """Its inputs are those estimated, or their directory when they fall short of the plan."""
    monkeypatch.chdir(tmp_path)
    budget = steps[need]["train_tokens"] // (2 if need == 0 else 1)
    argv = ["estimate", *shards[:estimated], "--params", "1M", "--tokens", str(budget), "--min-tokens", "3",
            "--no-score-filter", "--val-fraction", "0.05"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert main([*argv, "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    command = plan["build_command"]
    assert f"    {command}\n" in printed
    words = shlex.split(command)
    assert words[:3] == ["dataprep", "build", "--input"]
    if need == 0:
        assert words[3:5] == shards[:2] and words[5] == "--out" and plan["build_note"] is None
    else:
        assert words[3:5] == [str(Path(shards[0]).parent), "--out"]
        assert "directory of the file estimated: its 6 parquet files" in plan["build_note"] in printed
    for option in (["--tokens", str(budget)], ["--min-tokens", "3"], ["--val-fraction", "0.05"], ["--no-score-filter"]):
        assert " ".join(option) in command
    assert main([*words[1:], "--workers", "1", "--json"]) == 0  # pasted as printed
    meta = json.loads(capsys.readouterr().out)
    assert meta["target"]["tokens"] == budget and meta["target"]["met"]
    assert len(meta["sources"]) == need + 1
    assert meta["options"]["min_tokens"] == 3 and meta["options"]["min_score"] is None
    assert meta["options"]["val_fraction"] == 0.05


@pytest.mark.parametrize("repeats", [2, 10])
def test_inputs_that_fall_short_are_counted_and_given_only_advice_that_meets_the_plan(shards, steps, capsys, tmp_path,
                                                                                     monkeypatch, repeats):
    """A directory of six files: the note counts six, and suggests --epochs only where that many epochs of
    their train split hold the tokens seen, and no more than four."""
    monkeypatch.chdir(tmp_path)
    train = steps[-1]["train_tokens"]  # all six files, the rules below
    budget = repeats * train - 1
    argv = ["estimate", str(Path(shards[0]).parent), "--params", "1M", "--tokens", str(budget), "--no-score-filter",
            "--val-fraction", "0.05", "--json"]
    assert main(argv) == 0
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert plan["train_tokens"] == train and plan["epochs_for_input"] == repeats
    assert plan["build_note"].startswith(f"the train split of the 6 files estimated is {train:,} tokens, short of")
    if repeats > 4:
        assert "--epochs" not in plan["build_note"]
        return
    assert plan["build_note"].endswith(f"or add --epochs {repeats} to repeat each token up to {repeats} times")
    words = shlex.split(plan["build_command"])
    assert main([*words[1:], "--epochs", str(repeats), "--workers", "1", "--json"]) == 0  # the advice, taken
    assert json.loads(capsys.readouterr().out)["target"]["met"]
