"""Put training runs side by side: where each one's val loss bottomed out, and how far it rose after.

Reads only the run directories' config.json and metrics.jsonl, so it needs no torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from dataprep.atomic import atomic_path
from dataprep.errors import DataprepError

MAX_EPOCH_LINES = 50  # per run; past that the dotted lines would only grey out the figure


def load_run(run_dir: str | Path) -> tuple[dict, list[dict]]:
    """(config, metric records) of one run; warning and error records are left out."""
    run_dir = Path(run_dir)
    config_path, metrics_path = run_dir / "config.json", run_dir / "metrics.jsonl"
    if not config_path.is_file() or not metrics_path.is_file():
        raise DataprepError(f"{run_dir} is not a training run (it needs config.json and metrics.jsonl)")
    try:
        config = json.loads(config_path.read_text())
    except ValueError as exc:
        raise DataprepError(f"{config_path}: not readable JSON ({exc})") from None
    lines = [line for line in metrics_path.read_text().splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines, 1):
        try:
            records.append(json.loads(line))
        except ValueError:
            if number == len(lines):  # a run still training may be halfway through writing its last line
                break
            raise DataprepError(f"{metrics_path}: line {number} is not JSON") from None
    return config, [r for r in records if "warning" not in r and "error" not in r]


def summarize(name: str, config: dict, records: list[dict]) -> dict:
    evals = [r for r in records if r.get("val_loss") is not None]
    best = min(evals, key=lambda r: r["val_loss"]) if evals else None
    last = records[-1] if records else {}
    return {
        "run": name,
        "train_tokens": config.get("train_tokens"),
        "tokens_seen": last.get("tokens"),
        "epochs": last.get("epoch"),
        "best_val_loss": best["val_loss"] if best else None,
        "best_step": best["step"] if best else None,
        "best_tokens": best["tokens"] if best else None,
        "best_epoch": best["epoch"] if best else None,
        "final_val_loss": evals[-1]["val_loss"] if evals else None,
        "rise_since_best": evals[-1]["val_loss"] - best["val_loss"] if best else None,
        "val_digest": config.get("val_digest"),
    }


def run_names(run_dirs: list[Path]) -> list[str]:
    """Directory names, or the paths as given where two runs share a name."""
    names = [d.name or str(d) for d in run_dirs]
    return [n if names.count(n) == 1 else str(d) for n, d in zip(names, run_dirs)]


def compare(run_dirs, out_png, allow_different_val: bool = False) -> list[dict]:
    """One summary row per run, and a figure of val (solid) and train (dashed) loss against tokens seen."""
    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        raise DataprepError("give at least one run directory")
    out_png = Path(out_png)
    if out_png.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise DataprepError(f"--out {out_png}: use a .png, .svg or .pdf file name")
    if not out_png.parent.is_dir():
        raise DataprepError(f"--out {out_png}: directory {out_png.parent} does not exist")
    runs = [load_run(d) for d in run_dirs]
    names = run_names(run_dirs)
    digests = {name: config.get("val_digest") for name, (config, _) in zip(names, runs)}
    if len(set(digests.values())) > 1 and not allow_different_val:
        listed = ", ".join(f"{name}: {str(d)[:12]}" for name, d in digests.items())
        raise DataprepError(
            f"the runs were scored on different val files ({listed}); their val losses are not comparable. "
            "Pass --allow-different-val to compare them anyway"
        )
    rows = [summarize(name, config, records) for name, (config, records) in zip(names, runs)]
    fig = figure(names, runs)
    with atomic_path(out_png) as tmp:
        fig.savefig(tmp, format=out_png.suffix.lstrip(".").lower(), dpi=110)
    return rows


def figure(names: list[str], runs: list[tuple[dict, list[dict]]]):
    """Val loss (solid) and train loss (dashed) against tokens seen; dotted lines at each run's epoch boundaries."""
    import matplotlib
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 6))  # not pyplot: no GUI backend, no global figure state
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
    fig.tight_layout()
    return fig


def _count(n) -> str:
    if n is None:
        return "-"
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:g}"


def _num(x, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


COLUMNS = [
    ("run", lambda r: r["run"]),
    ("unique train tokens", lambda r: _count(r["train_tokens"])),
    ("tokens seen", lambda r: _count(r["tokens_seen"])),
    ("epochs", lambda r: _num(r["epochs"], ".2f")),
    ("best val", lambda r: _num(r["best_val_loss"], ".4f")),
    ("at tokens", lambda r: _count(r["best_tokens"])),
    ("at epoch", lambda r: _num(r["best_epoch"], ".2f")),
    ("final val", lambda r: _num(r["final_val_loss"], ".4f")),
    ("rise", lambda r: _num(r["rise_since_best"], "+.4f")),
]


def format_table(rows: list[dict], markdown: bool = False) -> str:
    header = [name for name, _ in COLUMNS]
    body = [[cell(r) for _, cell in COLUMNS] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in body])
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *body])
