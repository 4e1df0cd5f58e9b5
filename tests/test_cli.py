"""The dataprep command: output modes, training plans, and one clear line for every bad input."""

import json
import re
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataprep_cli.main import main


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, out, err, *words):
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dataprep: "), err
    for w in words:
        assert w in lines[0], (w, lines[0])


def test_json_output_has_the_documented_keys(capsys, edu_shard):
    code, out, err = run(capsys, "estimate", edu_shard[0], "--json", "--params", "124M", "--tokens", "7.3B")
    assert code == 0 and err == ""
    r = json.loads(out)
    for key in (
        "docs", "tokens", "exact_duplicate_docs", "exact_duplicate_tokens", "near_duplicate_docs",
        "near_duplicate_tokens", "boilerplate_tokens", "effective_tokens", "score_histogram", "plan",
    ):
        assert key in r
    assert r["plan"]["tokens_seen"] == 7.3e9
    assert r["plan"]["epochs"] == pytest.approx(7.3e9 / r["effective_tokens"])


def test_terminal_report_and_plot(capsys, edu_shard, tmp_path):
    png = tmp_path / "w.png"
    code, out, err = run(
        capsys, "estimate", edu_shard[0], "--plot", png,
        "--params", "124M", "--batch-size", "16", "--grad-accum", "32", "--block-size", "1024", "--iters", "14000",
    )
    assert code == 0
    assert "effective unique tokens" in out and "token waterfall" in out and "14 bands x 9 rows" in out
    assert "7.34B tokens seen" in out and "verdict" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*tmp*"))


