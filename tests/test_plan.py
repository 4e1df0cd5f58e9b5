import io
import math

import pytest

from dataprep.errors import DataprepError
from dataprep.pipeline.plan import Plan, effective_data, parse_count
from dataprep.pipeline.progress import Progress


@pytest.mark.parametrize("text,value", [
    ("124M", 124_000_000), ("7.3B", 7_300_000_000), ("7300000000", 7_300_000_000), ("7,300,000,000", 7_300_000_000),
    ("7_300_000_000", 7_300_000_000), ("7.3e9", 7_300_000_000), ("7.3E+9", 7_300_000_000), ("2.5e9", 2_500_000_000),
    ("1,000", 1000), ("3k", 3000), ("2K", 2000), ("1.1K", 1100), (".5K", 500), ("2G", 2_000_000_000),
    ("1T", 10**12), (" 124M ", 124_000_000), ("1e15", 10**15), ("1000T", 10**15), (1000, 1000), (7.3e9, 7_300_000_000),
])
def test_count_spellings_taken(text, value):
    got = parse_count(text, "--tokens")
    assert got == value and type(got) is int  # exact: "1.1K" is 1100, not 1100.0000000000002


@pytest.mark.parametrize("text,words", [
    ("2e9B", ["cannot read --tokens '2e9B'"]),  # an exponent and a suffix
    ("1,5M", ["cannot read"]),  # a decimal comma is not read as a thousands separator
    ("1,00", ["cannot read"]), ("1,0000", ["cannot read"]), ("2bn", ["cannot read"]), ("5 M", ["cannot read"]),
    ("1_", ["cannot read"]), ("1__0", ["cannot read"]), ("1.2.3B", ["cannot read"]), ("", ["cannot read"]),
    ("abc", ["cannot read"]), ("nan", ["cannot read"]), ("inf", ["cannot read"]), ("0x10", ["cannot read"]),
    ("-5M", ["cannot read --tokens '-5M'", "positive count"]), ("-5", ["positive count"]),
    ("0", ["--tokens must be at least 1, not 0"]), ("1e-3", ["at least 1"]), ("0.4", ["at least 1"]),
    ("1.5", ["--tokens must be a whole number, not 1.5"]), ("1.0000001K", ["whole number"]),
    ("1e16", ["--tokens 1e16 is more than 1e15"]), ("1001T", ["more than 1e15"]), ("1e308", ["more than 1e15"]),
    ("1e999999999", ["more than 1e15"]), (float("inf"), ["more than 1e15"]), (float("nan"), ["a count like"]),
    (0, ["at least 1"]), (2.5, ["whole number"]),
])
def test_count_spellings_refused(text, words):
    with pytest.raises(DataprepError) as e:
        parse_count(text, "--tokens")
    assert all(w in str(e.value) for w in words), str(e.value)


@pytest.mark.parametrize("make,words", [
    (lambda: Plan(params=1e308, tokens_seen=1e6), ["params (--params)", "more than 1e15"]),
    (lambda: Plan(params=1e6, tokens_seen=0), ["tokens seen (--tokens) must be at least 1"]),
    (lambda: Plan.from_run(1e6, 10**9, 10**9, 1024, 10), ["--batch-size x --grad-accum x --block-size x --iters"]),
    (lambda: Plan.from_run(1e6, 10**400, 1, 1, 1), ["more than 1e15"]),
])
def test_a_plan_checks_its_counts(make, words):
    with pytest.raises(DataprepError) as e:
        make()
    assert all(w in str(e.value) for w in words), str(e.value)


@pytest.mark.parametrize("epochs,ratio", [(2, 0.98), (4, 0.93), (8, 0.83), (13, 0.72), (20, 0.60)])
def test_effective_data_matches_published_ratios(epochs, ratio):
    assert effective_data(1.0, epochs) / epochs == pytest.approx(ratio, abs=0.006)


def test_effective_data_below_one_epoch_is_tokens_seen():
    assert effective_data(100.0, 0.5) == 50.0
    assert effective_data(100.0, 1.0) == 100.0


def test_single_shard_example_from_the_story():
    plan = Plan.from_run(124e6, batch_size=16, grad_accum=32, block_size=1024, iters=14000)
    assert plan.tokens_seen == 14000 * 524288
    c = plan.check(effective_tokens=0.7e9, shards=1)
    assert c["epochs"] == pytest.approx(10.49, abs=0.01)
    assert c["compute_optimal_tokens"] == pytest.approx(2.48e9)
    assert c["shards_for_1_epoch"] == math.ceil(14000 * 524288 / 0.7e9) == 11
    assert c["shards_for_4_epochs"] == 3
    assert c["effective_data_ratio"] < 0.8


def test_plan_on_many_shards_uses_tokens_per_shard():
    c = Plan(params=124e6, tokens_seen=10e9).check(effective_tokens=4e9, shards=4)
    assert c["effective_tokens_per_shard"] == 1e9 and c["shards_for_1_epoch"] == 10


def test_plan_without_effective_tokens_is_refused():
    with pytest.raises(DataprepError):
        Plan(params=1e6, tokens_seen=1e6).check(0, 1)


def test_progress_line_shows_rows_rate_and_eta():
    out = io.StringIO()
    p = Progress("estimate", total_rows=1000, enabled=True, stream=out)
    p.update(250, 5_000_000)
    p.done()
    text = out.getvalue()
    assert "250/1,000 rows (25%)" in text and "MB/s" in text and "ETA" in text and text.endswith("\n")


def test_progress_shows_no_speed_where_no_bytes_are_counted():
    out = io.StringIO()
    p = Progress("estimate --fast", total_rows=10, enabled=True, stream=out, counts_bytes=False)
    p.update(10)
    p.done()
    assert "10/10 rows" in out.getvalue() and "MB/s" not in out.getvalue()


def test_progress_is_silent_when_disabled():
    out = io.StringIO()
    p = Progress("estimate", total_rows=10, enabled=False, stream=out)
    p.update(10, 100)
    p.done()
    assert out.getvalue() == ""
