"""The benchmark corpora, made on first use and cached in bench/out/.

  synth     ``dataprep synth`` shards (generated text: planted copies and boilerplate),
            ``--shards`` x ``--docs`` documents; 18,000 documents are about 49 MB of text
  realtext  real text from this machine (bench/realtext.py), ``--mb`` megabytes in ``--shards``
            shards; beyond the machine's own text (about 117 MB) it is cycled as realtext.py says

Both benchmarks take the same options, so one command line names one corpus.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def add_arguments(ap: argparse.ArgumentParser, shards: int) -> None:
    ap.add_argument("--corpus", choices=("synth", "realtext"), default="synth")
    ap.add_argument("--shards", type=int, default=shards)
    ap.add_argument("--docs", type=int, default=18000, help="synth: documents per shard (18,000 is about 49 MB)")
    ap.add_argument("--mb", type=float, default=50, help="realtext: megabytes of text in all")


def files(args: argparse.Namespace) -> list[str]:
    if args.corpus == "synth":
        return synth(args.shards, args.docs)
    return realtext(args.mb, args.shards)


def describe(args: argparse.Namespace) -> str:
    if args.corpus == "synth":
        return f"synth, {args.shards} x {args.docs:,} documents"
    return f"realtext, {args.mb:g} MB in {args.shards} shard(s)"


def synth(shards: int, docs: int, seed: int = 7) -> list[str]:
    # One shard is written as a file, several into a directory (as ``dataprep synth`` does).
    out = OUT / (f"shards{shards}x{docs}" if shards > 1 else f"synth_{docs}.parquet")
    last = out / f"shard_{shards - 1:05d}.parquet" if shards > 1 else out
    if not last.exists():
        from dataprep.synth import SynthConfig, generate

        generate(out, SynthConfig(docs=docs, shards=shards, seed=seed, row_group_size=1024))
    return [str(p) for p in sorted(out.glob("shard_*.parquet"))] if shards > 1 else [str(out)]


def realtext(mb: float, shards: int) -> list[str]:
    import realtext as rt  # bench/realtext.py, beside this file

    return [str(p) for p in rt.make(OUT / f"realtext_{mb:g}mb_{shards}", mb, shards)]


# ---------------------------------------------------------------- the code measured

AT = "BENCH_DATAPREP_AT"  # set: the commit whose dataprep/ this process (and its workers) import


def source_at(ref: str) -> Path:
    """dataprep/ as it was at git commit ``ref``, exported once to bench/out/src-REF."""
    src = OUT / f"src-{ref}"
    if not src.exists():
        tmp = src.with_name(src.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", ref, "dataprep"], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
        tmp.rename(src)
    return src


def use_source_at(ref: str) -> None:
    """Import dataprep from ``source_at(ref)``, here and in worker processes started later
    (before anything imports it), to measure a change side by side with the code before it."""
    os.environ[AT] = ref
    # An editable install finds dataprep through a meta path finder, ahead of sys.path.
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, str(source_at(ref)))


def follow_source() -> None:
    """In a worker a benchmark spawned: import the dataprep its parent imports."""
    if os.environ.get(AT):
        use_source_at(os.environ[AT])
