"""What README.md and the docs say the commands print is what they print.

Checked here, on generated data:
- docs/build.md's example session: every command in it is run as written, and every output line it
  quotes is compared with what the command printed ("..." stands for lines left out);
- every ``dataprep estimate`` and local ``dataprep build --input`` command quoted in README.md and
  docs/estimate.md runs on generated files of the names it uses and ends well, and the README's list
  of what estimate reports is in what it prints;
- the README's demo: its table's columns are the ones ``compare`` prints, and the estimate files it
  names are the ones the demo's summary reads, one printed line each. The table's numbers are measured by a
  training run of minutes (tests/test_demo.py runs a small demo), so they are not compared.
"""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from dataprep.synth import SynthConfig, generate
from dataprep_cli.main import main

ROOT = Path(__file__).resolve().parent.parent


def code_blocks(doc: str) -> list[list[str]]:
    """The fenced blocks of a markdown file, as lists of lines."""
    text = (ROOT / doc).read_text()
    return [block.split("\n") for block in re.findall(r"^```[^\n]*\n(.*?)\n```", text, flags=re.M | re.S)]


def run(capsys, command: str) -> tuple[int, list[str]]:
    """A quoted command line, run in this process: its exit code and the lines it printed (stdout, unless
    sent to /dev/null, then stderr)."""
    words = shlex.split(command)
    quiet = words[-2:] == [">", "/dev/null"]
    words = words[:-2] if quiet else words
    assert words[0] == "dataprep", command
    code = main(words[1:])
    out, err = capsys.readouterr()
    return code, ([] if quiet else out.splitlines()) + err.splitlines()


def session(doc: str, heading: str) -> list[tuple[str, list[str]]]:
    """The ``$ command`` lines of the block after ``heading``, each with the output lines quoted under it."""
    text = (ROOT / doc).read_text()
    block = text[text.index(heading):].split("```\n", 2)[1]
    steps: list[tuple[str, list[str]]] = []
    for line in block.rstrip("\n").split("\n"):
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


def segments(quoted: list[str]) -> list[list[str]]:
    """The runs of quoted lines between "..." (lines left out), without blank lines at their edges."""
    out, current = [], []
    for line in quoted + ["..."]:
        if line == "...":
            while current and not current[-1]:
                current.pop()
            while current and not current[0]:
                current.pop(0)
            if current:
                out.append(current)
            current = []
        else:
            current.append(line)
    return out


def assert_printed(quoted: list[str], printed: list[str], command: str) -> None:
    """Each run of quoted lines stands in ``printed`` as it is, in the order quoted."""
    at = 0
    for run_ in segments(quoted):
        starts = [i for i in range(at, len(printed) - len(run_) + 1) if printed[i : i + len(run_)] == run_]
        if not starts:
            missing = next((line for line in run_ if line not in printed), run_[0])
            pytest.fail(f"{command}: the docs quote {missing!r}, not printed so (printed:\n" + "\n".join(printed) + ")")
        at = starts[0] + len(run_)


