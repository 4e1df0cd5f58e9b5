"""Put training runs side by side: where each one's val loss bottomed out, and how far it rose after.

Reads only the run directories' config.json and metrics.jsonl, so it needs no torch.
"""

from __future__ import annotations

import json
from pathlib import Path

from dataprep.errors import DataprepError
from dataprep.plots import check_figure_path, plot_runs
from dataprep.tables import count, number, render

# The fields compare and its figure read, and what each must hold (the trainer writes them so).
RECORD_NUMBERS = ("step", "tokens", "epoch")  # in every metric record
OPTIONAL_NUMBERS = ("train_loss", "val_loss", "lr")  # a number or null


def load_run(run_dir: str | Path) -> tuple[dict, list[dict]]:
    """(config, metric records) of one run; warning and error records are left out.

    Files edited by hand, truncated or from elsewhere are refused in one line naming the file, the
    line and the field, rather than failing later inside the table or the figure.
    """
    run_dir = Path(run_dir)
    config_path, metrics_path = run_dir / "config.json", run_dir / "metrics.jsonl"
    if not config_path.is_file() or not metrics_path.is_file():
        raise DataprepError(f"{run_dir} is not a training run (it needs config.json and metrics.jsonl)")
    try:
        config = json.loads(_read_text(config_path))
    except ValueError as exc:
        raise DataprepError(f"{config_path}: not readable JSON ({exc})") from None
    _check_config(config, config_path)
    lines = [line for line in _read_text(metrics_path).splitlines() if line.strip()]
    records = []
    for line_no, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:
            if line_no == len(lines):  # a run still training may be halfway through writing its last line
                break
            raise DataprepError(f"{metrics_path}: line {line_no} is not JSON") from None
        if not isinstance(record, dict):
            raise DataprepError(f"{metrics_path}: line {line_no} is not a JSON object")
        if "warning" not in record and "error" not in record:
            _check_record(record, f"{metrics_path}: line {line_no}")
            records.append(record)
    return config, records


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DataprepError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise DataprepError(f"{path}: cannot read ({exc.strerror})") from None


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_config(config, where: Path) -> None:
    if not isinstance(config, dict):
        raise DataprepError(f"{where}: not a JSON object")
    tokens = config.get("train_tokens")
    if tokens is not None and not (_is_number(tokens) and tokens >= 0):
        raise DataprepError(f"{where}: 'train_tokens' is {tokens!r}, not a count")
    digest = config.get("val_digest")
    if digest is not None and not isinstance(digest, str):
        raise DataprepError(f"{where}: 'val_digest' is {digest!r}, not a string")


def _check_record(record: dict, where: str) -> None:
    for key in RECORD_NUMBERS:
        if not _is_number(record.get(key)):
            raise DataprepError(f"{where}: {key!r} is {record.get(key)!r}, not a number")
    for key in OPTIONAL_NUMBERS:
        if record.get(key) is not None and not _is_number(record[key]):
            raise DataprepError(f"{where}: {key!r} is {record[key]!r}, not a number or null")


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


def compare(run_dirs, out_png, allow_different_val: bool = False, draw: bool = True) -> list[dict]:
    """One summary row per run, and (``draw``) a figure of val (solid) and train (dashed) loss against tokens seen."""
    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        raise DataprepError("give at least one run directory")
    check_figure_path(out_png, "--out")
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
    if draw:
        plot_runs(names, runs, out_png)
    return rows


COLUMNS = [
    ("run", lambda r: r["run"]),
    ("unique train tokens", lambda r: count(r["train_tokens"])),
    ("tokens seen", lambda r: count(r["tokens_seen"])),
    ("epochs", lambda r: number(r["epochs"], ".2f")),
    ("best val", lambda r: number(r["best_val_loss"], ".4f")),
    ("at tokens", lambda r: count(r["best_tokens"])),
    ("at epoch", lambda r: number(r["best_epoch"], ".2f")),
    ("final val", lambda r: number(r["final_val_loss"], ".4f")),
    ("rise", lambda r: number(r["rise_since_best"], "+.4f")),
]


def format_table(rows: list[dict], markdown: bool = False) -> str:
    return render([name for name, _ in COLUMNS], [[cell(r) for _, cell in COLUMNS] for r in rows], markdown)
