"""``estimate --forecast``: a whole dataset's effective tokens after its first N files, from the metadata of
every file (byte ranges, counted at the loopback hub) and a few files read in full; the statistics
alone; the warning when the files are not alike; and ``build --forecast``, the forecast beside a build.

The accuracy over many seeds is bench/forecast_accuracy.py's (docs/estimate.md); here one small
dataset checks that the band holds the real build's effective tokens.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from hubserver import FakeHub

from dataprep.errors import DataprepError
from dataprep.io.metadata import read_metadata, storage_range
from dataprep.pipeline import forecast_model as model
from dataprep.dedup.decide import decide
from dataprep.pipeline.estimate import EstimateOptions, estimate, measure
from dataprep.pipeline.forecast import files_read
from dataprep.synth import SynthConfig, generate
from dataprep_cli.main import main

REPO = "HuggingFaceFW/fineweb-edu"
SUBSET = "sample/10BT"
RULES = ["--no-score-filter", "--val-fraction", "0.05"]
COLUMNS = ("token_count", "score", "int_score")


@pytest.fixture(scope="module")
def pool(tmp_path_factory):
    """12 files drawn from a pool: later files repeat more of the earlier ones, the files are alike."""
    d = tmp_path_factory.mktemp("pool") / "in"
    generate(d, SynthConfig(docs=150, shards=12, seed=21, pool=900, mean_words=80))
    return d


@pytest.fixture(scope="module")
def big_docs(tmp_path_factory):
    """8 files of documents as long as FineWeb-Edu's (about 600 words), for counting bytes."""
    d = tmp_path_factory.mktemp("big") / "in"
    generate(d, SynthConfig(docs=150, shards=8, seed=4, pool=800, mean_words=600))
    return sorted(d.glob("*.parquet"))


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_metadata_reads_the_footer_and_those_columns_only(big_docs):
    path = str(big_docs[0])
    size, fetch = storage_range(path)
    got = read_metadata(path, size, fetch, COLUMNS)
    table = pq.read_table(path, columns=list(COLUMNS))
    for c in COLUMNS:
        assert np.array_equal(got.columns[c], table.column(c).to_numpy()), c
    meta = pq.ParquetFile(path).metadata
    chunks = sum(meta.row_group(g).column(j).total_compressed_size for g in range(meta.num_row_groups)
                 for j in range(meta.num_columns) if meta.schema.column(j).name in COLUMNS)
    assert got.bytes_read == 8 + meta.serialized_size + chunks  # trailer, footer, the three columns: no text
    assert got.bytes_read < 0.03 * size


