"""Shared generated data: small FineWeb-Edu-like shards with planted answers."""

from __future__ import annotations

import signal

import pytest

from dataprep.synth import SynthConfig, generate

# The tests that press Ctrl-C need commands that hear it. A shell starts a background job (`cmd &`)
# with SIGINT ignored, and the commands the tests start would inherit that and run on to the end.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def edu_shard(tmp_path_factory):
    """One FineWeb-Edu-like shard and its truth: 1500 docs, near copies from Jaccard ~0.95 to ~0.4."""
    path = tmp_path_factory.mktemp("edu") / "shard.parquet"
    cfg = SynthConfig(docs=1500, seed=11, exact_rate=0.06, near_rate=0.12, near_edit_rates=(0.005, 0.01, 0.03, 0.1))
    truth = generate(path, cfg)
    return path, truth


@pytest.fixture(scope="session")
def fineweb_shard(tmp_path_factory):
    """Plain FineWeb schema: no score columns."""
    path = tmp_path_factory.mktemp("fw") / "fineweb.parquet"
    truth = generate(path, SynthConfig(docs=400, seed=5, schema="fineweb"))
    return path, truth


@pytest.fixture(scope="session")
def text_shard(tmp_path_factory):
    """Only a text column."""
    path = tmp_path_factory.mktemp("txt") / "text.parquet"
    truth = generate(path, SynthConfig(docs=300, seed=6, schema="text"))
    return path, truth
