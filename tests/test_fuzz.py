"""Fuzzed bad input never gives a traceback, a hang, or an output that looks complete.

Every input class of bench/fuzz_report.py (the one copy of each generator) goes through
``dataprep estimate FILE --json`` and ``dataprep build --input FILE ...`` in this process; each
input must give a correct result (exit 0, valid JSON that passes the class's checks) or one clear
error line (exit 2, ``dataprep: ...`` naming the file, no meta.json left by build), within 60 s
(``time_limit``, a SIGALRM per input).

The budget is ``DATAPREP_FUZZ_EXAMPLES`` inputs per class (default 15; class 8 gets a fifth of it)
and ``DATAPREP_FUZZ_BIG_MB`` for class 8's single document (default 8 MB; the report uses 100):

    DATAPREP_FUZZ_EXAMPLES=200 python -m pytest tests/test_fuzz.py
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dataprep.io.reader

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
import fuzz_report as fz  # noqa: E402

EXAMPLES = int(os.environ.get("DATAPREP_FUZZ_EXAMPLES", "15"))
BIG_MB = float(os.environ.get("DATAPREP_FUZZ_BIG_MB", "8"))

seeds = st.integers(min_value=0, max_value=2**32 - 1)


@pytest.fixture(autouse=True)
def no_hang(request):
    """A hang fails the test (SIGALRM after 60 s) instead of stalling CI. Fuzzed tests are skipped
    here: ``fz.judge`` puts each of their inputs under its own 60 s alarm."""
    if hasattr(request.function, "hypothesis"):
        yield
        return
    with fz.time_limit():
        yield


def fuzz(examples: int):
    # derandomize: the same inputs on every run, so a failure in CI reproduces locally.
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None)


def assert_sound(name: str, seed: int, big_mb: float = BIG_MB) -> None:
    with tempfile.TemporaryDirectory(prefix="fuzz-") as d:
        case = fz.make_case(name, seed, Path(d), big_mb)
        kind, why = fz.judge(case, Path(d))
    assert kind != fz.FAIL, f"class {name}, seed {seed}: {why}"


SMALL_CLASSES = [n for n in fz.CLASSES if not n.startswith("8 ")]


@pytest.mark.parametrize("name", SMALL_CLASSES, ids=[n.split()[0] for n in SMALL_CLASSES])
@fuzz(EXAMPLES)
@given(seed=seeds)
def test_bad_input_gives_a_result_or_one_clear_line(name, seed):
    assert_sound(name, seed)


@fuzz(max(1, EXAMPLES // 5))
@given(seed=seeds)
def test_one_enormous_document_is_counted_exactly(seed):
    assert_sound("8 one enormous document", seed)


# ---------------------------------------------------------------- the bugs the fuzzer found, pinned


def run(*argv) -> fz.Run:
    return fz.cli(*argv)


def assert_one_clear_line(r: fz.Run, *words: str) -> None:
    assert r.code == 2, r.err
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dataprep: ") and "internal error" not in lines[0], r.err
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_estimate_and_build_refuse_an_id_that_is_not_utf8(tmp_path):
    ids = pa.array([b"a", b"b", b"caf\xe9"], pa.binary()).view(pa.string())  # written without validation
    path = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"text": ["one doc", "two doc", "three doc"], "id": ids}), path)
    assert_one_clear_line(run(*fz.estimate_cmd(path)), "id at row 2", "UTF-8")  # ids pick the val split
    assert_one_clear_line(run(*fz.build_cmd(path, tmp_path / "out")), "id at row 2", "UTF-8")
    assert not (tmp_path / "out" / "meta.json").exists()


@pytest.mark.parametrize("values,words", [
    (pa.array([1, 2, 7]), ["'int_score' holds 7 at row 2", "0..5"]),
    (pa.array([1, -3, 2]), ["'int_score' holds -3 at row 1"]),
    (pa.array([1, 2, 2**63], pa.uint64()), ["'int_score'", "not in range"]),
])
def test_int_score_outside_0_to_5_is_refused(tmp_path, values, words):
    # It used to fall outside every histogram bin: the report lost those documents silently.
    path = tmp_path / "scores.parquet"
    pq.write_table(pa.table({"text": ["a b", "c d", "e f"], "int_score": values}), path)
    assert_one_clear_line(run(*fz.estimate_cmd(path)), *words)
    assert_one_clear_line(run(*fz.build_cmd(path, tmp_path / "out")), *words)


@pytest.fixture
def live_file(tmp_path):
    """A 60-document shard in 6 row groups, and a different valid shard to swap in."""
    table = pq.read_table(fz.base_shard(0))
    path = tmp_path / "live.parquet"
    pq.write_table(table, path, row_group_size=10)
    other = tmp_path / "other.parquet"
    pq.write_table(pq.read_table(fz.base_shard(1)), other, row_group_size=10)
    return path, other


def swap_in(new: Path, path: Path) -> None:
    """Replace ``path`` the way careful writers do: write aside, then rename over it."""
    tmp = path.with_suffix(".tmp")
    shutil.copyfile(new, tmp)
    os.replace(tmp, path)


def test_file_replaced_between_estimate_passes_is_an_error(live_file):
    # Replaced after the rows pass, before the boilerplate pass: the report used to mix two files.
    path, other = live_file
    wire = fz.Tripwire(opening=3, after_batches=0, change=lambda: swap_in(other, path))
    with fz.tripwire_installed(wire):
        r = run(*fz.estimate_cmd(path))
    assert wire.opened >= 3
    assert_one_clear_line(r, "changed while being read")


@pytest.mark.parametrize("stamped", [True, False], ids=["local", "no stat (as for a URL)"])
def test_file_whose_text_column_changes_type_is_an_error(live_file, tmp_path, monkeypatch, stamped):
    # The batches were read with the first footer's schema: an int text column reached the tokenizer.
    # Without a stat to compare (remote files), the footer read again must catch it.
    path, _ = live_file
    if not stamped:
        monkeypatch.setattr(dataprep.io.reader, "_stamp", lambda p: None)
    ints = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"text": list(range(60))}), ints)
    wire = fz.Tripwire(opening=2, after_batches=0, change=lambda: swap_in(ints, path))
    with fz.tripwire_installed(wire):
        r = run(*fz.estimate_cmd(path))
    assert_one_clear_line(r, "live.parquet", "changed while being read" if stamped else "expected strings")


def test_build_of_a_file_deleted_mid_read_leaves_nothing_complete(live_file, tmp_path):
    path, _ = live_file
    out = tmp_path / "out"
    with fz.tripwire_installed(fz.Tripwire(opening=2, after_batches=1, change=path.unlink)):
        r = run(*fz.build_cmd(path, out))
    assert_one_clear_line(r, "changed while being read")
    assert not (out / "meta.json").exists()


def test_damaged_page_with_a_checksum_is_an_error(tmp_path):
    path = tmp_path / "crc.parquet"
    pq.write_table(pq.read_table(fz.base_shard(0)), path, compression="none", write_page_checksum=True)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01  # inside the text pages: still valid UTF-8, so only the checksum can tell
    path.write_bytes(bytes(data))
    assert_one_clear_line(run(*fz.estimate_cmd(path)), "crc.parquet", "checksum")


def test_dictionary_text_gives_the_same_report_as_plain_strings(tmp_path):
    texts = pq.read_table(fz.base_shard(0))["text"].to_pylist()
    texts = texts + texts[:10]  # shared values, as a dictionary is meant for
    plain, encoded = tmp_path / "plain.parquet", tmp_path / "dict.parquet"
    pq.write_table(pa.table({"text": texts}), plain)
    pq.write_table(pa.table({"text": pa.array(texts).dictionary_encode()}), encoded)
    a, b = run(*fz.estimate_cmd(plain)), run(*fz.estimate_cmd(encoded))
    assert a.code == b.code == 0
    assert fz.without_paths(json.loads(a.out)) == fz.without_paths(json.loads(b.out))
    assert json.loads(b.out)["exact_duplicate_docs"] >= 10


def test_wordless_documents_are_exact_duplicates_of_each_other_never_near(tmp_path):
    # docs/estimate.md: normalised text "" for all four, so three are exact duplicates of the first.
    texts = ["", "   \n\t", "!!! ... ???", "🙂 🎉", "東京 大学", "Москва"]
    path = tmp_path / "w.parquet"
    pq.write_table(pa.table({"text": texts}), path)
    r = json.loads(run(*fz.estimate_cmd(path)).out)
    assert (r["exact_duplicate_docs"], r["near_duplicate_docs"], r["effective_docs"]) == (3, 0, 3)
    out = tmp_path / "out"
    assert run(*fz.build_cmd(path, out)).code == 0
    reasons = pq.read_table(out / "manifest.parquet")["reason"].to_pylist()
    assert reasons == [None, "exact-dup", "exact-dup", "exact-dup", None, None]


def test_the_report_script_counts_and_fails_on_failures(capsys, monkeypatch):
    # A class whose every input fails must make the script exit 1 and show up in the table.
    def broken(c):
        return fz.Case(c.write("x.parquet", pa.table({"text": pa.array(np.array(["a"]))})), estimate=fz.ERROR)

    monkeypatch.setitem(fz.CLASSES, "99 always wrong", broken)
    assert fz.main_report(["--examples", "2", "--only", "99", "7"]) == 1
    out = capsys.readouterr().out
    assert "| 99 always wrong | 2 | 0 | 0 | 2 |" in out
    assert "| 7 zero rows / zero bytes / header only | 2 | 0 | 2 | 0 |" in out