def test_the_build_docs_example_session_prints_what_it_quotes(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    steps = session("docs/build.md", "### Example session")
    assert len(steps) >= 5
    for command, quoted in steps:
        code, printed = run(capsys, command)
        assert code == 0, (command, printed)
        assert_printed(quoted, printed, command)


def _quoted_commands(doc: str, prefix: str) -> list[str]:
    """The command lines of ``doc`` that start with ``prefix`` and name local files (not a usage line's [...])."""
    lines = [line.split("  #")[0].strip() for block in code_blocks(doc) for line in block]
    return [line for line in lines if line.startswith(prefix) and "://" not in line and "[" not in line
            and not _from_the_hub(line)]


def _from_the_hub(command: str) -> bool:
    """A quoted command that reads the Hugging Face hub (run against the loopback hub in test_hub.py and
    test_dataset_forecast.py): it names --dataset, or no local path at all."""
    words = shlex.split(command)
    return "--dataset" in words or not any(w.endswith(".parquet") or "/" in w for w in words[2:])


@pytest.fixture(scope="module")
def named_inputs(tmp_path_factory):
    """The files the quoted commands name: shard.parquet, a directory shards/ of three, and est.json (the
    forecast of shards/, as the README makes it before it hands it to build)."""
    d = tmp_path_factory.mktemp("named")
    generate(d / "shard.parquet", SynthConfig(docs=300, seed=4))
    generate(d / "shards", SynthConfig(docs=150, shards=3, seed=5))
    printed = io.StringIO()
    with redirect_stdout(printed):
        assert main(["estimate", str(d / "shards"), "--forecast", "--tokens", "1M", "--json", "--workers", "1"]) == 0
    (d / "est.json").write_text(printed.getvalue())
    return d


def test_every_quoted_local_estimate_and_build_runs(capsys, named_inputs, monkeypatch):
    monkeypatch.chdir(named_inputs)
    commands = [c for doc in ("README.md", "docs/estimate.md")
                for c in _quoted_commands(doc, "dataprep estimate ") + _quoted_commands(doc, "dataprep build --input ")]
    assert len(commands) >= 4 and any(" build " in c for c in commands), commands
    for command in commands:
        code, printed = run(capsys, command)
        assert code == 0, (command, printed)
        if " build " in command:  # README: "Short of data, it says by how much" (these files are far short)
            assert printed[-1].startswith("dataprep: warning: the train split of") and " short of the " in printed[-1]


def test_the_readme_lists_what_estimate_prints(capsys, named_inputs, monkeypatch):
    monkeypatch.chdir(named_inputs)
    readme = (ROOT / "README.md").read_text()
    command = next(c for c in _quoted_commands("README.md", "dataprep estimate ") if "--params" in c)
    _, printed = run(capsys, command)
    text = "\n".join(printed)
    claims = {"exact GPT-2 tokens": "one <|endoftext|> per document, from tokenizer",
              "the edu-score mix": "edu score mix",
              "near-duplicate mass (MinHash LSH)": "near duplicates: MinHash",
              "boilerplate lines": "boilerplate:",
              "**effective unique tokens**": "effective unique tokens:",
              "token 13-gram diversity": "13-grams are distinct",
              "how many epochs the plan repeats": "epochs over the effective tokens",
              "how many shards it needs": "shards like these"}
    for said, shown in claims.items():
        assert said in readme.replace("\n", " "), said
        assert shown in text, shown


def test_the_readme_says_what_the_demo_prints(tmp_path, named_inputs):
    from dataprep.demo import demo_summary
    from dataprep.io.atomic import write_json
    from dataprep.pipeline.estimate import EstimateOptions, estimate
    from dataprep.training.compare import COLUMNS

    readme = (ROOT / "README.md").read_text()
    table = next(b for b in code_blocks("README.md") if b[0].startswith("run "))
    assert re.split(r"\s{2,}", table[0].strip()) == [name for name, _ in COLUMNS]
    assert [row.split()[0] for row in table[2:]] == ["run-single", "run-multi"]
    named = re.findall(r"`out/demo/(estimate-[\w-]+\.json)`", readme)
    assert len(named) == 2, named
    report = estimate([str(named_inputs / "shard.parquet")], EstimateOptions(), progress=False)
    for name in named:
        write_json(tmp_path / name, report)
    summary = demo_summary(tmp_path).split("\n")
    assert len(summary) == len(named) and "one-line summary of each corpus's estimate" in readme.replace("\n", " ")
    assert all(f"{report['effective_tokens']:,} effective tokens" in line for line in summary)
    assert json.loads((tmp_path / named[0]).read_text())["effective_tokens"] == report["effective_tokens"]


def test_the_api_example_runs_as_written(tmp_path):
    """docs/api.md's example, run as a script, prints what the page says it prints."""
    text = (ROOT / "docs" / "api.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    printed = text.split("It prints:\n\n```\n", 1)[1].split("```", 1)[0]
    (tmp_path / "example.py").write_text(code)
    result = subprocess.run([sys.executable, "example.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout == printed
