"""estimate forecasts build: for the same rules, its effective documents and tokens are what build writes.

Both commands run the one decision core (decide.py); this pins that they also feed it the same
facts and count the result the same way, over corpora and rule sets that exercise every step:
filters, exact and near duplicates (planted, with near copies across shards), the val split and
its decontamination, boilerplate stripping.
"""

from __future__ import annotations

import pytest

from dataprep.pipeline.build import BuildOptions, build
from dataprep.pipeline.estimate import EstimateOptions, estimate
from dataprep.dedup.minhash import LSHParams
from dataprep.synth import SynthConfig, generate

CORPORA = {
    "edu, 3 shards": SynthConfig(docs=400, shards=3, seed=5, exact_rate=0.08, near_rate=0.1,
                                 near_edit_rates=(0.01, 0.03), boilerplate_docs=(3, 60), mean_words=200),
    "plain fineweb, 1 shard": SynthConfig(docs=700, shards=1, seed=6, schema="fineweb", near_rate=0.12,
                                          mean_words=150),
}
RULES = {
    "defaults": {},
    "no score filter, big val": {"min_score": None, "val_fraction": 0.2},
    "score 3.5, min tokens, strip": {"min_score": 3.5, "min_tokens": 150, "strip_boilerplate": True,
                                     "val_fraction": 0.1},
    "language score, loose LSH": {"min_language_score": 0.8, "lsh": LSHParams(threshold=0.5, num_perm=64, ngram=3),
                                  "val_fraction": 0.1},
    "strip, boilerplate in 5+": {"min_score": None, "strip_boilerplate": True, "boilerplate_min_docs": 5,
                                 "val_fraction": 0.05},
}


@pytest.fixture(scope="module", params=list(CORPORA))
def corpus(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("forecast") / "in"
    generate(d, CORPORA[request.param])
    return d


@pytest.mark.parametrize("name", list(RULES))
def test_estimate_equals_what_build_writes(corpus, name, tmp_path):
    rules = RULES[name]
    forecast = estimate([str(corpus)], EstimateOptions(**rules), progress=False)
    meta = build([str(corpus)], tmp_path / "out", BuildOptions(**rules), workers=1, progress=False)
    assert forecast["effective_docs"] == meta["train_docs"] + meta["val_docs"]
    assert forecast["effective_tokens"] == meta["train_tokens"] + meta["val_tokens"]
    assert forecast["waterfall"] == meta["waterfall"]  # every reason, docs and tokens alike
    written = (tmp_path / "out" / "train.bin").stat().st_size + (tmp_path / "out" / "val.bin").stat().st_size
    assert written == 2 * forecast["effective_tokens"]
    removed = {r["stage"]: r["docs"] for r in meta["waterfall"]}
    assert removed["exact-dup"] > 0 and removed["near-dup"] > 0  # the corpus exercises both steps


def test_the_rule_sets_differ_in_what_they_keep(corpus):
    """Guards the test above against option sets that all collapse to the same decisions."""
    kept = {estimate([str(corpus)], EstimateOptions(**r), progress=False)["effective_tokens"] for r in RULES.values()}
    assert len(kept) >= 4
