"""Token files: raw nanoGPT bins (uint16, or uint32 via meta.json), llm.c shards, data dirs, val fingerprints."""

import hashlib
import json

import numpy as np
import pytest

from dataprep.errors import DataprepError
from dataprep.io.tokens import LLMC_MAGIC, file_digest, find_data, load_tokens


def write_llmc_shard(path, tokens, magic=LLMC_MAGIC, version=1, count=None):
    header = np.zeros(256, dtype="<i4")
    header[:3] = magic, version, len(tokens) if count is None else count
    path.write_bytes(header.tobytes() + np.asarray(tokens, dtype="<u2").tobytes())
    return path


def test_raw_bin_is_uint16_little_endian(tmp_path):
    tokens = np.array([0, 1, 50256, 65535, 7], dtype="<u2")
    tokens.tofile(tmp_path / "train.bin")
    got = load_tokens(tmp_path / "train.bin")
    assert isinstance(got, np.memmap) and got.dtype == np.dtype("<u2")
    assert got.tolist() == tokens.tolist()


def test_meta_json_switches_raw_bins_to_uint32(tmp_path):
    tokens = np.array([5, 70000, 100276, 50256], dtype="<u4")
    tokens.tofile(tmp_path / "train.bin")
    (tmp_path / "meta.json").write_text(json.dumps({"dtype": "uint32", "eot": 100257, "vocab_size": 100277}))
    got = load_tokens(tmp_path / "train.bin")
    assert got.dtype == np.dtype("<u4") and got.tolist() == tokens.tolist()


def test_meta_json_without_dtype_means_uint16(tmp_path):
    np.arange(10, dtype="<u2").tofile(tmp_path / "val.bin")
    (tmp_path / "meta.json").write_text(json.dumps({"eot": 50256, "train_tokens": 0}))
    assert load_tokens(tmp_path / "val.bin").tolist() == list(range(10))


@pytest.mark.parametrize(
    "meta, words",
    [('{"dtype": "int8"}', ["dtype", "int8"]), ("{not json", ["meta.json", "JSON"])],
)
def test_bad_meta_json_is_a_clear_error(tmp_path, meta, words):
    np.arange(10, dtype="<u2").tofile(tmp_path / "train.bin")
    (tmp_path / "meta.json").write_text(meta)
    with pytest.raises(DataprepError) as err:
        load_tokens(tmp_path / "train.bin")
    assert all(w in str(err.value) for w in words) and "\n" not in str(err.value)


def test_raw_size_must_match_the_dtype(tmp_path):
    (tmp_path / "train.bin").write_bytes(b"\x01\x00\x02\x00\x03\x00")  # 3 uint16, not whole uint32s
    (tmp_path / "meta.json").write_text('{"dtype": "uint32"}')
    with pytest.raises(DataprepError, match="whole number of uint32"):
        load_tokens(tmp_path / "train.bin")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataprepError, match="does not exist"):
        load_tokens(tmp_path / "nope.bin")
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(DataprepError, match="empty"):
        load_tokens(tmp_path / "empty.bin")


def test_llmc_shard_is_read_past_its_header(tmp_path):
    tokens = np.random.default_rng(0).integers(0, 50257, 3000)
    path = write_llmc_shard(tmp_path / "fineweb_train_000001.bin", tokens)
    (tmp_path / "meta.json").write_text('{"dtype": "uint32"}')  # raw-bin metadata does not apply to shards
    got = load_tokens(path)
    assert got.dtype == np.dtype("<u2") and len(got) == 3000
    assert got.tolist() == tokens.tolist()


@pytest.mark.parametrize(
    "kwargs, cut, words",
    [
        ({}, 2, ["says 100 tokens", "truncated"]),  # one token short
        ({"count": 150}, 0, ["says 150 tokens", "1324 bytes"]),
        ({"version": 7}, 0, ["version 7"]),
    ],
)
def test_bad_llmc_header_or_size_is_a_clear_error(tmp_path, kwargs, cut, words):
    path = write_llmc_shard(tmp_path / "x_val_000000.bin", np.arange(100), **kwargs)
    if cut:
        path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(DataprepError) as err:
        load_tokens(path)
    assert all(w in str(err.value) for w in words), str(err.value)
    assert "\n" not in str(err.value)


