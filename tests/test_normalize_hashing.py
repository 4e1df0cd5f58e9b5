import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from dataprep.hashing import doc_digests, hash_batch
from dataprep.normalize import normalize_batch, normalize_text

from reference import word_hash, words


def test_normalisation_rule():
    assert normalize_text("Héllo, WÖRLD!  It's 2024\t— “naïve” café.") == "hello world it s 0000 naive cafe"
    assert normalize_text("...!!!") == ""
    assert normalize_text("Ünïcödé\n\nlines") == "unicode lines"


def test_batch_layout_keeps_documents_and_lines():
    nb = normalize_batch(pa.array(["Ab c\n\nD-e", "", "!!!", "x  y\nz"]))
    assert bytes(nb.data) == b"ab c d e x y z "
    assert nb.doc_lines.tolist() == [0, 2, 2, 2, 4]
    offs = nb.doc_offsets
    docs = [bytes(nb.data[offs[i] : offs[i + 1]]) for i in range(4)]
    assert docs == [b"ab c d e ", b"", b"", b"x y z "]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=60), min_size=1, max_size=6))
def test_word_hashes_match_reference(texts):
    nb = normalize_batch(pa.array(texts, type=pa.large_string()))
    h = hash_batch(nb)
    for d, t in enumerate(texts):
        got = h.word_hashes[h.doc_words[d] : h.doc_words[d + 1]].tolist()
        assert got == [word_hash(w) for w in words(t)]


def test_digests_equal_exactly_when_normalised_text_is_equal():
    texts = ["Hello World.", "hello   world", "HELLO, WORLD!", "hello worlds", ""]
    d = doc_digests(normalize_batch(pa.array(texts)))
    assert (d[0] == d[1]).all() and (d[0] == d[2]).all()
    assert not (d[0] == d[3]).all()
    assert not (d[0] == d[4]).all()


def test_line_hashes_ignore_case_and_punctuation():
    nb = normalize_batch(pa.array(["Subscribe now!\nbody one", "SUBSCRIBE, now\nbody two"]))
    lh = hash_batch(nb).line_hashes
    assert lh[0] == lh[2]
    assert lh[1] != lh[3]
    assert len(np.unique(lh)) == 3
