"""estimate on generated shards whose right answers are known."""

from collections import Counter, defaultdict

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from dataprep.pipeline.estimate import EstimateOptions, estimate, full_report, measure
from dataprep.text.normalize import normalize_text
from dataprep.text.tokenizer import get_encoding

from reference import jaccard, shingle_set


@pytest.fixture(scope="module")
def edu(edu_shard):
    path, truth = edu_shard
    texts = pq.read_table(path)["text"].to_pylist()
    enc = get_encoding()
    tokens = np.array([len(t) + 1 for t in enc.encode_ordinary_batch(texts)])
    opts = EstimateOptions(min_score=None, val_fraction=0)  # every planted copy counts: no filter, no val split
    m = measure([str(path)], opts, progress=False)
    return path, truth, texts, tokens, m, full_report(m, opts)


def test_token_count_is_exact_with_one_eot_per_document(edu):
    path, truth, texts, tokens, m, r = edu
    assert r["docs"] == len(texts)
    assert r["tokens"] == int(tokens.sum())
    assert r["token_count_column"] + r["docs"] == r["tokens"]  # the generator writes exact GPT-2 counts
    assert r["text_bytes"] == sum(len(t.encode()) for t in texts)


def test_exact_duplicates_are_the_planted_copies(edu):
    path, truth, texts, tokens, m, r = edu
    planted = [i for i, k in enumerate(truth.kind) if k == "exact"]
    d = m.decisions
    assert np.flatnonzero(d.reason == "exact-dup").tolist() == planted
    assert d.cluster[planted].tolist() == d.cluster[[truth.source[i] for i in planted]].tolist()
    assert r["exact_duplicate_docs"] == len(planted)
    assert r["exact_duplicate_tokens"] == int(tokens[planted].sum())
    # Independent check on the texts themselves.
    seen, dup = set(), []
    for i, t in enumerate(texts):
        key = normalize_text(t)
        if key in seen:
            dup.append(i)
        seen.add(key)
    assert dup == planted


def test_near_copies_found_and_unrelated_never_merged(edu):
    path, truth, texts, tokens, m, r = edu
    cluster = m.decisions.cluster
    family = [i if k == "original" else s for i, (k, s) in enumerate(zip(truth.kind, truth.source))]
    members = defaultdict(set)
    for i in np.flatnonzero(m.decisions.reason != "exact-dup"):
        members[cluster[i]].add(family[i])
    assert all(len(f) == 1 for f in members.values()), "a cluster joined unrelated documents"

    high = found = 0
    for i, k in enumerate(truth.kind):
        if k != "near":
            continue
        j = jaccard(shingle_set(texts[i], 5), shingle_set(texts[truth.source[i]], 5))
        if j >= 0.85:
            high += 1
            found += cluster[i] == cluster[truth.source[i]]
    assert high >= 50
    assert found / high >= 0.95
    removed = m.decisions.reason == "near-dup"
    assert r["near_duplicate_docs"] == int(removed.sum())
    assert r["near_duplicate_tokens"] == int(tokens[removed].sum())
    assert sum(r["cluster_sizes"].values()) == r["near_duplicate_clusters"]


def test_keep_rule_keeps_highest_score_in_each_cluster(edu):
    path, truth, texts, tokens, m, r = edu
    score = pq.read_table(path)["score"].to_numpy()
    d = m.decisions
    for label in np.unique(d.cluster[d.reason == "near-dup"]):
        idx = np.flatnonzero((d.cluster == label) & (d.reason != "exact-dup"))
        best = idx[np.lexsort((idx, -score[idx]))[0]]
        assert d.kept[idx].tolist() == (idx == best).tolist()


def _normalized_lines(texts: list[str]) -> list[list[str]]:
    """Each text's lines through the normalisation rule, written independently with NFD in polars."""
    lines = pl.Series([t.split("\n") for t in texts])
    norm = (
        lines.explode()
        .str.to_lowercase()
        .str.normalize("NFD")
        .str.replace_all(r"\p{Mn}", "")
        .str.replace_all(r"\d", "0")
        .str.replace_all(r"[\p{P}\p{S}\s]+", " ")
        .str.strip_chars()
    ).to_list()
    out, k = [], 0
    for n in lines.list.len().to_list():
        out.append(norm[k : k + n])
        k += n
    return out


def test_boilerplate_lines_and_tokens(edu):
    path, truth, texts, tokens, m, r = edu
    kept = np.flatnonzero(m.decisions.kept)
    norm = _normalized_lines([texts[i] for i in kept])
    df = Counter()
    for lines in norm:
        df.update(set(lines) - {""})
    expected = {line: n for line, n in df.items() if n >= 3}
    planted = {normalize_text(line): len(docs) for line, docs in truth.boilerplate.items()}
    assert planted.items() <= expected.items()
    assert r["boilerplate_lines"] == len(expected)
    top = {normalize_text(item["line"]): item["docs"] for item in r["boilerplate_top"]}
    assert top.items() <= expected.items()

    # Tokens: stripping the lines from every kept document, tokenized again.
    enc = get_encoding()
    removed = 0
    for i, lines in zip(kept, norm):
        raw = texts[i].split("\n")
        keep = [ln for ln, n in zip(raw, lines) if n not in expected]
        if len(keep) != len(raw):
            removed += tokens[i] - 1 - len(enc.encode_ordinary("\n".join(keep)))
    assert r["boilerplate_tokens"] == removed > 0


