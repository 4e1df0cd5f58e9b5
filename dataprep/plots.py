"""Figures. matplotlib is imported only when a figure is drawn."""

from __future__ import annotations

from pathlib import Path

from dataprep.atomic import atomic_path
from dataprep.errors import DataprepError


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_estimate(report: dict, path: str | Path) -> None:
    """Token waterfall (left) and edu-score histogram (right) of an estimate report."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise DataprepError(f"--plot {path}: use a .png, .svg or .pdf file name")
    if not path.parent.is_dir():
        raise DataprepError(f"--plot {path}: directory {path.parent} does not exist")
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [3, 2]})
    steps = report["waterfall"]
    names = [s["stage"] for s in steps]
    left.bar(names, [s["tokens"] / 1e6 for s in steps], color=["#4c72b0"] + ["#dd8452"] * (len(steps) - 2) + ["#55a868"])
    for i, s in enumerate(steps):
        left.annotate(f"{s['tokens'] / report['tokens']:.0%}", (i, s["tokens"] / 1e6), ha="center", va="bottom")
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
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".").lower(), dpi=110)
    plt.close(fig)
