"""Damage a growing build's kept state at random and check that every rerun is right or refuses.

In the spirit of SQLite's and DuckDB's corruption tests: a build grows 1 -> 2 -> 3 shards and is
cut back to 1. Before each step, a seeded generator picks files of the output directory (the scans
in ``.state``, the work files in ``.work``, the ledger, the outputs) and truncates, deletes,
swaps, bit-flips or replaces them, or kills a run at a random write so that work files and a
half-done swap are left behind. After each rerun, one of two outcomes must hold:

- exit 0 and the bytes of a one-shot build of the shards asked for, or
- exit 2 with one line on stderr, every file that the damage made foreign (no longer what dataprep
  wrote) untouched; then the same command with ``--overwrite`` must give the one-shot bytes.

Never wrong bytes with exit 0, never an internal error (exit 1), never a hang (SIGALRM after
``TIME_LIMIT`` seconds). ``tests/test_state_mutation.py`` runs a few seeds; this script runs many
and prints the outcomes:

    python bench/state_mutation.py --seeds 200
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
import tempfile
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np

from dataprep.io.storage import Store
from dataprep.pipeline.build import BuildOptions, build
from dataprep.synth import SynthConfig, generate
from dataprep_cli.main import main
from fuzz_report import time_limit  # a hang raises past the CLI's catch-all

OUTPUTS = ("train.bin", "val.bin", "meta.json", "manifest.parquet", "val_bands.npy", "report.md")
RULES = ("--no-score-filter", "--val-fraction", "0.1", "--strip-boilerplate", "--workers", "1")  # as BuildOptions below
STEPS = (1, 2, 3, 1)  # shards asked for at each step: grow twice, then cut back
OPERATIONS = ("truncate", "delete", "swap", "flip", "replace", "kill")
TIME_LIMIT = 120


def make_corpus(root: Path) -> list[str]:
    truth = generate(root / "in", SynthConfig(docs=120, shards=3, seed=91, pool=300, boilerplate_docs=(2, 8)))
    return truth.files


def run(files: list[str], out: Path, *extra: str) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err), time_limit(TIME_LIMIT):
        code = main(["build", "--input", *files, "--out", str(out), *RULES, *extra])
    return code, err.getvalue()


def candidates(out: Path) -> list[Path]:
    """Every file of the build directory that a mutation may hit, in a stable order."""
    return sorted(p for p in out.rglob("*") if p.is_file())


def mutate(rng: np.random.Generator, out: Path, files: list[str]) -> tuple[str, dict[Path, bytes]]:
    """One random mutation; returns what it did and the top-level files it made foreign (changed by it,
    so no longer what dataprep wrote), with their bytes."""
    before = {p: p.read_bytes() for p in out.iterdir() if p.is_file()}
    what = _mutate(rng, out, files)
    if what.startswith("kill"):  # what changed, dataprep wrote
        return what, {}
    after = {p: p.read_bytes() for p in out.iterdir() if p.is_file()}
    return what, {p: data for p, data in after.items() if p in before and before[p] != data}


def _mutate(rng: np.random.Generator, out: Path, files: list[str]) -> str:
    op = OPERATIONS[rng.integers(len(OPERATIONS))]
    if op == "kill":
        return f"kill at write {_kill_at_random_write(rng, out, files)}"
    paths = candidates(out)
    if not paths:
        return "nothing to mutate"
    target = paths[rng.integers(len(paths))]
    if op == "truncate":
        os.truncate(target, int(rng.integers(0, max(1, target.stat().st_size))))
    elif op == "delete":
        target.unlink()
    elif op == "swap":
        other = paths[rng.integers(len(paths))]
        data, other_data = target.read_bytes(), other.read_bytes()
        target.write_bytes(other_data)
        other.write_bytes(data)
        return f"swap {_rel(target, out)} {_rel(other, out)}"
    elif op == "flip":
        data = bytearray(target.read_bytes())
        for i in rng.integers(0, max(1, len(data)), size=min(len(data), int(rng.integers(1, 200)))):
            data[i] ^= 0xFF
        target.write_bytes(bytes(data))
    else:
        target.write_bytes(b"someone else's file\n")
    return f"{op} {_rel(target, out)}"


def _kill_at_random_write(rng: np.random.Generator, out: Path, files: list[str]) -> int:
    """Run the next step's build and interrupt it at a random write (as a kill would stop it)."""
    at = int(rng.integers(1, 40))
    writer = Store.writer
    count = [0]

    def killing_writer(self, *args, **kwargs):
        count[0] += 1
        if count[0] == at:
            raise KeyboardInterrupt
        return writer(self, *args, **kwargs)

    Store.writer = killing_writer
    try:  # the library, not the command, whose Ctrl-C handler ends the process
        build(files, out, BuildOptions(min_score=None, val_fraction=0.1, strip_boilerplate=True), workers=1,
              progress=False)
    except KeyboardInterrupt:
        pass
    finally:
        Store.writer = writer
    return at