def test_waterfall_and_effective_tokens(edu):
    path, truth, texts, tokens, m, r = edu
    w = {s["stage"]: s for s in r["waterfall"]}
    assert w["input"]["tokens"] == r["tokens"]
    assert w["exact-dup"]["tokens"] == r["exact_duplicate_tokens"]
    assert w["near-dup"]["tokens"] == r["near_duplicate_tokens"]
    assert w["score"]["docs"] == 0 and w["boilerplate stripped"]["tokens"] == 0  # no filter, nothing stripped
    assert r["effective_tokens"] == r["tokens"] - r["exact_duplicate_tokens"] - r["near_duplicate_tokens"]
    assert r["effective_docs"] == len(texts) - r["exact_duplicate_docs"] - r["near_duplicate_docs"]


def test_strip_boilerplate_takes_its_tokens_from_the_effective_ones(edu):
    path, truth, texts, tokens, m, r = edu
    opts = EstimateOptions(min_score=None, val_fraction=0, strip_boilerplate=True)
    stripped = full_report(m, opts)
    assert stripped["effective_tokens"] == r["effective_tokens"] - r["boilerplate_tokens"]
    assert stripped["effective_docs"] == r["effective_docs"]


def test_min_score_filters_first(edu_shard):
    path, truth = edu_shard
    r = estimate([str(path)], EstimateOptions(min_score=3), progress=False)
    table = pq.read_table(path)
    low = table["int_score"].to_numpy() < 3
    tokens = table["token_count"].to_numpy() + 1
    assert r["filtered_docs"] == int(low.sum()) and r["filtered_tokens"] == int(tokens[low].sum())
    removed = r["filtered_tokens"] + r["exact_duplicate_tokens"] + r["near_duplicate_tokens"]
    assert r["effective_tokens"] == r["tokens"] - removed
    assert estimate([str(path)], EstimateOptions(), progress=False)["effective_tokens"] == r["effective_tokens"]


def test_score_histogram_matches_columns(edu):
    path, truth, texts, tokens, m, r = edu
    ints = pq.read_table(path)["int_score"].to_numpy()
    for k in range(6):
        assert r["score_histogram"][str(k)] == {"docs": int((ints == k).sum()), "tokens": int(tokens[ints == k].sum())}
    assert r["min_score"] == 3
    assert r["tokens_at_or_above_min_score"] == int(tokens[ints >= 3].sum())


def test_diversity_close_to_exact_count(edu):
    path, truth, texts, tokens, m, r = edu
    enc = get_encoding()
    grams, total = set(), 0
    for ids in enc.encode_ordinary_batch(texts):
        for i in range(len(ids) - 12):
            grams.add(tuple(ids[i : i + 13]))
            total += 1
    d = r["diversity"]
    assert d["ngrams"] == total
    assert d["distinct_estimate"] == pytest.approx(len(grams), rel=0.03)
    assert d["distinct_fraction"] == pytest.approx(len(grams) / total, rel=0.03)


def test_fast_mode_reads_metadata_only(edu):
    path, truth, texts, tokens, m, r = edu
    f = estimate([str(path)], EstimateOptions(fast=True, min_score=None), progress=False)
    assert f["mode"] == "fast"
    assert f["tokens"] == r["tokens"]
    assert f["score_histogram"] == r["score_histogram"]
    assert f["near_duplicate_docs"] is None and f["effective_is_upper_bound"]
    assert f["effective_tokens"] == f["tokens"]
    filtered = estimate([str(path)], EstimateOptions(fast=True), progress=False)  # the default score filter
    assert filtered["effective_tokens"] == r["tokens_at_or_above_min_score"]


def test_report_is_deterministic(edu_shard):
    path, _ = edu_shard
    a = estimate([str(path)], EstimateOptions(), progress=False)
    b = estimate([str(path)], EstimateOptions(batch_rows=333), progress=False)
    assert a == b


def test_plain_fineweb_and_text_only_schemas(fineweb_shard, text_shard):
    r = estimate([str(fineweb_shard[0])], EstimateOptions(), progress=False)
    assert r["schema"] == "fineweb" and not r["score_present"] and r["score_histogram"] is None
    assert r["exact_duplicate_docs"] == fineweb_shard[1].kind.count("exact")
    t = estimate([str(text_shard[0])], EstimateOptions(), progress=False)
    assert t["schema"] == "text" and t["token_count_column"] is None
    assert t["exact_duplicate_docs"] == text_shard[1].kind.count("exact")


def test_several_files_together_find_cross_file_copies(tmp_path):
    from dataprep.synth import SynthConfig, generate

    truth = generate(tmp_path / "d", SynthConfig(docs=200, shards=3, seed=9, exact_rate=0.1, near_rate=0.0))
    opts = EstimateOptions(min_score=None)
    cross = sum(1 for i, (k, s) in enumerate(zip(truth.kind, truth.source)) if k == "exact" and s // 200 != i // 200)
    assert cross > 0
    whole = estimate([str(tmp_path / "d")], opts, progress=False)
    assert whole["exact_duplicate_docs"] == truth.kind.count("exact")
    per_file = sum(estimate([f], opts, progress=False)["exact_duplicate_docs"] for f in truth.files)
    assert per_file == truth.kind.count("exact") - cross
    globbed = estimate([str(tmp_path / "d" / "*.parquet")], opts, progress=False)
    assert globbed == whole
