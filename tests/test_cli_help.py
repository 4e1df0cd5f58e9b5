"""What the command line says before any work: every default its help states is the value the code uses, the
top-level help is written for users, and a misspelled command or option gets that command's usage and a guess."""

from __future__ import annotations

import argparse
import os
import re

import pytest

from dataprep_cli.main import COMMANDS, DESCRIPTION, build_parser, main

STATED = re.compile(r"[(;] ?default:? ([^);:]+)")  # "(default X)", "(default X: why)", "(...; default X)"


def library_defaults() -> dict:
    """(command, dest) -> what the code uses where argparse leaves the option None: the library's defaults."""
    from dataprep.dedup.decide import Rules
    from dataprep.dedup.minhash import LSHParams
    from dataprep.pipeline.budget import TokenTarget
    from dataprep.pipeline.estimate import EstimateOptions
    from dataprep.pipeline.forecast import ForecastOptions
    from dataprep.training.config import GPTConfig, TrainConfig
    from dataprep_cli import source_options

    rules, lsh = Rules(), LSHParams()
    values = {}
    for command in ("estimate", "build"):
        values.update({(command, name): getattr(rules, name) for name in ("min_score", "min_tokens",
                                                                          "boilerplate_min_docs", "val_fraction")})
        values.update({(command, name): getattr(lsh, name) for name in ("threshold", "num_perm", "ngram")})
        values[command, "text_column"] = "text"  # io/reader.py reads text_column or "text"
    for command in ("estimate", "build"):
        values[command, "subset"] = source_options.DEFAULT_SUBSET
    values["estimate", "top_lines"] = EstimateOptions().top_lines
    values["estimate", "forecast_shards"] = ForecastOptions().shards_read
    values["estimate", "epochs"] = TokenTarget.__dataclass_fields__["epochs"].default
    values["build", "epochs"] = TokenTarget.__dataclass_fields__["epochs"].default
    values.update({("train", name): field.default for name, field in TrainConfig.__dataclass_fields__.items()})
    values["train", "vocab_size"] = GPTConfig.vocab_size  # None in TrainConfig: the model's
    return values


def per_preset(stated: str) -> dict:
    """'16 for tiny, 32 for gpt2-124m' -> {'tiny': 16, 'gpt2-124m': 32}."""
    return {preset: int(value) for value, preset in (part.split(" for ") for part in stated.split(", "))}


def described(command: str, dest: str, stated: str, help_text: str, action) -> bool | None:
    """Defaults said in words; None where the option's default is a plain value."""
    from dataprep.training.config import DEFAULT_BATCH, MIN_LR_DIVISOR, PRESETS, WARMUP_PERCENT
    from dataprep.synth import SynthConfig

    if dest == "workers":
        from dataprep.pipeline.engine import make_engine

        return stated == "one per core" and action.default is None and make_engine("local").workers == os.cpu_count()
    if dest == "dataset":
        from dataprep_cli.source_options import DEFAULT_DATASET

        return stated == "when no files are given" and help_text.endswith(f"given: {DEFAULT_DATASET})")
    if (command, dest) == ("estimate", "work"):
        return stated.startswith("a temporary directory") and action.default is None
    if (command, dest) == ("train", "batch_size"):
        return per_preset(stated) == DEFAULT_BATCH
    if (command, dest) == ("train", "block_size"):
        return per_preset(stated) == {name: sizes["block_size"] for name, sizes in PRESETS.items()}
    if (command, dest) == ("train", "min_lr"):
        return stated == f"--lr / {MIN_LR_DIVISOR}"
    if (command, dest) == ("train", "warmup"):
        return stated == f"{WARMUP_PERCENT}% of the steps"
    if (command, dest) == ("synth", "pool"):
        return stated == "no pool, copies at those rates" and SynthConfig().pool is None
    if dest == "ray_address":
        return stated == "start one on this machine" and action.default is None
    if (command, dest) == ("demo", "out"):
        return stated == "a temporary directory" and action.default is None  # run_demo_cmd's mkdtemp
    return None


def same(stated: str, value) -> bool:
    if isinstance(value, bool):
        return stated == ("on" if value else "off")
    try:
        return float(stated) == float(value)
    except (TypeError, ValueError):
        return stated == str(value)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_stated_default_is_the_value_the_code_uses(command):
    library = library_defaults()
    parser = build_parser(command)[1][command]
    checked = 0
    for action in parser._actions:
        help_text = (action.help or "").replace("%%", "%")
        stated = STATED.findall(help_text)
        assert len(stated) == len(re.findall(r"\bdefault\b", help_text)), (action.dest, help_text)
        if not stated:
            continue
        checked += 1
        words = described(command, action.dest, stated[0].strip(), help_text, action)
        if words is not None:
            assert words, (command, action.dest, help_text)
            continue
        # a value argparse passes is the one the code runs with (0 is one; a store_true's False is not)
        passed = action.default is not None and action.default is not False and action.default != argparse.SUPPRESS
        value = action.default if passed else library[command, action.dest]
        assert same(stated[0].strip(), value), (command, action.dest, help_text, value)
    assert checked or command == "compare"  # compare's options have no defaults to state


def test_train_help_states_the_batch_the_code_uses_per_model(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default 16 for tiny, 32 for gpt2-124m, 16 for gpt2-350m)" in text


def test_top_level_help_is_written_for_users(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0 and " ".join(DESCRIPTION.split()) in " ".join(out.split())
    assert "argument parsing" not in out and "``" not in out
    for command in COMMANDS:
        assert f"    {command} " in out


@pytest.mark.parametrize(
    "argv, usage, guess",
    [
        (["estimate", "x.parquet", "--parms", "124M"], "usage: dataprep estimate", "did you mean --params?"),
        (["train", "data", "--out", "run", "--max-iters", "5", "--batchsize", "8"], "usage: dataprep train",
         "did you mean --batch-size?"),
        (["compare", "run", "--out", "c.png", "--jsn"], "usage: dataprep compare", "did you mean --json?"),
        (["trian", "data"], "usage: dataprep [-h]", "did you mean train?"),
    ],
)
def test_a_misspelling_shows_the_usage_meant_and_a_guess(capsys, argv, usage, guess):
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2 and err.startswith(usage) and "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith(guess), err
