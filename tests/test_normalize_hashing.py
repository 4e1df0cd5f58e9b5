import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from dataprep.text.hashing import doc_digests, hash_batch
from dataprep.text.normalize import normalize_batch, normalize_text

from reference import normalize, word_hash, words

# Scripts and punctuation whose case and decomposition rules are stable across Unicode versions.
TEXT = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0, max_codepoint=0x24F, exclude_categories=("Cs",)),
        st.characters(min_codepoint=0x370, max_codepoint=0x4FF, categories=("Lu", "Ll", "Nd", "Mn")),
        st.characters(min_codepoint=0x2000, max_codepoint=0x206F, categories=("Zs", "Pd", "Pi", "Pf", "Po")),
        st.sampled_from(["\u0301", "\u0308", "é", "İ", "ﬁ", "٣", "中", "文", "ß", "Σ", "\u00a0", "\n", "\r", "\u00ad",
                         "\u200d", "\u200b", "\ufeff"]),
    ),
    max_size=80,
)


def test_normalisation_rule():
    assert normalize_text("Héllo, WÖRLD!  It's 2024\t— “naïve” café.") == "hello world it s 0000 naive cafe"
    assert normalize_text("...!!!") == ""
    assert normalize_text("Ünïcödé\n\nlines") == "unicode lines"
    assert normalize_text("soft\u00adware zero\u200bwidth") == "software zerowidth"


@settings(max_examples=150, deadline=None)
@given(TEXT)
def test_normalize_text_matches_reference(text):
    assert normalize_text(text) == normalize(text)


def test_batch_layout_keeps_documents_and_lines():
    nb = normalize_batch(pa.array(["Ab c\n\nD-e", "", "!!!", "x  Y\nz"]))
    lines = [bytes(nb.data[a:b]) for a, b in zip(nb.line_offsets[:-1], nb.line_offsets[1:])]
    assert lines == [b"ab c", b"", b"d e", b"", b"   ", b"x  y", b"z"]
    assert nb.doc_lines.tolist() == [0, 3, 4, 5, 7]


@settings(max_examples=80, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=6))
def test_word_hashes_match_reference(texts):
    h = hash_batch(normalize_batch(pa.array(texts, type=pa.large_string())))
    for d, t in enumerate(texts):
        got = h.word_hashes[h.doc_words[d] : h.doc_words[d + 1]].tolist()
        assert got == [word_hash(w) for w in words(t)]


def test_digests_equal_exactly_when_normalised_text_is_equal():
    texts = ["Hello World.", "hello   world", "HELLO,\n\nWORLD!", "hello worlds", "", "   "]
    d = doc_digests(hash_batch(normalize_batch(pa.array(texts))))
    assert (d[0] == d[1]).all() and (d[0] == d[2]).all()
    assert not (d[0] == d[3]).all()
    assert not (d[0] == d[4]).all()
    assert (d[4] == d[5]).all()


def test_line_hashes_ignore_case_spacing_and_punctuation():
    h = hash_batch(normalize_batch(pa.array(["Subscribe now!\nbody one", "SUBSCRIBE,   now\nbody two\n\n"])))
    lh = h.line_hashes
    has_words = np.diff(h.line_words) > 0
    assert has_words.tolist() == [True, True, True, True, False, False]
    assert lh[0] == lh[2]
    assert lh[1] != lh[3]
    assert len(np.unique(lh[has_words])) == 3
