"""The walls between the parts of dataprep, read from the imports themselves.

- the library never imports the command line;
- only the engine module imports ray;
- only the trainer's modules import torch (the data path runs where torch is not installed);
- the trainer reads token files only through dataprep.tokens, the one reader of the bin formats;
- the trainer's modules load none of the data path's heavy libraries (every torchrun rank pays for them).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "dataprep"
TRAINER = {"dataprep.train", "dataprep.model", "dataprep.system"}
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


def test_the_library_never_imports_the_command_line():
    assert importers_of("dataprep_cli") == set() and importers_of("cli") == set()


def test_only_the_engine_imports_ray():
    assert importers_of("ray") == {"dataprep.engine"}


def test_only_the_trainer_imports_torch():
    assert importers_of("torch") <= TORCH_ALLOWED
    assert importers_of("torch") >= TRAINER


def test_the_trainer_reads_tokens_only_through_the_bin_format_module():
    for name in TRAINER:
        source = modules()[name].read_text()
        assert "np.memmap(" not in source and "np.fromfile(" not in source, name
    assert "dataprep.tokens" in imported(modules()["dataprep.train"])


@pytest.mark.parametrize("module", sorted(TRAINER | {"dataprep.tokens", "dataprep.compare", "dataprep"}))
def test_light_modules_load_no_heavy_library(module):
    code = f"import sys, {module}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr
