"""Every figure dataprep draws. matplotlib is imported only when one is drawn.

Figures use matplotlib's ``Figure`` directly, not pyplot: no GUI backend and
no global figure state. Each is written to a temporary name and renamed.
"""

from __future__ import annotations

from pathlib import Path

from dataprep.io.atomic import atomic_path
from dataprep.errors import DataprepError

FORMATS = (".png", ".svg", ".pdf")
MAX_EPOCH_LINES = 50  # per run; past that the dotted lines would only grey out the figure


def can_draw() -> bool:
    """matplotlib is installed: a machine set up only to train (torch and numpy) may lack it."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def check_figure_path(path: str | Path, option: str) -> Path:
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise DataprepError(f"{option} {path}: use a .png, .svg or .pdf file name")
    if not path.parent.is_dir():
        raise DataprepError(f"{option} {path}: directory {path.parent} does not exist")
    return path


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower(), dpi=110)


def plot_estimate(report: dict, path: str | Path) -> None:
    """Token waterfall (left) and edu-score histogram (right) of an estimate report."""
    from matplotlib.figure import Figure

    from dataprep.dedup.decide import tokens_left  # here: the trainer imports this module and needs no dedup code

    path = check_figure_path(path, "--plot")
    fig = Figure(figsize=(12, 4.5))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    steps = tokens_left(report["waterfall"], report["effective_is_upper_bound"])
    names = [stage for stage, _, _ in steps]
    left.bar(names, [t / 1e6 for _, _, t in steps], color=["#4c72b0"] + ["#dd8452"] * (len(steps) - 2) + ["#55a868"])
    for i, (_, _, t) in enumerate(steps):
        left.annotate(f"{t / max(report['tokens'], 1):.0%}", (i, t / 1e6), ha="center", va="bottom")
    left.set_ylabel("tokens (millions)")
    left.set_title("tokens left after each stage")
    left.tick_params(axis="x", rotation=20)
    hist = report.get("score_histogram")
    if hist:
        keys = [k for k in hist]
        right.bar(keys, [hist[k]["tokens"] / 1e6 for k in keys], color="#8172b2")
        right.set_xlabel("int_score")
        right.set_ylabel("tokens (millions)")
        right.set_title("edu-score mix")
    else:
        right.text(0.5, 0.5, "no score column", ha="center", va="center")
        right.set_axis_off()
    _save(fig, path)


def plot_runs(names: list[str], runs: list[tuple[dict, list[dict]]], path: str | Path) -> None:
    _save(runs_figure(names, runs), Path(path))


def runs_figure(names: list[str], runs: list[tuple[dict, list[dict]]]):
    """Val loss (solid) and train loss (dashed) against tokens seen; dotted lines at each run's epoch boundaries."""
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 6))
    ax = fig.subplots()
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, (config, records)) in enumerate(zip(names, runs)):
        color = colors[i % len(colors)]
        evals = [r for r in records if r.get("val_loss") is not None]
        trains = [r for r in records if r.get("train_loss") is not None]
        ax.plot([r["tokens"] for r in evals], [r["val_loss"] for r in evals], "-o", ms=3, color=color,
                label=f"{name} val")
        ax.plot([r["tokens"] for r in trains], [r["train_loss"] for r in trains], "--", color=color, alpha=0.6,
                label=f"{name} train")
        unique = config.get("train_tokens")
        seen = max((r["tokens"] for r in records), default=0)
        if unique:
            for k in range(1, min(int(seen // unique), MAX_EPOCH_LINES) + 1):
                ax.axvline(k * unique, color=color, linestyle=":", alpha=0.5)
    ax.set_xlabel("tokens seen")
    ax.set_ylabel("loss")
    ax.set_title("val (solid) and train (dashed) loss; dotted lines: each run's epoch boundaries")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def plot_forecast(report: dict, path: str | Path) -> None:
    """The dataset forecast: effective tokens after the first N files with its band, the raw and filtered
    tokens of those files, and the points measured on the files read in full."""
    from matplotlib.figure import Figure

    path = check_figure_path(path, "--plot")
    f = report["forecast"]
    curve = f["curve"]
    n = [r["shards"] for r in curve]
    fig = Figure(figsize=(9, 5))
    ax = fig.subplots()
    ax.plot(n, [r["raw_tokens"] / 1e6 for r in curve], color="#8c8c8c", label="raw tokens (metadata)")
    ax.plot(n, [r["filtered_tokens"] / 1e6 for r in curve], "--", color="#8c8c8c", label="after the filters (metadata)")
    ax.fill_between(n, [r["low"] / 1e6 for r in curve], [r["high"] / 1e6 for r in curve], color="#4c72b0", alpha=0.25,
                    label="band")
    ax.plot(n, [r["effective_tokens"] / 1e6 for r in curve], color="#4c72b0", label="effective tokens (forecast)")
    ax.plot([m["shards"] for m in f["measured"]], [m["effective_tokens"] / 1e6 for m in f["measured"]], "o",
            color="#dd8452", label=f"measured on the {len(f['read_in_full'])} files read")
    ax.axvline(len(f["read_in_full"]), color="#dd8452", lw=0.8, ls=":")
    target = f.get("target")
    if target:
        ax.axhline(target["train_tokens_needed"] / 1e6, color="#55a868", lw=0.8, ls="--", label="train split needed")
    ax.set_xlabel("first N files of the dataset")
    ax.set_ylabel("tokens (millions)")
    ax.set_title(f"{f['files']} files; past {len(f['read_in_full'])} read in full the curve is extrapolated")
    ax.legend(loc="upper left")
    _save(fig, path)
