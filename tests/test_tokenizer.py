import hashlib

import numpy as np
import pytest
import tiktoken

from dataprep.text import tokenizer
from dataprep.errors import DataprepError
from dataprep.text.tokenizer import GPT2_EOT, GPT2_RANKS, bin_dtype, encode_batch, get_encoding

R50K_URL = "https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken"


def test_gpt2_known_ids():
    enc = get_encoding("gpt2")
    assert enc.encode_ordinary("hello world") == [31373, 995]
    assert enc.eot_token == GPT2_EOT == 50256
    assert enc.n_vocab == 50257
    assert enc.encode("<|endoftext|>", allowed_special="all") == [50256]


def test_bin_dtype_follows_vocabulary():
    assert bin_dtype(50257) == np.uint16
    assert bin_dtype(65536) == np.uint16
    assert bin_dtype(65537) == np.uint32
    assert bin_dtype(get_encoding().n_vocab) == np.uint16


@pytest.mark.parametrize("threads", [1, 2])
def test_encode_batch_matches_per_document(threads):
    enc = get_encoding()
    texts = ["hello world", "", "Ünïcode — “quotes” 123", "a <|endoftext|> inside", "lone \ud800 surrogate"]
    flat, lengths = encode_batch(enc, texts, threads)
    expected = [enc.encode_ordinary(t) for t in texts]
    assert flat.dtype == np.uint32 and lengths.dtype == np.int64
    assert lengths.tolist() == [len(e) for e in expected]
    assert flat.tolist() == [t for e in expected for t in e]
    assert 50256 not in flat.tolist()  # special-token text stays ordinary text
    empty, none = encode_batch(enc, [], threads)
    assert empty.dtype == np.uint32 and len(empty) == 0 and len(none) == 0


def test_corrupt_ranks_file_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "gpt2.tiktoken"
    data = bytearray(GPT2_RANKS.read_bytes())
    data[100] ^= 1
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(tokenizer, "GPT2_RANKS", bad)
    get_encoding.cache_clear()
    tokenizer._bundled_ranks.cache_clear()
    try:
        with pytest.raises(DataprepError, match="sha256"):
            get_encoding("gpt2")
    finally:
        get_encoding.cache_clear()
        tokenizer._bundled_ranks.cache_clear()


def test_tiktoken_download_path_uses_its_cache(tmp_path, monkeypatch):
    """tiktoken's own fetch-and-cache path, served from a local cache entry instead of the network."""
    cache_key = hashlib.sha1(R50K_URL.encode()).hexdigest()
    (tmp_path / cache_key).write_bytes(GPT2_RANKS.read_bytes())
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    get_encoding.cache_clear()
    try:
        r50k = get_encoding("r50k_base")
        ours = get_encoding("gpt2")
        text = "The quick brown fox, 1234 times — naïve café."
        assert r50k.encode_ordinary(text) == ours.encode_ordinary(text)
    finally:
        get_encoding.cache_clear()


def test_unknown_encoding_is_one_line_error(monkeypatch):
    get_encoding.cache_clear()
    with pytest.raises(DataprepError, match="cannot load tokenizer"):
        get_encoding("no_such_encoding")


def test_riptoken_backend_gives_tiktokens_ids(edu_shard):
    pytest.importorskip("riptoken")
    import pyarrow.parquet as pq

    texts = pq.read_table(edu_shard[0])["text"].to_pylist()
    fast = get_encoding("gpt2", "riptoken")
    slow = get_encoding("gpt2")
    for threads in (1, 2):
        a, la = encode_batch(fast, texts, threads)
        b, lb = encode_batch(slow, texts, threads)
        assert np.array_equal(a, b) and np.array_equal(la, lb)


def test_unknown_backend_is_refused():
    with pytest.raises(DataprepError, match="unknown tokenizer backend"):
        get_encoding("gpt2", "sentencepiece")
