"""Input made to hurt: each test pins a case of the adversarial probe (docs/reliability.md, round 2).

A compression bomb, a ``**`` glob through symlink loops, duplicated column names, negative token
counts, file names and text holding control characters, and files of one-row row groups.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import dataprep.io.reader
from dataprep.io.reader import iter_batches, open_source
from dataprep.synth import SynthConfig, generate
from dataprep_cli.main import main
from expect import one_line


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def build_argv(path, out) -> list:
    return ["build", "--input", path, "--out", out, "--workers", "1", "--no-score-filter", "--val-fraction", "0.2",
            "--json"]


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile") / "shard.parquet"
    generate(path, SynthConfig(docs=300, seed=61))
    return path


def without_files(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "files"}


# ---------------------------------------------------------------- 8. compression bomb

# Runs the command line under an address-space limit (what `ulimit -v` sets) and reports the peak
# address space it used. Thread counts are pinned so that the peak does not grow with the cores.
LIMITED = """
import resource, sys
limit = int(sys.argv[1])
if limit:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from dataprep_cli.main import main
code = main(sys.argv[2:])
peak = [line for line in open("/proc/self/status") if line.startswith("VmPeak:")][0].split()[1]
print("VmPeak", int(peak) * 1024, file=sys.stderr)
sys.exit(code)
"""
PINNED = {"MALLOC_ARENA_MAX": "2", "POLARS_MAX_THREADS": "2", "RAYON_NUM_THREADS": "2", "OMP_NUM_THREADS": "1",
          "OPENBLAS_NUM_THREADS": "1"}


def limited(limit: int, *argv) -> tuple[int, str, int | None]:
    run = subprocess.run([sys.executable, "-c", LIMITED, str(limit), *map(str, argv)], capture_output=True,
                         text=True, timeout=300, env={**os.environ, **PINNED})
    lines = run.stderr.strip().splitlines()
    peaks = [int(line.split()[1]) for line in lines if line.startswith("VmPeak ")]
    return run.returncode, "\n".join(line for line in lines if not line.startswith("VmPeak ")), (peaks or [None])[0]


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the address space from /proc")
def test_a_compression_bomb_is_refused_in_one_line_under_a_memory_limit(shard, tmp_path):
    # One document of one letter, a few KB on disk: tokenizing one endless word is the costliest work
    # per byte there is (docs/reliability.md), far more than the room left under the limit.
    doc = 4 * dataprep.io.reader.BATCH_BYTES
    bomb = tmp_path / "bomb.parquet"
    pq.write_table(pa.table({"text": ["a" * doc]}), bomb, compression="zstd")
    assert bomb.stat().st_size < doc // 1000
    code, err, peak = limited(0, "estimate", shard, "--json")
    assert code == 0 and peak, err
    limit = peak + 16 * doc  # room to read the document several times over, not to work on it
    code, err, _ = limited(limit, "estimate", shard, "--json")
    assert code == 0, err  # the limit leaves a normal shard alone

    code, err, _ = limited(limit, "estimate", bomb, "--json")
    line = one_line(code, err, "bomb.parquet", "of text", "memory")
    assert "on disk" in line  # said to be a bomb: far more text than bytes
    out = tmp_path / "out"
    code, err, _ = limited(limit, *build_argv(bomb, out))
    one_line(code, err, "bomb.parquet", "memory")
    assert not (out / "meta.json").exists()


def test_a_document_too_large_for_the_memory_left_is_refused_by_its_row(tmp_path, monkeypatch, capsys):
    # Inside a row group of small documents the footer cannot tell: the check is on the decoded text.
    monkeypatch.setattr(dataprep.io.reader, "BATCH_BYTES", 1 << 16)
    big = 1 << 20
    texts = [f"small document {i} about nothing" for i in range(20)]
    texts[10] = "word " * (big // 5)
    path = tmp_path / "skewed.parquet"
    pq.write_table(pa.table({"text": texts}), path)
    monkeypatch.setattr(dataprep.io.reader, "available_memory", lambda: big * dataprep.io.reader.MEMORY_PER_TEXT_BYTE // 2)
    one_line(*cli(capsys, "estimate", path, "--json")[::2], "skewed.parquet", "row 10", "memory")
    monkeypatch.setattr(dataprep.io.reader, "available_memory", lambda: big * dataprep.io.reader.MEMORY_PER_TEXT_BYTE * 2)
    assert cli(capsys, "estimate", path, "--json")[0] == 0


def test_batches_hold_a_bounded_amount_of_text_and_the_outputs_do_not_change(shard, tmp_path, monkeypatch, capsys):
    code, out, err = cli(capsys, "estimate", shard, "--json")
    assert code == 0, err
    whole = json.loads(out)
    assert cli(capsys, *build_argv(shard, tmp_path / "whole"))[0] == 0
    texts = pq.read_table(shard)["text"].to_pylist()
    limit = max(len(t.encode()) for t in texts) * 3  # a few documents per batch
    monkeypatch.setattr(dataprep.io.reader, "BATCH_BYTES", limit)
    batches = list(iter_batches([open_source(str(shard))]))
    assert len(batches) >= sum(len(t.encode()) for t in texts) / limit  # the default batch held them all
    for b in batches:
        assert b.rows == 1 or sum(len(t.encode()) for t in b.texts()) <= limit
    assert [t for b in batches for t in b.texts()] == texts
    assert [b.first_row for b in batches] == list(np.cumsum([0] + [b.rows for b in batches[:-1]]))
    code, out, err = cli(capsys, "estimate", shard, "--json")
    assert code == 0, err
    assert without_files(json.loads(out)) == without_files(whole)
    assert cli(capsys, *build_argv(shard, tmp_path / "cut"))[0] == 0  # scanned in the small batches
    for name in ("train.bin", "val.bin", "manifest.parquet", "val_bands.npy"):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


# ---------------------------------------------------------------- 11. one-row row groups


def test_one_row_row_groups_are_read_many_at_a_time(shard, tmp_path, capsys):
    # Each one-row group used to be its own read and its own batch: 1.6 ms of per-batch work a row.
    tiny = tmp_path / "tiny.parquet"
    pq.write_table(pq.read_table(shard), tiny, row_group_size=1)
    rows = pq.ParquetFile(tiny).metadata.num_row_groups
    assert rows == pq.read_metadata(shard).num_rows
    batch_rows = 64
    batches = list(iter_batches([open_source(str(tiny))], batch_rows=batch_rows))
    assert len(batches) == math.ceil(rows / batch_rows)
    reports = []
    for path in (shard, tiny):
        code, out, err = cli(capsys, "estimate", path, "--json")
        assert code == 0, err
        reports.append(without_files(json.loads(out)))
    assert reports[0] == reports[1]


# ---------------------------------------------------------------- 7. symlink loops under **


def test_a_double_star_glob_through_symlink_loops_ends_and_finds_each_file_once(shard, tmp_path):
    root = tmp_path / "data"
    (root / "a" / "b").mkdir(parents=True)
    for rel in ("one.parquet", "a/two.parquet", "a/b/three.parquet"):
        (root / rel).write_bytes(shard.read_bytes())
    (root / "loop1").symlink_to(".")
    (root / "loop2").symlink_to(".")
    (root / "a" / "up").symlink_to("..")
    script = (f"import os, sys; os.chdir({str(tmp_path)!r}); from dataprep.io.reader import resolve_paths; "
              "print('\\n'.join(resolve_paths([sys.argv[1]])))")
    # glob.glob followed both links at every level: 2**depth paths, no end in sight.
    for pattern in ("data/**/*.parquet", str(root) + "/**/*.parquet", "./data/**/t*.parquet"):
        run = subprocess.run([sys.executable, "-c", script, pattern], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        found = run.stdout.split()
        assert len(found) == len({os.path.realpath(os.path.join(tmp_path, f)) for f in found})
        names = sorted(os.path.basename(f) for f in found)
        assert names == (["three.parquet", "two.parquet"] if "/t*" in pattern
                         else ["one.parquet", "three.parquet", "two.parquet"])


def test_the_glob_matches_what_glob_glob_matches_where_there_are_no_symlinks(shard, tmp_path, monkeypatch):
    import glob

    for rel in ("x.parquet", "d/y.parquet", "d/e/z.parquet", "d/.hidden/h.parquet", ".top/t.parquet"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    for pattern in ("**/*.parquet", "d/**/*.parquet", "d/**", "./**/*.parquet", str(tmp_path) + "/**/*.parquet",
                    "**/.hidden/*.parquet", "d/*/z.parquet", "*.parquet", "d/**/", "**"):
        files = sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))
        assert [p for p in dataprep.io.reader._glob(pattern) if os.path.isfile(p)] == files, pattern


# ---------------------------------------------------------------- 10. duplicated column names


@pytest.mark.parametrize("column", ["text", "score", "id"])
def test_a_duplicated_column_that_would_be_read_is_one_line(tmp_path, capsys, column):
    texts = ["one two three", "four five six"]
    arrays = {"text": pa.array(texts), "score": pa.array([3.5, 4.0]), "id": pa.array(["a", "b"])}
    names = ["text", "score", "id", column]
    path = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays([arrays[n] for n in names], names=names), path)
    one_line(*cli(capsys, "estimate", path, "--json")[::2], "dup.parquet", f"'{column}' appears 2 times")
    one_line(*cli(capsys, *build_argv(path, tmp_path / "out"))[::2], f"'{column}' appears 2 times")


def test_a_duplicated_column_that_is_never_read_is_no_obstacle(tmp_path, capsys):
    path = tmp_path / "urls.parquet"
    table = pa.Table.from_arrays([pa.array(["one two three", "four five"]), pa.array(["u", "v"]), pa.array(["w", "x"])],
                                 names=["text", "url", "url"])
    pq.write_table(table, path)
    code, out, err = cli(capsys, "estimate", path, "--json")
    assert code == 0 and json.loads(out)["docs"] == 2, err


# ---------------------------------------------------------------- 11. token_count


def test_a_negative_token_count_is_refused_in_full_mode_too(shard, tmp_path, capsys):
    table = pq.read_table(shard)
    counts = table["token_count"].to_numpy().copy()
    counts[7] = -counts[7] - 1
    path = tmp_path / "negative.parquet"
    pq.write_table(table.set_column(table.schema.get_field_index("token_count"), "token_count", pa.array(counts)),
                   path)
    for mode in ([], ["--fast"]):
        one_line(*cli(capsys, "estimate", path, "--json", *mode)[::2], "'token_count'", "at row 7", "negative")


def test_null_token_counts_leave_the_column_sum_out_rather_than_short(shard, tmp_path, capsys):
    table = pq.read_table(shard)
    counts = table["token_count"].to_pylist()
    counts[3] = None
    path = tmp_path / "nulls.parquet"
    pq.write_table(table.set_column(table.schema.get_field_index("token_count"), "token_count",
                                    pa.array(counts, pa.int64())), path)
    code, out, err = cli(capsys, "estimate", path, "--json")
    assert code == 0, err
    assert json.loads(out)["token_count_column"] is None  # it used to be the sum with -1 for the null
    one_line(*cli(capsys, "estimate", path, "--json", "--fast")[::2], "token_count is null at row 3")


# ---------------------------------------------------------------- 11. names and text with control characters


def test_a_file_name_with_a_newline_and_escape_codes_is_printed_escaped(tmp_path, capsys):
    path = tmp_path / "evil\nname\x1b[31m\u202e.parquet"
    pq.write_table(pa.table({"body": ["no text column here"]}), path)
    for argv in (["estimate", path], build_argv(path, tmp_path / "out")):
        code, _, err = cli(capsys, *argv)
        line = one_line(code, err, "no column 'text'")
        assert "\x1b" not in err and "\u202e" not in err
        assert "evil\\nname\\x1b[31m\\u202e.parquet" in line


def test_text_from_the_data_reaches_the_terminal_escaped(tmp_path, capsys):
    # A boilerplate line is printed in the human report: an ESC sequence in it could clear the screen.
    bait = "\x1b[2J\x1b[Hall clear\u202e"
    rng = np.random.default_rng(3)
    words = np.array("alpha beta gamma delta epsilon zeta theta iota kappa lambda sigma omega".split())
    texts = [" ".join(rng.choice(words, 40)) + f"\n{bait}\n" + " ".join(rng.choice(words, 40)) for _ in range(8)]
    path = tmp_path / "bait.parquet"
    pq.write_table(pa.table({"text": texts}), path)
    code, out, err = cli(capsys, "estimate", path)
    assert code == 0, err
    assert "all clear" in out
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\x1b[2J\\x1b[Hall clear\\u202e" in out
