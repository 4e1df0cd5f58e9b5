import io
import math

import pytest

from dataprep.errors import DataprepError
from dataprep.pipeline.plan import Plan, effective_data, parse_count
from dataprep.pipeline.progress import Progress


@pytest.mark.parametrize("text,value", [("124M", 124e6), ("7.3B", 7.3e9), ("2.5e9", 2.5e9), ("1,000", 1000), ("3k", 3000)])
def test_parse_count(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["", "abc", "-5M", "0", "1.2.3B", "inf"])
def test_parse_count_rejects(text):
    with pytest.raises(DataprepError):
        parse_count(text)


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


def test_progress_is_silent_when_disabled():
    out = io.StringIO()
    p = Progress("estimate", total_rows=10, enabled=False, stream=out)
    p.update(10, 100)
    p.done()
    assert out.getvalue() == ""
