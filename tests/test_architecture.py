"""The walls between the parts of dataprep, read from the imports themselves.

- each part imports only the parts below it (LAYERS, docs/architecture.md);
- the library never imports the command line;
- only the engine module imports ray;
- only the trainer's modules import torch (the data path runs where torch is not installed);
- the trainer reads token files only through dataprep.io.tokens, the one reader of the bin formats;
- the trainer's modules load none of the data path's heavy libraries (every torchrun rank pays for them).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "dataprep"
TRAINER = {"dataprep.training.train", "dataprep.training.model", "dataprep.training.system"}
TORCH_ALLOWED = TRAINER | {"dataprep.demo"}  # demo starts the trainer in child processes
HEAVY = ("polars", "pyarrow", "datasketch", "scipy", "tiktoken", "fsspec", "matplotlib", "ray")


def modules() -> dict[str, Path]:
    return {".".join(p.relative_to(LIBRARY.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in sorted(LIBRARY.rglob("*.py"))}


def imported(path: Path) -> set[str]:
    """Every module an import statement names, anywhere in the file (top level or inside a function)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def importers_of(root: str) -> set[str]:
    return {name for name, path in modules().items()
            if any(m == root or m.startswith(root + ".") for m in imported(path))}


# What each part may import besides itself and the base (errors, version): the data flow read ->
# text -> dedup -> pipeline, the trainer beside it reading token files, plots and the demo on top.
BASE = {"errors", "version"}
LAYERS = {
    "io": set(),
    "text": set(),
    "dedup": {"text"},
    "pipeline": {"io", "text", "dedup", "tables"},
    "training": {"io", "plots", "tables"},
    "plots": {"io", "dedup"},
    "tables": set(),
    "synth": {"text"},
    "world": set(),
    "demo": {"io", "pipeline", "training", "world"},
}


def part(module: str) -> str:
    """The part of dataprep a module belongs to: its subpackage, or its own name at the top level."""
    return module.split(".")[1] if module.count(".") else module


def test_each_part_imports_only_the_parts_below_it():
    assert {part(m) for m in modules() if m != "dataprep"} == set(LAYERS) | BASE
    wrong = []
    for name, path in modules().items():
        if name == "dataprep" or part(name) in BASE:
            continue
        for m in imported(path):
            if m.startswith("dataprep.") and part(m) not in LAYERS[part(name)] | BASE | {part(name)}:
                wrong.append(f"{name} imports {m}")
    assert wrong == []


def test_the_library_never_imports_the_command_line():
    assert importers_of("dataprep_cli") == set() and importers_of("cli") == set()


def test_only_the_engine_imports_ray():
    assert importers_of("ray") == {"dataprep.pipeline.engine"}


def test_only_the_trainer_imports_torch():
    assert importers_of("torch") <= TORCH_ALLOWED
    assert importers_of("torch") >= TRAINER


def test_the_trainer_reads_tokens_only_through_the_bin_format_module():
    for name in TRAINER:
        source = modules()[name].read_text()
        assert "np.memmap(" not in source and "np.fromfile(" not in source, name
    assert "dataprep.io.tokens" in imported(modules()["dataprep.training.train"])


@pytest.mark.parametrize("module", sorted(TRAINER | {"dataprep.io.tokens", "dataprep.training.compare", "dataprep",
                                                     "dataprep.training.config"}))
def test_light_modules_load_no_heavy_library(module):
    code = f"import sys, {module}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr
