"""``demo``: the single-file plateau and its fix, end to end on a laptop CPU.

Generates shards of text about a made-up world (``world.py``), builds a
one-shard corpus and a many-shard corpus scored on one shared, decontaminated
val set, estimates both, trains the same tiny GPT on each with the same budget
(two processes, one core each), and compares the curves. Every number the
demo prints is measured in that run.
"""

from __future__ import annotations

import json
import multiprocessing as mp
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dataprep.io.atomic import write_json
from dataprep.pipeline.build import BuildOptions, build
from dataprep.pipeline.engine import children_ignore_ctrl_c
from dataprep.errors import DataprepError
from dataprep.pipeline.estimate import EstimateOptions, estimate
from dataprep.world import World


@dataclass
class DemoConfig:
    out: Path
    shards: int = 60  # the many-shard corpus; the single-file corpus is the first of them
    docs_per_shard: int = 180  # about 22k tokens: the small run repeats it ~7 times
    val_docs: int = 200
    iters: int = 300
    batch_size: int = 8
    block_size: int = 64
    lr: float = 3e-3
    eval_interval: int = 25
    seed: int = 0


def _train_on_one_core(cfg) -> None:
    import torch

    from dataprep.training.train import train

    torch.set_num_threads(1)  # two runs share the machine side by side
    train(cfg)


def _train_both(configs: list) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_train_on_one_core, args=(c,)) for c in configs]
    with children_ignore_ctrl_c():
        for p in procs:
            p.start()
    try:
        for p in procs:
            p.join()
    except BaseException:
        for p in procs:
            p.terminate()
            p.join()
        raise
    failed = [c.out_dir for c, p in zip(configs, procs) if p.exitcode != 0]
    if failed:
        raise DataprepError(f"training failed in {', '.join(map(str, failed))} (see its metrics.jsonl)")


def run_demo(cfg: DemoConfig, say=print) -> list[dict]:
    from dataprep.training.compare import compare
    from dataprep.training.train import TrainConfig

    out = Path(cfg.out)
    data = out / "data"
    (data / "shards").mkdir(parents=True, exist_ok=True)
    world = World(seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    say(f"1/5 generating {cfg.shards} shards of {cfg.docs_per_shard} documents about {world.entities:,} entities")
    val_file = data / "val.parquet"
    world.write_shard(val_file, cfg.val_docs, rng, copy_rate=0.0)
    shard_files = [data / "shards" / f"shard_{i:05d}.parquet" for i in range(cfg.shards)]
    for path in shard_files:
        world.write_shard(path, cfg.docs_per_shard, rng)

    say("2/5 building both corpora (one shared val set, decontaminated against both)")
    opts = dict(min_score=None, batch_rows=1024)
    multi_dir, single_dir = out / "build-multi", out / "build-single"
    build([str(data / "shards")], multi_dir, BuildOptions(val_from=[str(val_file)], **opts), progress=False)
    build([str(shard_files[0])], single_dir, BuildOptions(val_bin=str(multi_dir / "val.bin"), **opts), progress=False)

    say("3/5 estimating both")
    for name, paths in (("single", [str(shard_files[0])]), ("multi", [str(data / "shards")])):
        write_json(out / f"estimate-{name}.json", estimate(paths, EstimateOptions(), progress=False))

    say(f"4/5 training a tiny GPT on each for {cfg.iters} steps, side by side (a line per run at each eval)")
    common = dict(
        model="tiny", block_size=cfg.block_size, batch_size=cfg.batch_size, max_iters=cfg.iters, lr=cfg.lr,
        min_lr=cfg.lr, schedule="wsd", decay_frac=0.0, warmup=20, eval_interval=cfg.eval_interval,
        log_interval=cfg.eval_interval, eval_windows=100, seed=cfg.seed + 1,
    )
    runs = [out / "run-single", out / "run-multi"]
    _train_both([
        TrainConfig(data_dir=str(single_dir), out_dir=str(runs[0]), val_bin=str(multi_dir / "val.bin"),
                    label="run-single ", **common),
        TrainConfig(data_dir=str(multi_dir), out_dir=str(runs[1]), label="run-multi  ", **common),
    ])

    say("5/5 comparing")
    rows = compare(runs, out / "compare.png")
    write_json(out / "compare.json", rows)
    return rows


def demo_summary(out: Path) -> str:
    """The two estimates in one line each (read back from the files the demo wrote)."""
    lines = []
    for name in ("single", "multi"):
        r = json.loads((Path(out) / f"estimate-{name}.json").read_text())
        lines.append(
            f"{name:6s} corpus: {r['docs']:,} docs, {r['tokens']:,} tokens, {r['exact_duplicate_docs']:,} exact and "
            f"{r['near_duplicate_docs']:,} near duplicates, {r['effective_tokens']:,} effective tokens"
        )
    return "\n".join(lines)
