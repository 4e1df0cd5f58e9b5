"""Comparing runs: the summary rows, the val-file guard, the figure and the table. No torch needed."""

import argparse
import json

import pytest

from dataprep.training.compare import compare, format_table, load_run
from dataprep.plots import runs_figure
from dataprep.errors import DataprepError
from dataprep_cli.train_cmd import add_compare

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_run(root, name, val_losses, train_tokens=1000, tokens_per_eval=400, digest="a" * 64):
    """A run directory as the trainer writes it: evals every 400 tokens, a train loss at each, one warning."""
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"train_tokens": train_tokens, "val_digest": digest}))
    lines = []
    for i, val in enumerate(val_losses):
        tokens = i * tokens_per_eval
        lines.append({"step": i * 10, "tokens": tokens, "epoch": tokens / train_tokens, "lr": 1e-3,
                      "train_loss": None if i == 0 else 5.0 - i, "val_loss": val})
        if i == 1:
            lines.append({"step": 10, "epoch": 0.4, "warning": "something to ignore"})
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    return run


def test_rows_find_the_best_val_and_the_rise_after(tmp_path):
    one_file = make_run(tmp_path, "one_file", [5.0, 4.0, 3.5, 3.7, 3.9])
    shards = make_run(tmp_path, "shards", [5.0, 4.0, 3.4, 3.2, 3.1], train_tokens=100_000)
    rows = compare([one_file, shards], tmp_path / "cmp.png")
    a, b = rows
    assert a["run"] == "one_file" and a["train_tokens"] == 1000
    assert a["best_val_loss"] == 3.5 and a["best_tokens"] == 800 and a["best_epoch"] == pytest.approx(0.8)
    assert a["final_val_loss"] == 3.9 and a["rise_since_best"] == pytest.approx(0.4)
    assert a["tokens_seen"] == 1600 and a["epochs"] == pytest.approx(1.6)
    assert b["best_val_loss"] == 3.1 and b["rise_since_best"] == 0 and b["best_tokens"] == 1600
    assert (tmp_path / "cmp.png").read_bytes()[:8] == PNG_MAGIC
    assert not list(tmp_path.glob(".*tmp*"))


def test_runs_on_different_val_files_are_refused_unless_allowed(tmp_path):
    a = make_run(tmp_path, "a", [5.0, 4.0], digest="1" * 64)
    b = make_run(tmp_path, "b", [5.0, 3.0], digest="2" * 64)
    with pytest.raises(DataprepError) as err:
        compare([a, b], tmp_path / "x.png")
    message = str(err.value)
    assert "different val files" in message and "--allow-different-val" in message and "\n" not in message
    assert "a: 111111111111" in message and "b: 222222222222" in message
    assert not (tmp_path / "x.png").exists()
    rows = compare([a, b], tmp_path / "x.png", allow_different_val=True)
    assert [r["best_val_loss"] for r in rows] == [4.0, 3.0]


def test_figure_marks_each_runs_epoch_boundaries(tmp_path):
    runs = [load_run(make_run(tmp_path, "small", [5, 4, 3, 3.5, 4], train_tokens=500)),  # 1600 tokens: 3 epochs
            load_run(make_run(tmp_path, "big", [5, 4, 3], train_tokens=10_000))]  # 800 tokens: none
    ax = runs_figure(["small", "big"], runs).axes[0]
    dotted = [line for line in ax.lines if line.get_linestyle() == ":"]
    assert sorted(line.get_xdata()[0] for line in dotted) == [500, 1000, 1500]
    styles = {line.get_label(): line.get_linestyle() for line in ax.lines if not line.get_label().startswith("_")}
    assert styles == {"small val": "-", "small train": "--", "big val": "-", "big train": "--"}


def test_format_table_plain_and_markdown(tmp_path):
    rows = compare([make_run(tmp_path, "r1", [5.0, 4.25, 4.5])], tmp_path / "t.png")
    plain = format_table(rows).splitlines()
    assert plain[0].split()[:2] == ["run", "unique"] and set(plain[1]) == {"-", " "} and plain[2].startswith("r1")
    assert "4.2500" in plain[2] and "+0.2500" in plain[2] and "1.00K" in plain[2]
    md = format_table(rows, markdown=True).splitlines()
    assert md[0].startswith("| run | unique train tokens |") and md[1].startswith("|---|")
    assert md[2].startswith("| r1 | 1.00K |")


def test_run_without_evals_and_duplicate_names(tmp_path):
    a = make_run(tmp_path / "x", "run", [5.0])
    b = make_run(tmp_path / "y", "run", [4.0])
    rows = compare([a, b], tmp_path / "d.png")
    assert [r["run"] for r in rows] == [str(a), str(b)]
    assert rows[0]["rise_since_best"] == 0
    assert "-" in format_table([{**rows[0], "best_val_loss": None, "rise_since_best": None}])


