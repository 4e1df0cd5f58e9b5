"""The ``dataprep build`` command that meets an estimate's training plan, as estimate reports it.

The same rules (every option that differs from its default, written back by ``rule_argv``), the
same inputs, and ``--tokens`` set to what the run sees: build takes the inputs in order until the
train split holds it. When the files estimated fall short and are files of one directory that holds
more, the command takes that directory (a shard is usually estimated alone, out of many).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import fields
from pathlib import Path

from dataprep.dedup.decide import Rules
from dataprep.errors import flag
from dataprep.pipeline.budget import TokenTarget
from dataprep.pipeline.inputs import Inputs
from dataprep.pipeline.plan import REPEAT_EPOCHS
from dataprep.tables import exact_count, plural

# Options of EstimateOptions that a build takes too, besides the rules (the tokenizer's is --tokenizer).
SHARED = ("text_column", "tokenizer_backend")


def rule_argv(opts) -> list[str]:
    """The rules and shared options of ``opts`` that differ from their defaults, as command-line arguments."""
    argv: list[str] = []
    for f in fields(Rules):
        value, default = getattr(opts, f.name), f.default_factory() if callable(f.default_factory) else f.default
        if f.name == "lsh":
            argv += [a for k in ("num_perm", "threshold", "ngram") if getattr(value, k) != getattr(default, k)
                     for a in (flag(k), f"{getattr(value, k)}")]
        elif value != default:
            argv += _written(f.name, value)
    for name in SHARED:
        default = next(f.default for f in fields(opts) if f.name == name)
        if getattr(opts, name) != default:
            argv += ["--tokenizer" if name == "tokenizer_backend" else flag(name), f"{getattr(opts, name)}"]
    return argv


def _written(name: str, value) -> list[str]:
    if name == "min_score" and value is None:
        return ["--no-score-filter"]
    if isinstance(value, bool):
        return [flag(name)] if value else []
    return [flag(name), f"{value}"]


def build_command(feed: Inputs, opts, report: dict) -> tuple[str, str | None]:
    """The build that meets ``report``'s plan (estimate's report of ``feed`` under ``opts``), and a note on its inputs."""
    plan = report["plan"]
    inputs, note = _inputs(feed), None
    if plan["epochs_for_input"] is None or plan["epochs_for_input"] > 1:
        home = _one_directory(feed)
        more = _parquet_files(home) if home else 0
        if more > plan["shards_in_input"]:
            inputs, note = ["--input", home], _directory_note(plan, more)
        else:
            note = _short_note(plan, report["effective_is_upper_bound"])
    return budget_command(inputs, TokenTarget(tokens=plan["tokens_seen"]), opts), note


def budget_command(source: list[str], target: TokenTarget, opts) -> str:
    """``dataprep build`` of ``source`` (its inputs as command-line options) with ``opts``'s rules, taking
    files in order until the train split holds ``target``'s budget."""
    tokens = exact_count(int(target.tokens))
    argv = ["dataprep", "build", *source, "--out", f"build-{tokens}", "--tokens", tokens]
    if target.epochs != TokenTarget.__dataclass_fields__["epochs"].default:
        argv += ["--epochs", f"{target.epochs:g}"]
    return shlex.join(argv + rule_argv(opts))


def _inputs(feed: Inputs) -> list[str]:
    if feed.lazy is not None:
        return list(feed.lazy.as_options)
    return ["--input", *(feed.given if len(feed) == len(feed.paths) else feed.paths[: len(feed)])]


def _one_directory(feed: Inputs) -> str | None:
    """The directory all the (local) files estimated lie in, if one does."""
    if feed.lazy is not None:
        return None
    paths = feed.paths[: len(feed)]
    homes = {os.path.dirname(p) or "." for p in paths}
    return homes.pop() if len(homes) == 1 and all(os.path.isfile(p) for p in paths) else None


def _parquet_files(directory: str) -> int:
    return sum(1 for p in Path(directory).rglob("*.parquet") if p.is_file())


def _estimated(plan: dict) -> str:
    return "the file estimated" if plan["shards_in_input"] == 1 else f"the {plan['shards_in_input']:,} files estimated"


def _directory_note(plan: dict, files: int) -> str:
    """Where the build takes the files of the estimated ones' directory, and whether they will do."""
    need = plan["shards_for_1_epoch"]
    enough = (f"by the verdict above, about {need:,} such files meet the plan" if need <= files else
              f"by the verdict above, the plan needs about {need:,} such files, more than it holds: the build will "
              "fall short and say by how much")
    return (f"--input is the directory of {_estimated(plan)}: its {files:,} parquet files are taken in sorted order "
            f"as long as the budget needs more; {enough}")


def _short_note(plan: dict, upper_bound: bool) -> str:
    """What to add when the files estimated fall short; ``--epochs`` only where it would meet the plan
    (known only when the train split was measured, not bounded, and not past REPEAT_EPOCHS)."""
    more = max(1, plan["shards_for_1_epoch"] - plan["shards_in_input"])
    train = f"{'at most ' if upper_bound else ''}{plan['train_tokens']:,}"
    note = (f"the train split of {_estimated(plan)} is {train} tokens, short of the {plan['tokens_seen']:,} seen: add "
            f"about {plural(more, 'more similar file')} to --input (the build says by how much it falls short)")
    epochs = plan["epochs_for_input"]
    if not upper_bound and epochs is not None and epochs <= REPEAT_EPOCHS:
        note += f", or add --epochs {epochs} to repeat each token up to {epochs} times"
    return note
