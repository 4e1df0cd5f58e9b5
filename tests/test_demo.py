import json
import re

import pytest

pytest.importorskip("torch")

from dataprep_cli.main import main  # noqa: E402


def test_demo_runs_end_to_end_and_names_its_runs(tmp_path, capfd):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--iters", "25", "--shards", "3"]) == 0
    printed = capfd.readouterr().out  # the runs train in child processes: their lines are on the real stdout
    for run in ("run-single", "run-multi "):  # each run's progress while it trains, as train prints it
        steps = re.findall(rf"^{run} step +(\d+) \| loss [\d.]+ \| val [\d.]+ \| .* tok/s \| eta \w+$", printed, re.M)
        assert steps == ["25"], printed
    rows = json.loads((out / "compare.json").read_text())
    names = [r["run"] for r in rows]
    assert any("single" in n for n in names) and any("multi" in n for n in names)
    single, multi = rows
    assert single["train_tokens"] < multi["train_tokens"]
    assert single["epochs"] > multi["epochs"]
    assert (out / "compare.png").read_bytes()[:4] == b"\x89PNG"
    assert "figure:" in printed and "effective tokens" in printed
    # Both runs were scored on the same val tokens.
    configs = [json.loads((out / r / "config.json").read_text()) for r in ("run-single", "run-multi")]
    assert configs[0]["val_digest"] == configs[1]["val_digest"]


def test_demo_refuses_a_non_empty_directory(tmp_path, capsys):
    (tmp_path / "x").write_text("keep")
    assert main(["demo", "--out", str(tmp_path)]) == 2
    assert "not empty" in capsys.readouterr().err