def test_llmc_header_alone_is_too_short(tmp_path):
    path = tmp_path / "short.bin"
    path.write_bytes(np.array([LLMC_MAGIC, 1, 5], dtype="<i4").tobytes())
    with pytest.raises(DataprepError, match="shorter than its 1024-byte header"):
        load_tokens(path)


def test_find_data_nanogpt_dir(tmp_path):
    for name in ("train.bin", "val.bin"):
        np.arange(10, dtype="<u2").tofile(tmp_path / name)
    assert find_data(tmp_path) == ([tmp_path / "train.bin"], tmp_path / "val.bin")


def test_find_data_llmc_shards_sorted(tmp_path):
    for name in ("fw_train_000002.bin", "fw_train_000001.bin", "fw_val_000000.bin"):
        write_llmc_shard(tmp_path / name, np.arange(10))
    train, val = find_data(tmp_path)
    assert [p.name for p in train] == ["fw_train_000001.bin", "fw_train_000002.bin"]
    assert val.name == "fw_val_000000.bin"


def test_find_data_errors_and_val_override(tmp_path):
    with pytest.raises(DataprepError, match="does not exist"):
        find_data(tmp_path / "missing")
    with pytest.raises(DataprepError, match="neither train.bin"):
        find_data(tmp_path)
    np.arange(10, dtype="<u2").tofile(tmp_path / "train.bin")
    with pytest.raises(DataprepError, match="no val file; pass one with --val-bin"):
        find_data(tmp_path)
    other = tmp_path / "other_val.bin"
    np.arange(10, dtype="<u2").tofile(other)
    assert find_data(tmp_path, val_bin=other)[1] == other
    with pytest.raises(DataprepError, match="--val-bin"):
        find_data(tmp_path, val_bin=tmp_path / "nope.bin")


def test_several_val_shards_need_a_choice(tmp_path):
    for name in ("a_train_000001.bin", "a_val_000000.bin", "a_val_000001.bin"):
        write_llmc_shard(tmp_path / name, np.arange(10))
    with pytest.raises(DataprepError, match="2 val shards"):
        find_data(tmp_path)
    assert find_data(tmp_path, val_bin=tmp_path / "a_val_000001.bin")[1].name == "a_val_000001.bin"


def test_file_digest_is_sha256(tmp_path):
    data = np.random.default_rng(1).bytes(3 << 20)  # several read chunks
    (tmp_path / "val.bin").write_bytes(data)
    assert file_digest(tmp_path / "val.bin") == hashlib.sha256(data).hexdigest()


def test_nanogpt_get_batch_works_on_the_bins(tmp_path):
    """The reader's bins are plain nanoGPT bins: np.memmap + random windows, x and y one token apart."""
    tokens = np.arange(5000, dtype=np.uint16) % 50257
    tokens.tofile(tmp_path / "train.bin")
    block_size, batch_size = 32, 4

    def get_batch(data):  # nanoGPT's train.py, in spirit
        ix = np.random.default_rng(0).integers(0, len(data) - block_size, batch_size)
        x = np.stack([data[i : i + block_size].astype(np.int64) for i in ix])
        y = np.stack([data[i + 1 : i + 1 + block_size].astype(np.int64) for i in ix])
        return x, y

    for data in (np.memmap(tmp_path / "train.bin", dtype=np.uint16, mode="r"), load_tokens(tmp_path / "train.bin")):
        x, y = get_batch(data)
        assert x.shape == y.shape == (batch_size, block_size)
        assert (y[:, :-1] == x[:, 1:]).all() and (y[:, -1] == x[:, -1] + 1).all()