def test_metadata_of_a_file_that_is_not_parquet_is_one_line(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all, not even close" * 10)
    with pytest.raises(DataprepError, match="no parquet footer"):
        read_metadata(str(bad), *storage_range(str(bad)), COLUMNS)


def test_a_part_of_a_measurement_decides_as_that_part_alone(pool):
    """Documents.take and BandsInMemory.take: the second of three files, cut from one measurement."""
    files = sorted(str(p) for p in pool.glob("*.parquet"))[:3]
    opts = EstimateOptions(min_score=None, val_fraction=0.05)
    m = measure(files, opts, progress=False, bands=True)
    part = np.arange(m.sources[0].rows, m.sources[0].rows + m.sources[1].rows)
    kept = decide(m.docs.take(part), opts, m.bands.take(part)).kept
    assert int((m.docs.token_counts[part][kept] + 1).sum()) == estimate([files[1]], opts, progress=False)["effective_tokens"]
    assert kept.sum() > int(m.decisions.kept[part].sum())  # alone, it keeps what the other two files copy


def test_files_read_are_the_first_and_the_last():
    assert files_read(40, 4) == [0, 1, 2, 39]
    assert files_read(3, 4) == [0, 1, 2]


def test_copies_elsewhere_counts_other_files_holding_the_group():
    group = np.array([0, 0, 0, 3, 4, -1, 3])
    shard = np.array([0, 0, 1, 1, 2, 2, 2])
    assert model.copies_elsewhere(group, shard, 3).tolist() == [1, 1, 1, 1, 0, 0, 1]


def test_the_posterior_recovers_a_law_it_is_given_exactly():
    """P(y) of one of the grid's laws, from many documents: the median curve is that law's curve."""
    k, files = 4, 40
    truth = model.Grid(np.array([0.1]), model.ALPHA_GRID[[10]], model.MU_GRID[[30]], np.ones(1))
    law = model._link_probabilities(truth, k)[:, 0]
    exact = np.cumsum(truth.phi(np.arange(files, dtype=float))[0]) / np.arange(1, files + 1)
    median, low, high = model.survival_band(model.posterior(law, 10**7, k), files)
    assert np.allclose(median, exact, rtol=1e-9)
    median, low, high = model.survival_band(model.posterior(law, 2000, k), files)  # fewer documents: other laws fit
    assert np.all(low <= exact + 1e-9) and np.all(exact <= high + 1e-9)
    assert (high - low)[-1] > 3 * (high - low)[k - 1]  # the laws that fit k files part further out


def test_the_band_widens_with_the_extrapolation():
    median = np.linspace(1.0, 0.5, 40)
    low, high = model.widened(median, median, median, 1.0, 4, 0.0, np.zeros(40))
    assert np.all(high[:4] == median[:4]) and np.all(np.diff((high - low)[3:]) > 0)


def test_unequal_pairs_are_not_alike():
    assert model.pairs_spread_z([10, 11, 9, 10], [300, 300, 300, 300]) < 1
    assert model.pairs_spread_z([0, 1, 0, 30], [300, 300, 300, 300]) > model.EXCHANGEABLE_Z
    assert model.rate_difference_z((0, 300), (30, 300)) > model.EXCHANGEABLE_Z


def test_forecast_of_a_directory_holds_the_real_build_and_is_deterministic(pool, capsys, tmp_path):
    png = tmp_path / "forecast.png"
    argv = ["estimate", pool, "--forecast", "--forecast-shards", "3", "--tokens", "100K", *RULES, "--json"]
    code, out, err = cli(capsys, *argv, "--plot", png)
    assert code == 0, err
    report = json.loads(out)
    assert cli(capsys, *argv)[1] == out  # the same inputs and options: the same bytes
    assert png.stat().st_size > 0
    f = report["forecast"]
    files = sorted(str(p) for p in pool.glob("*.parquet"))
    assert [r["path"] for r in f["read_in_full"]] == [files[0], files[1], files[-1]]
    assert report["effective_tokens"] == estimate([files[0], files[1], files[-1]], EstimateOptions(
        min_score=None, val_fraction=0.05), progress=False)["effective_tokens"]  # the files read, one measurement
    assert [r["shards"] for r in f["curve"]] == list(range(1, 13)) and f["alike"]["alike"]
    assert f["tokens"] == sum(pq.read_table(p, columns=["token_count"]).column(0).to_numpy().sum() + 150 for p in files)
    real = estimate(files, EstimateOptions(min_score=None, val_fraction=0.05), progress=False)["effective_tokens"]
    last = f["curve"][-1]
    assert last["low"] <= real <= last["high"], (last, real)
    assert abs(last["effective_tokens"] / real - 1) < 0.1
    t = f["target"]
    assert t["train_tokens_needed"] == 100_000 and t["shards"] == next(
        r["shards"] for r in f["curve"] if r["train_tokens"] >= 100_000)
    assert t["build_command"] == f"dataprep build --input {pool} --out build-100K --tokens 100K --no-score-filter --val-fraction 0.05"


def test_printed_forecast_says_how_far_it_extrapolates(pool, capsys):
    code, out, _ = cli(capsys, "estimate", pool, "--forecast", "--forecast-shards", "3", "--tokens", "100K", *RULES)
    assert code == 0
    assert "dataset forecast:" in out and "12 files" in out
    assert "measured on 3 files read in full, extrapolated to 12: 4.0x beyond them" in out
    assert "budget: 100.00K tokens seen" in out and "dataprep build --input" in out
    assert "warning" not in out


def test_files_that_are_not_alike_are_named(capsys, tmp_path):
    """Every document seen before comes after all first sightings: later files repeat earlier ones more."""
    d = tmp_path / "sorted"
    generate(d, SynthConfig(docs=150, shards=8, seed=2, dumps=12, repeats_last=True, mean_words=60))
    code, out, _ = cli(capsys, "estimate", d, "--forecast", *RULES)
    assert code == 0
    assert "warning: the files read are not alike" in out
    report = json.loads(cli(capsys, "estimate", d, "--forecast", *RULES, "--json")[1])
    f = report["forecast"]
    assert not f["alike"]["alike"]
    real = estimate([str(d)], EstimateOptions(min_score=None, val_fraction=0.05), progress=False)["effective_tokens"]
    assert f["curve"][-1]["low"] <= real <= f["curve"][-1]["high"]


@pytest.fixture
def hub(big_docs, monkeypatch, tmp_path):
    files = {f"{SUBSET}/{i:03d}_00000.parquet": p.read_bytes() for i, p in enumerate(big_docs)}
    server = FakeHub({REPO: files | {"README.md": b"# fake\n"}})
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    yield server
    server.close()


def test_hub_forecast_fetches_the_files_read_and_a_few_percent_of_the_others(hub, capsys, monkeypatch):
    code, out, err = cli(capsys, "estimate", "--forecast", "--dataset", REPO, "--subset", SUBSET, "--tokens", "200K",
                         *RULES, "--json")
    assert code == 0, err
    f = json.loads(out)["forecast"]
    read = {r["path"] for r in f["read_in_full"]}
    assert read == {f"{SUBSET}/{i:03d}_00000.parquet" for i in (0, 1, 2, 7)}
    sizes = {path: len(data) for path, data in hub.repos[REPO].items() if path.endswith(".parquet")}
    assert all(hub.served[p] == sizes[p] for p in read)  # each downloaded once, whole
    others = [p for p in sizes if p not in read]
    served = sum(hub.served[p] for p in others)
    assert served == f["metadata_bytes"] and 0 < served <= 0.03 * sum(sizes[p] for p in others)
    assert f["target"]["build_command"].startswith(f"dataprep build --dataset {REPO} --subset {SUBSET} --out build-200K")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the files read are cached, the others' ranges cannot be had
    code, _, err = cli(capsys, "estimate", "--forecast", "--dataset", REPO, "--subset", SUBSET, *RULES)
    assert code == 2 and "HF_HUB_OFFLINE=1 forbids" in err and len(err.strip().splitlines()) == 1, err


def test_a_hub_that_ignores_range_requests_is_one_line(hub, capsys):
    hub.faults[f"{SUBSET}/004_00000.parquet"] = "no_range"
    code, _, err = cli(capsys, "estimate", "--forecast", "--dataset", REPO, "--subset", SUBSET, *RULES)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "answered a range request" in err, err


def test_build_shows_the_forecast_beside_each_step(pool, capsys, tmp_path):
    estimate_json = tmp_path / "est.json"
    code, out, _ = cli(capsys, "estimate", pool, "--forecast", "--forecast-shards", "3", *RULES, "--json")
    estimate_json.write_text(out)
    f = json.loads(out)["forecast"]
    budget = f["curve"][4]["train_tokens"]
    code, out, err = cli(capsys, "build", "--input", pool, "--out", tmp_path / "b", "--tokens", budget, "--workers", "1",
                         *RULES, "--forecast", estimate_json)
    assert code == 0, err
    assert "## Forecast and build" in out and "fall within the forecast's band" in out
    meta = json.loads((tmp_path / "b" / "meta.json").read_text())
    assert "forecast_check" not in meta  # printed only: meta.json stays the build's own
    for s in meta["target"]["steps"]:
        assert f"| {s['shard']} | {s['effective_tokens']:,} | {f['curve'][s['shard'] - 1]['effective_tokens']:,} |" in out
    code, out, _ = cli(capsys, "build", "--input", pool, "--out", tmp_path / "c", "--shards", 2, "--workers", "1",
                       "--min-tokens", "5", "--val-fraction", "0.05", "--no-score-filter", "--json", "--forecast",
                       estimate_json)
    check = json.loads(out)["forecast_check"]
    assert [r["shards"] for r in check["rows"]] == [2]
    assert check["differences"] == ["min_tokens is 5 in the build, 0 in the forecast"]


@pytest.mark.parametrize("argv,words", [
    (["--forecast", "--fast"], "does not go with --fast"),
    (["--forecast-shards", "3"], "--forecast-shards goes with --forecast"),
    (["--forecast", "--forecast-shards", "1"], "must be at least 2"),
    (["--forecast", "--epochs", "2"], "--epochs needs --tokens"),
])
def test_bad_forecast_options_are_one_line(pool, capsys, argv, words):
    code, _, err = cli(capsys, "estimate", pool, *argv)
    assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err


def test_synth_dumps_and_repeats_last(tmp_path, capsys):
    truth = generate(tmp_path / "d", SynthConfig(docs=60, shards=4, seed=1, dumps=20, repeats_last=True, mean_words=15))
    copy = np.array([k != "original" for k in truth.kind])
    assert 0 < copy.sum() and not copy[: np.argmax(copy)].any() and copy[np.argmax(copy):].all()  # repeats last
    sizes = np.bincount(np.where(copy, truth.source, np.arange(len(copy))))
    assert sizes.max() >= 5 and (sizes[sizes > 0] == 1).mean() > 0.3  # most pages once, a few many times
    for argv, words in ((["--pool", "9", "--dumps", "3"], "not both"), (["--repeats-last"], "needs pool"),
                        (["--dumps", "0"], "at least 1")):
        code, _, err = cli(capsys, "synth", tmp_path / "x", *argv)
        assert code == 2 and words in err, err


def test_a_plan_by_batch_shape_is_the_forecast_budget(pool, capsys):
    code, out, err = cli(capsys, "estimate", pool, "--forecast", "--forecast-shards", "3", "--params", "1M",
                         "--batch-size", "2", "--iters", "10", "--block-size", "64", *RULES, "--json")
    assert code == 0, err
    report = json.loads(out)
    target = report["forecast"]["target"]
    assert target["tokens"] == 2 * 10 * 64 and "--tokens 1280" in target["build_command"]
    assert report["plan"]["build_command"] == target["build_command"]
