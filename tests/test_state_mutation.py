"""Random damage to a growing build's state never gives wrong bytes with exit 0 (bench/state_mutation.py).

Each seed grows a build 1 -> 2 -> 3 shards and cuts it back to 1, damaging the scans, work files,
ledger or outputs (or killing a run at a random write) before each step; every rerun must give the
one-shot bytes, or refuse in one line with nothing foreign touched and recover with ``--overwrite``.
CI runs ``DATAPREP_MUTATION_SEEDS`` seeds (default 4); the bench runs many:

    python bench/state_mutation.py --seeds 200
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import state_mutation as sm  # noqa: E402

SEEDS = int(os.environ.get("DATAPREP_MUTATION_SEEDS", "4"))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("mutation")
    files = sm.make_corpus(root)
    return root, files, sm.one_shots(root, files)


@pytest.mark.parametrize("seed", range(SEEDS))
def test_damaged_state_gives_the_one_shot_bytes_or_one_line(world, seed):
    root, files, refs = world
    outcomes = sm.run_seed(seed, root, files, refs)
    assert len(outcomes) == len(sm.STEPS) - 1