def _rel(p: Path, out: Path) -> str:
    return str(p.relative_to(out))


def check_step(out: Path, files: list[str], reference: Path, foreign: dict[Path, bytes]) -> str:
    """Rerun and judge; returns the outcome's name, raises AssertionError on a violation."""
    code, err = run(files, out)
    for path, data in foreign.items():
        assert path.exists() and path.read_bytes() == data, f"{path.name}: a file dataprep did not write was touched"
    if code == 0:
        same_bytes(out, reference)
        return "one-shot bytes"
    lines = err.strip().splitlines()
    assert code == 2, f"exit {code}: {err.strip()[-500:]}"
    assert len(lines) == 1 and lines[0].startswith("dataprep: ") and "internal error" not in lines[0], err
    code, err = run(files, out, "--overwrite")
    assert code == 0, f"--overwrite did not recover (exit {code}): {err.strip()[-500:]}"
    same_bytes(out, reference)
    return "refused, --overwrite recovered"


def same_bytes(out: Path, reference: Path) -> None:
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), f"{name} differs from the one-shot build"


def one_shots(root: Path, files: list[str]) -> dict[int, Path]:
    refs = {}
    for n in sorted(set(STEPS)):
        refs[n] = root / f"one-shot-{n}"
        code, err = run(files[:n], refs[n])
        assert code == 0, err
    return refs


def run_seed(seed: int, root: Path, files: list[str], refs: dict[int, Path]) -> list[tuple[str, str]]:
    """One growth sequence with a mutation before each step after the first; (mutation, outcome) per step."""
    rng = np.random.default_rng(seed)
    out = root / f"seed-{seed}"
    shutil.rmtree(out, ignore_errors=True)
    code, err = run(files[: STEPS[0]], out)
    assert code == 0, err
    results = []
    for n in STEPS[1:]:
        what, foreign = mutate(rng, out, files[:n])
        try:
            results.append((what, check_step(out, files[:n], refs[n], foreign)))
        except AssertionError as exc:
            raise AssertionError(f"seed {seed}, {what}, then {n} shard(s): {exc}") from None
    shutil.rmtree(out, ignore_errors=True)
    return results


def main_(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--first-seed", type=int, default=0)
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="mutation-"))
    try:
        files = make_corpus(root)
        refs = one_shots(root, files)
        outcomes: Counter = Counter()
        operations: Counter = Counter()
        failures = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            try:
                for what, outcome in run_seed(seed, root, files, refs):
                    outcomes[outcome] += 1
                    operations[what.split()[0]] += 1
            except AssertionError as exc:
                failures.append(str(exc))
        print(f"seeds {args.first_seed}..{args.first_seed + args.seeds - 1}, {len(STEPS) - 1} mutated steps each; "
              f"load average {os.getloadavg()[0]:.2f}")
        print("| outcome | steps |\n|---|---:|")
        for outcome, count in sorted(outcomes.items()):
            print(f"| {outcome} | {count} |")
        print(f"| violation | {len(failures)} |")
        print("\nmutations: " + ", ".join(f"{k} {v}" for k, v in sorted(operations.items())))
        for f in failures:
            print("FAIL", f)
        return 1 if failures else 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main_())