def test_console_script_runs(tmp_path, edu_shard):
    p = subprocess.run(
        [sys.executable, "-m", "dataprep_cli.main", "estimate", str(edu_shard[0]), "--fast", "--json"],
        capture_output=True, text=True,
    )
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["mode"] == "fast"
    missing = subprocess.run([sys.executable, "-m", "dataprep_cli.main", "estimate", str(tmp_path / "nope.parquet")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1


def _write(path, table):
    pq.write_table(table, path)
    return path


@pytest.fixture
def bad_inputs(tmp_path, edu_shard):
    good = edu_shard[0].read_bytes()
    d = {}
    d["missing"] = tmp_path / "missing.parquet"
    (tmp_path / "emptydir").mkdir()
    d["empty dir"] = tmp_path / "emptydir"
    d["not parquet"] = tmp_path / "notes.parquet"
    d["not parquet"].write_text("just some text\n")
    d["zero bytes"] = tmp_path / "zero.parquet"
    d["zero bytes"].write_bytes(b"")
    d["truncated"] = tmp_path / "truncated.parquet"
    d["truncated"].write_bytes(good[: len(good) // 2])
    d["no text column"] = _write(tmp_path / "notext.parquet", pa.table({"body": ["a", "b"], "n": [1, 2]}))
    d["null text"] = _write(tmp_path / "null.parquet", pa.table({"text": ["fine", None, "x"]}))
    d["int text"] = _write(tmp_path / "int.parquet", pa.table({"text": [1, 2, 3]}))
    d["zero rows"] = _write(tmp_path / "rows0.parquet", pa.table({"text": pa.array([], pa.string())}))
    d["bad utf8"] = _write(tmp_path / "utf8.parquet", pa.table({"text": pa.array([b"ok", b"\xff\xfe bad"], pa.binary())}))
    bad = pa.array([b"fine", b"caf\xe9 latin-1"], pa.binary()).view(pa.string())  # skips UTF-8 validation
    d["bad utf8 string"] = _write(tmp_path / "utf8s.parquet", pa.table({"text": bad}))
    d["string score"] = _write(tmp_path / "score.parquet", pa.table({"text": ["a b c"], "score": ["high"]}))
    return d


@pytest.mark.parametrize(
    "case,words",
    [
        ("missing", ["no such file"]),
        ("empty dir", ["no .parquet file"]),
        ("not parquet", ["not a readable parquet"]),
        ("zero bytes", ["0 bytes"]),
        ("truncated", ["truncated.parquet"]),
        ("no text column", ["no column 'text'", "body, n", "--text-column"]),
        ("null text", ["null text at row 1"]),
        ("int text", ["expected strings"]),
        ("zero rows", ["empty shard"]),
        ("bad utf8", ["row 1", "UTF-8"]),
        ("bad utf8 string", ["row 1", "UTF-8"]),
        ("string score", ["'score'", "expected float"]),
    ],
)
def test_bad_input_is_one_clear_line(capsys, bad_inputs, case, words):
    assert_one_line_error(*run(capsys, "estimate", bad_inputs[case]), *words)


def test_binary_text_that_is_valid_utf8_is_accepted(capsys, tmp_path):
    p = _write(tmp_path / "bin.parquet", pa.table({"text": pa.array(["héllo wörld".encode(), b"second doc"], pa.binary())}))
    code, out, err = run(capsys, "estimate", p, "--json")
    assert code == 0 and json.loads(out)["docs"] == 2


def test_text_column_option(capsys, tmp_path):
    p = _write(tmp_path / "body.parquet", pa.table({"body": ["one document here", "another one"]}))
    code, out, _ = run(capsys, "estimate", p, "--text-column", "body", "--json")
    assert code == 0 and json.loads(out)["docs"] == 2


def test_flipped_bytes_never_give_a_traceback(capsys, tmp_path, edu_shard):
    good = bytearray(edu_shard[0].read_bytes())
    rng = np.random.default_rng(1)
    for k in range(6):
        data = bytearray(good)
        for pos in rng.integers(4, len(data) - 8, 20):
            data[pos] ^= 0xFF
        p = tmp_path / f"flip{k}.parquet"
        p.write_bytes(bytes(data))
        code, out, err = run(capsys, "estimate", p, "--json")
        assert code in (0, 2) and "Traceback" not in err
        if code == 2:
            assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args,words",
    [
        (["--tokens", "7B"], ["--params"]),
        (["--params", "124M"], ["--tokens"]),
        (["--params", "12X", "--tokens", "1B"], ["cannot read --params"]),
        (["--params", "124M", "--tokens=2e9B"], ["cannot read --tokens '2e9B'"]),
        (["--params", "124M", "--tokens", "1,5M"], ["cannot read --tokens '1,5M'"]),
        (["--params", "124M", "--tokens", "-5M"], ["cannot read --tokens '-5M'", "positive count"]),
        (["--params", "-5M", "--tokens", "1B"], ["cannot read --params '-5M'", "positive count"]),
        (["--params", "1e308", "--tokens", "1e308"], ["--params 1e308 is more than 1e15"]),
        (["--params", "124M", "--tokens", ""], ["cannot read --tokens ''"]),
        (["--params", "124M", "--batch-size", "4096", "--grad-accum", "4096", "--iters", str(10**9)],
         ["tokens seen (--batch-size x --grad-accum x --block-size x --iters)", "more than 1e15"]),
        (["--params", "124M", "--tokens", "1B", "--iters", "10"], ["not both"]),
        (["--params", "124M", "--batch-size", "0", "--iters", "5"], ["--batch-size must be positive"]),
        (["--threshold", "1.5"], ["--threshold"]),
        (["--plot", "/no/such/dir/x.png"], ["does not exist"]),
    ],
)
def test_bad_options_are_one_clear_line(capsys, fineweb_shard, args, words):
    code, out, err = run(capsys, "estimate", fineweb_shard[0], *args)
    assert_one_line_error(code, out, err, *words)


@pytest.mark.parametrize("command", ["estimate", "build"])
@pytest.mark.parametrize("option", [["--ngram", "0"], ["--num-perm", "1"], ["--boilerplate-min-docs", "1"],
                                    ["--threshold", "0"]])
def test_estimate_and_build_check_dedup_options_alike(capsys, fineweb_shard, tmp_path, command, option):
    where = [fineweb_shard[0]] if command == "estimate" else ["--input", fineweb_shard[0], "--out", tmp_path / "out"]
    assert_one_line_error(*run(capsys, command, *where, *option), option[0])
    assert not (tmp_path / "out").exists()


def test_fast_needs_token_count(capsys, text_shard):
    assert_one_line_error(*run(capsys, "estimate", text_shard[0], "--fast"), "token_count")


def test_synth_command_writes_shards_and_truth(capsys, tmp_path):
    code, out, _ = run(capsys, "synth", tmp_path / "s", "--docs", "50", "--shards", "2", "--truth", tmp_path / "t.json")
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == ["shard_00000.parquet", "shard_00001.parquet"]
    truth = json.loads((tmp_path / "t.json").read_text())
    assert len(truth["kind"]) == 100


def test_fast_says_what_it_measured_and_claims_no_comparison_it_did_not_make(capsys, edu_shard):
    code, out, err = run(capsys, "estimate", edu_shard[0], "--fast", "--params", "1M", "--tokens", "10M")
    assert code == 0, err
    assert "off the exact count" not in out  # its tokens are the token_count column: nothing exact was counted
    assert "--fast read the metadata columns only" in out and "not measured" in out
    assert "what build writes" not in out and "token waterfall (--fast: the filters only" in out
    table = out.split("token waterfall")[1].split("effective unique tokens")[0].splitlines()[3:]
    rows = [re.split(r"\s{2,}", line.strip())[0] for line in table if line.strip()]
    assert "kept" not in rows and "after filters" in rows and "exact-dup" not in rows
    assert "effective unique tokens: at most " in out and "lower bounds" in out
    code, out, _ = run(capsys, "estimate", edu_shard[0], "--fast", "--json")
    stages = [r["stage"] for r in json.loads(out)["waterfall"]]
    assert stages == ["input", "score", "language-score", "min-tokens", "train", "val"]  # only what it measured


def test_the_rule_for_documents_without_a_score_is_stated_where_scores_are(capsys, edu_shard, fineweb_shard):
    from dataprep.text.scores import UNSCORED_RULE

    code, out, _ = run(capsys, "estimate", edu_shard[0], fineweb_shard[0])
    assert code == 0
    mixed = json.loads(run(capsys, "estimate", edu_shard[0], fineweb_shard[0], "--json")[1])
    none = mixed["score_histogram"]["none"]
    assert none["docs"] == fineweb_shard[1].rows_per_file[0]
    assert f"tokens without a score: {none['tokens']:,} " in out and UNSCORED_RULE in out
    code, out, _ = run(capsys, "estimate", fineweb_shard[0])
    assert "no score column" in out and UNSCORED_RULE in out
