"""The options estimate and build share for what they read and where they run: input files or a
Hugging Face dataset, and the engine. Defaults are the library's; nothing heavy is imported here."""

from __future__ import annotations

from dataprep.errors import DataprepError

DEFAULT_DATASET = "HuggingFaceFW/fineweb-edu"
DEFAULT_SUBSET = "sample/100BT"


def add_hub_options(group, sizes: str) -> None:
    """--dataset, --subset and --shards (``sizes``: how the command may be told how many files to take)."""
    group.add_argument("--dataset", help=f"Hugging Face dataset (default when no files are given: {DEFAULT_DATASET})")
    group.add_argument("--subset", help=f"folder inside the dataset (default: {DEFAULT_SUBSET})")
    group.add_argument("--shards", type=int, help=f"take the first N files (sorted); from the hub, {sizes} is required")
    group.add_argument("--text-column", help="column holding the text (default: text)")


def add_engine_options(group) -> None:
    group.add_argument("--workers", type=int, help="processes (default: one per core)")
    group.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="ray: run the tasks on a Ray cluster (pip install 'dataprep[ray]'; default local)")
    group.add_argument("--ray-address", help="Ray cluster to join, e.g. auto (default: start one on this machine)")


def hub_source(args, files: list[str] | None, sizes: str, lazy: bool):
    """``files`` as given, or the hub dataset's files: downloaded now (the first ``--shards``), or, when
    ``lazy`` (a budget decides how many), fetched one at a time as they are needed."""
    if files and args.dataset:
        raise DataprepError("give input files or --dataset, not both")
    if files:
        return files
    dataset = args.dataset or DEFAULT_DATASET
    subset = DEFAULT_SUBSET if args.subset is None else args.subset
    if args.shards is None and not lazy:  # the default subset alone is hundreds of GB: never fetched by omission
        raise DataprepError(
            f"reading from the hub needs a size, {sizes}: without one all of {dataset}"
            f"{'/' + subset if subset else ''} would be downloaded"
        )
    from dataprep.io.hub import HubShards, fetch_shards

    progress = False if args.json else None
    if lazy:
        return HubShards(dataset, subset, progress=progress, wanted=args.shards)
    return [str(p) for p in fetch_shards(dataset=dataset, subset=subset, shards=args.shards, progress=progress)]
