"""Boilerplate tokens counted from the one tokenization (boilerplate.py), against stripping and tokenizing again."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dataprep.pipeline.estimate
from dataprep.dedup import boilerplate
import dataprep.pipeline.scan
from dataprep.dedup.boilerplate import (
    line_occurrences,
    line_tokens,
    occurrence_tokens,
    raw_line_hashes,
    removed_tokens,
    strip_lines,
)
from dataprep.pipeline.estimate import EstimateOptions, estimate
from dataprep.text.hashing import hash_batch
from dataprep.text.normalize import normalize_batch
from dataprep.synth import SynthConfig, generate
from dataprep.text.tokenizer import encode_batch, get_encoding, token_byte_lengths


def counted(texts: list[str], drop: list[str]) -> np.ndarray:
    """Tokens each text loses, by the per-line counts, when the lines normalising like ``drop`` go."""
    enc = get_encoding()
    text = pa.array(texts, type=pa.large_string())
    nb = normalize_batch(text)
    hashes, docs, slot = line_occurrences(nb, hash_batch(nb), 0)
    flat, lengths = encode_batch(enc, texts, 1)
    per_line = line_tokens(text, flat, lengths, token_byte_lengths(enc))
    drop_hashes = np.unique(raw_line_hashes(drop)[0])
    return removed_tokens(hashes, docs, occurrence_tokens(per_line, slot, len(hashes)), drop_hashes, lengths)


def exact(texts: list[str], drop: list[str]) -> np.ndarray:
    """The same, by stripping the lines and tokenizing what is left, as build --strip-boilerplate does."""
    enc = get_encoding()
    stripped, _ = strip_lines(texts, np.unique(raw_line_hashes(drop)[0]))
    return np.array([len(enc.encode_ordinary(a)) - len(enc.encode_ordinary(b)) for a, b in zip(texts, stripped)])


def test_line_tokens_count_each_line_with_its_newline():
    enc = get_encoding()
    texts = ["Alpha beta.\nGamma.\nDelta", "", "one line", "ends with a newline\n", "\n\nafter blanks"]
    text = pa.array(texts)
    flat, lengths = encode_batch(enc, texts, 1)
    per_line = line_tokens(text, flat, lengths, token_byte_lengths(enc))
    want = []
    for t in texts:
        lines = t.split("\n")
        for i, line in enumerate(lines):
            # A line's own tokens and its newline; the last of several takes the newline before it.
            n = len(enc.encode_ordinary(line)) + (len(lines) > 1)
            want.append(n)
    assert per_line.tolist() == want
    # Per document: every token once, plus the newline the last line shares with the one before.
    starts = np.concatenate([[0], np.cumsum([len(t.split("\n")) for t in texts])])
    sums = [int(per_line[a:b].sum()) for a, b in zip(starts[:-1], starts[1:])]
    assert sums == [n + (t.count("\n") > 0) for n, t in zip(lengths.tolist(), texts)]


def test_a_document_whose_tokens_miscount_its_bytes_does_not_shift_the_next():
    enc = get_encoding()
    texts = ["Alpha beta\ngamma", "Delta\nepsilon zeta\neta"]
    flat, lengths = encode_batch(enc, texts, 1)
    right = token_byte_lengths(enc)
    wrong = right.copy()
    wrong[flat[0]] += 3  # as if the first document's first token spelled three more bytes
    good = line_tokens(pa.array(texts), flat, lengths, right)
    bad = line_tokens(pa.array(texts), flat, lengths, wrong)
    assert bad[2:].tolist() == good[2:].tolist()  # the second document's three lines


@pytest.mark.parametrize("text,drop", [
    ("Home | About\nThe article itself.\nCopyright 2024 Example", ["home about", "copyright 0000 example"]),
    ("Body first.\nShare this post\nLast words.", ["share this post"]),
    ("Body.\nFooter one\nFooter two", ["footer one", "footer two"]),  # a run at the end: the newline before it goes too
    ("Only boilerplate\nAnd more", ["only boilerplate", "and more"]),  # everything goes
    ("\nHeader after a blank line\nBody.", ["header after a blank line"]),
    ("Body.\n    Indented footer", ["indented footer"]),
    ("HEADER\nheader\nBody, header twice.", ["header"]),  # a line repeated in one document goes each time
])
def test_removed_tokens_match_retokenizing_on_known_cases(text, drop):
    assert counted([text], drop).tolist() == exact([text], drop).tolist()


def test_whitespace_merged_across_a_line_end_is_the_known_difference():
    # GPT-2 tokenizes "\n\n\n" as "\n\n" + "\n": the first newline of the pair belongs to the
    # stripped line, the second to the blank line kept, so the per-line sum counts one token more.
    text, drop = "Menu\n\n\nBody.", ["menu"]
    assert counted([text], drop)[0] == exact([text], drop)[0] + 1


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """Generated documents with planted boilerplate, re-laid out the ways real text is:
    indented lines, blank lines around them, trailing spaces, Windows line ends."""
    path = tmp_path_factory.mktemp("bp") / "shard.parquet"
    truth = generate(path, SynthConfig(docs=600, seed=3, boilerplate_lines=8, boilerplate_docs=(20, 60)))
    texts = pq.read_table(path)["text"].to_pylist()
    rng = np.random.default_rng(0)
    styles = [
        lambda t: t,
        lambda t: t.replace("\n", "\n\n"),
        lambda t: t.replace("\n", "\n    "),
        lambda t: t.replace("\n", "  \n"),
        lambda t: t.replace("\n", "\r\n"),
        lambda t: "\n" + t + "\n",
    ]
    return [styles[k](t) for k, t in zip(rng.integers(0, len(styles), len(texts)), texts)], list(truth.boilerplate)


def test_removed_tokens_close_to_retokenizing_on_messy_layout(messy):
    texts, planted = messy
    got, want = counted(texts, planted), exact(texts, planted)
    stripped = want > 0
    assert stripped.sum() >= 200
    assert (got[~stripped] == 0).all()
    assert np.abs(got - want).max() <= 2  # a merged newline or space at a line end
    assert abs(int(got.sum()) - int(want.sum())) <= 0.005 * want.sum()


def test_estimate_tokenizes_each_document_once(edu_shard, monkeypatch):
    path, truth = edu_shard
    seen = []

    def counting(enc, texts, threads=2):
        seen.append(len(texts))
        return encode_batch(enc, texts, threads)

    monkeypatch.setattr(dataprep.pipeline.scan, "encode_batch", counting)  # the scan's pass, and a second, if any
    r = estimate([str(path)], EstimateOptions(), workers=1, progress=False)  # in this process, where counting is
    assert r["boilerplate_docs"] > 0 and r["boilerplate_tokens"] > 0
    assert sum(seen) == r["docs"]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from(list("ab \n\n\t.é中🙂")), max_size=40), min_size=1, max_size=12),
       st.integers(1, 5))
def test_line_tokens_in_parts_equal_the_whole(texts, part):
    enc = get_encoding()
    text = pa.array(texts, type=pa.large_string())
    flat, lengths = encode_batch(enc, texts, 1)
    whole = boilerplate.line_tokens_of(text, flat, lengths, token_byte_lengths(enc))
    before, boilerplate.LINE_TOKEN_DOCS = boilerplate.LINE_TOKEN_DOCS, part
    try:
        assert np.array_equal(line_tokens(text, flat, lengths, token_byte_lengths(enc)), whole)
    finally:
        boilerplate.LINE_TOKEN_DOCS = before


@given(st.lists(st.integers(0, 40), max_size=60), st.lists(st.integers(0, 40), max_size=20))
@settings(max_examples=200, deadline=None)
def test_in_sorted_is_membership(values, hashes):
    """The binary search that picks boilerplate places answers as np.isin does, on any sizes (none too)."""
    v = np.array(values, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    h = np.unique(np.array(hashes, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    assert np.array_equal(boilerplate.in_sorted(v, h), np.isin(v, h))


@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 9)), max_size=80), st.integers(1, 4))
@settings(max_examples=200, deadline=None)
def test_line_counts_merged_from_parts_are_those_of_the_whole(lines, parts):
    """Counting each part's lines and merging the counts (as estimate and build do, a shard at a time)
    gives the counts of the whole corpus, whatever the cut."""
    hashes = np.array([h for h, _ in lines], dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    docs = np.array([d for _, d in lines], dtype=np.int64)
    kept = np.arange(10) % 3 != 0
    cuts = np.linspace(0, 10, parts + 1).astype(int)  # parts of the documents, each its own lines
    merged = (np.zeros(0, np.uint64), np.zeros(0, np.int64))
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        mine = (docs >= lo) & (docs < hi)
        merged = boilerplate.merge_counts(merged, boilerplate.count_lines(hashes[mine], docs[mine], kept))
    whole = boilerplate.count_lines(hashes, docs, kept)
    assert np.array_equal(merged[0], whole[0]) and np.array_equal(merged[1], whole[1])