@pytest.mark.parametrize(
    "case, words",
    [("not a run", "is not a training run"), ("bad suffix", "use a .png"), ("no out dir", "does not exist")],
)
def test_bad_inputs_are_one_line_errors(tmp_path, case, words):
    run = make_run(tmp_path, "run", [5.0, 4.0])
    out = tmp_path / "c.png"
    if case == "not a run":
        (tmp_path / "empty").mkdir()
        run = tmp_path / "empty"
    elif case == "bad suffix":
        out = tmp_path / "c.txt"
    else:
        out = tmp_path / "missing" / "c.png"
    with pytest.raises(DataprepError) as err:
        compare([run], out)
    assert words in str(err.value) and "\n" not in str(err.value)


def parse(*argv):
    p = argparse.ArgumentParser(prog="dataprep")
    add_compare(p.add_subparsers(dest="command", required=True))
    return p.parse_args(["compare", *map(str, argv)])


def test_cli_compare_outputs(tmp_path, capsys):
    a = make_run(tmp_path, "a", [5.0, 4.0], digest="1" * 64)
    b = make_run(tmp_path, "b", [5.0, 3.0], digest="2" * 64)
    args = parse(a, b, "--out", tmp_path / "c.png", "--allow-different-val", "--json")
    assert args.run(args) == 0
    assert [r["run"] for r in json.loads(capsys.readouterr().out)] == ["a", "b"]
    args = parse(a, "--out", tmp_path / "c.png", "--markdown")
    assert args.run(args) == 0
    out = capsys.readouterr().out
    assert out.startswith("| run |") and "figure written to" in out
    args = parse(a, b, "--out", tmp_path / "c.png")
    with pytest.raises(DataprepError, match="different val files"):
        args.run(args)


def test_a_half_written_last_line_is_skipped_but_a_broken_middle_is_an_error(tmp_path):
    run = make_run(tmp_path, "live", [5.0, 4.0, 3.0])
    with open(run / "metrics.jsonl", "a") as f:
        f.write('{"step": 30, "tok')  # a run still writing
    assert compare([run], tmp_path / "l.png")[0]["final_val_loss"] == 3.0
    lines = (run / "metrics.jsonl").read_text().splitlines()
    (run / "metrics.jsonl").write_text("\n".join([lines[0], "garbage", *lines[1:]]) + "\n")
    with pytest.raises(DataprepError, match="line 2 is not JSON"):
        compare([run], tmp_path / "l.png")


def _set_line(run, number: int, text: str) -> None:
    lines = (run / "metrics.jsonl").read_text().splitlines()
    lines[number - 1] = text
    (run / "metrics.jsonl").write_text("\n".join(lines) + "\n")


def _edit_record(run, number: int, **changes) -> None:
    record = json.loads((run / "metrics.jsonl").read_text().splitlines()[number - 1])
    record.update(changes)
    _set_line(run, number, json.dumps({k: v for k, v in record.items() if v != "DROP"}))


MALFORMED = {  # what a hand edit, another tool or a damaged disk leaves; each used to be an internal error
    "config a list": (lambda r: (r / "config.json").write_text("[1, 2]"), "config.json: not a JSON object"),
    "config train_tokens text": (lambda r: (r / "config.json").write_text('{"train_tokens": "many"}'),
                                 "'train_tokens' is 'many'"),
    "config val_digest number": (lambda r: (r / "config.json").write_text('{"val_digest": 7}'), "'val_digest' is 7"),
    "config not UTF-8": (lambda r: (r / "config.json").write_bytes(b'{"train_tokens": "\xff"}'),
                         "config.json: not UTF-8"),
    "metrics line a number": (lambda r: _set_line(r, 2, "12"), "line 2 is not a JSON object"),
    "metrics val_loss text": (lambda r: _edit_record(r, 4, val_loss="low"), "line 4: 'val_loss' is 'low'"),
    "metrics tokens missing": (lambda r: _edit_record(r, 1, tokens="DROP"), "line 1: 'tokens' is None"),
    "metrics step a bool": (lambda r: _edit_record(r, 5, step=True), "line 5: 'step' is True"),
    "metrics not UTF-8": (lambda r: (r / "metrics.jsonl").write_bytes(b'{"step": 1, "tokens": "\xfe"}\n'),
                          "metrics.jsonl: not UTF-8"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_cli_compare_on_malformed_run_files_is_one_line(tmp_path, capsys, case):
    from dataprep_cli.main import main

    run = make_run(tmp_path, "run", [5.0, 4.0, 3.5, 3.7])  # lines 1-2 and 4-5 metrics, line 3 a warning
    damage, words = MALFORMED[case]
    damage(run)
    code = main(["compare", str(run), "--out", str(tmp_path / "c.png")])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("dataprep: "), err
    assert "internal error" not in err and words in lines[0], (words, lines[0])
    assert not (tmp_path / "c.png").exists()
