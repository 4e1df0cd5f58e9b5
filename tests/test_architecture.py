"""The walls between the parts of dataprep, read from the imports themselves.

- each part imports only the parts below it (LAYERS, docs/architecture.md);
- the library never imports the command line;
- only the engine module imports ray;
- only the trainer's modules import torch (the data path runs where torch is not installed);
- the trainer reads token files only through dataprep.io.tokens, the one reader of the bin formats;
- the trainer's modules load none of the data path's heavy libraries (every torchrun rank pays for them).

An import is every way Python has of naming a module: ``import a.b``, ``from a import b`` (``b`` may be
a module), relative imports, and ``importlib.import_module`` (a file that imports by a computed name
counts every dataprep module its strings name). Each check is run on a planted violation too, in a
temporary tree, so that it is known to see what it looks for.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "dataprep"
TRAINER = {"dataprep.training.train", "dataprep.training.model", "dataprep.training.system"}
TORCH_ALLOWED = TRAINER | {"dataprep.demo"}  # demo starts the trainer in child processes
HEAVY = ("polars", "pyarrow", "datasketch", "scipy", "tiktoken", "fsspec", "matplotlib", "ray", "numba")
NUMPY_FILE_READERS = {"memmap", "fromfile", "load", "loadtxt", "genfromtxt"}

# What each part may import besides itself and the base (errors, version): the data flow read ->
# text -> dedup -> pipeline, the trainer beside it reading token files, plots and the demo on top.
BASE = {"errors", "version"}
LAYERS = {
    "io": {"tables"},
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


def modules(root: Path = LIBRARY) -> dict[str, Path]:
    return {".".join(p.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in sorted(root.rglob("*.py"))}


def imported(name: str, path: Path) -> set[str]:
    """Every module the file of module ``name`` imports, anywhere in it (top level or inside a function)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    dynamic = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}  # "from dataprep import pipeline"
        elif isinstance(node, ast.Call) and _call_name(node.func) in ("import_module", "__import__"):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(_absolute(arg.value.lstrip("."), len(arg.value) - len(arg.value.lstrip(".")), package))
            else:
                dynamic = True
    if dynamic:  # a computed name: any module a string of the file names may be the one
        names |= {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                  and n.value.startswith("dataprep.")}
    return names


def _absolute(module: str | None, level: int, package: str) -> str:
    if not level:
        return module or ""
    parts = package.split(".")
    base = ".".join(parts[: len(parts) - level + 1])
    return f"{base}.{module}" if module else base


def _call_name(func: ast.AST) -> str | None:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def part(module: str) -> str:
    """The part of dataprep a module belongs to: its subpackage, or its own name at the top level."""
    return module.split(".")[1] if module.count(".") else module


def crossings(root: Path = LIBRARY) -> list[str]:
    """``A imports B`` for every import of a part that its layer does not allow."""
    wrong = []
    for name, path in modules(root).items():
        if name == "dataprep" or part(name) in BASE:
            continue
        for m in imported(name, path):
            if m.startswith("dataprep.") and part(m) not in LAYERS.get(part(name), set()) | BASE | {part(name)}:
                wrong.append(f"{name} imports {m}")
    return sorted(wrong)


def importers_of(target: str, root: Path = LIBRARY) -> set[str]:
    return {name for name, path in modules(root).items()
            if any(m == target or m.startswith(target + ".") for m in imported(name, path))}


def numpy_file_reads(path: Path) -> list[str]:
    """Calls of numpy's file readers (``np.memmap``, ``numpy.fromfile``, a ``from numpy import load``...)."""
    tree = ast.parse(path.read_text())
    aliases = {"numpy"} | {a.asname for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
                           if a.name == "numpy" and a.asname}
    bare = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "numpy"
            for a in n.names if a.name in NUMPY_FILE_READERS}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in NUMPY_FILE_READERS and isinstance(f.value, ast.Name) \
                and f.value.id in aliases:
            found.append(f"{f.value.id}.{f.attr}")
        elif isinstance(f, ast.Name) and f.id in bare:
            found.append(f.id)
    return found


# ---------------------------------------------------------------- the walls, on the library


def test_each_part_imports_only_the_parts_below_it():
    assert {part(m) for m in modules() if m != "dataprep"} == set(LAYERS) | BASE
    assert crossings() == []


def test_the_library_never_imports_the_command_line():
    assert importers_of("dataprep_cli") == set() and importers_of("cli") == set()


def test_only_the_engine_imports_ray():
    assert importers_of("ray") == {"dataprep.pipeline.engine"}


def test_only_the_trainer_imports_torch():
    assert importers_of("torch") <= TORCH_ALLOWED
    assert importers_of("torch") >= TRAINER


def test_the_trainer_reads_tokens_only_through_the_bin_format_module():
    for name in TRAINER:
        assert numpy_file_reads(modules()[name]) == [], name
    assert "dataprep.io.tokens" in imported("dataprep.training.train", modules()["dataprep.training.train"])


@pytest.mark.parametrize("module", sorted(TRAINER | {"dataprep.io.tokens", "dataprep.training.compare", "dataprep",
                                                     "dataprep.training.config"}))
def test_light_modules_load_no_heavy_library(module):
    code = f"import sys, {module}\nprint(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


# ---------------------------------------------------------------- each check sees a planted violation


PLANTED = {
    "from dataprep import pipeline": "dataprep.io.planted imports dataprep.pipeline",
    "from ..pipeline import build": "dataprep.io.planted imports dataprep.pipeline",
    "from ..pipeline.build import build": "dataprep.io.planted imports dataprep.pipeline.build",
    "import dataprep.dedup.decide as d": "dataprep.io.planted imports dataprep.dedup.decide",
    "import importlib\nimportlib.import_module('dataprep.training.train')":
        "dataprep.io.planted imports dataprep.training.train",
    "from importlib import import_module\nNAME = 'dataprep.pipeline.estimate'\nimport_module(NAME)":
        "dataprep.io.planted imports dataprep.pipeline.estimate",
}


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "dataprep"
    for rel, text in {"__init__.py": "", "io/__init__.py": "", "pipeline/__init__.py": "", **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize("statement", PLANTED)
def test_an_import_across_a_wall_is_seen_however_it_is_written(tmp_path, statement):
    root = _tree(tmp_path, {"io/planted.py": statement + "\n"})
    assert PLANTED[statement] in crossings(root)


def test_an_allowed_relative_import_is_not_a_crossing(tmp_path):
    root = _tree(tmp_path, {"pipeline/a.py": "from .b import x\nfrom ..io import storage\n", "pipeline/b.py": ""})
    assert crossings(root) == []


def test_the_command_line_and_ray_are_seen_when_imported_lazily(tmp_path):
    root = _tree(tmp_path, {"io/a.py": "def f():\n    from dataprep_cli import main\n",
                            "io/b.py": "import importlib\nray = importlib.import_module('ray')\n"})
    assert importers_of("dataprep_cli", root) == {"dataprep.io.a"}
    assert importers_of("ray", root) == {"dataprep.io.b"}


@pytest.mark.parametrize("source", ["import numpy as np\nnp.memmap('t.bin', dtype=np.uint16)\n",
                                    "import numpy\nnumpy.fromfile('t.bin')\n",
                                    "import numpy as xp\nxp.load('t.npy')\n",
                                    "from numpy import memmap as mm\nmm('t.bin')\n"])
def test_a_numpy_read_of_a_token_file_is_seen(tmp_path, source):
    path = tmp_path / "train.py"
    path.write_text(source)
    assert numpy_file_reads(path) != []
