"""``dataprep train`` and ``compare`` on a machine with only torch and numpy: a GPU node's bare torch image.

Each command runs in a subprocess where importing any other dependency of dataprep fails, as it would
where ``pip install --no-deps dataprep`` put the package beside torch and numpy alone.
"""

import json
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("torch")

# every dependency of dataprep but numpy, and what they pull in
MISSING = ("polars", "pyarrow", "tiktoken", "datasketch", "scipy", "fsspec", "matplotlib", "huggingface_hub",
           "riptoken", "ray", "s3fs", "numba")

ONLY_TORCH_AND_NUMPY = f"""
import runpy, sys

MISSING = {MISSING!r}


class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in MISSING:
            raise ImportError(f"No module named {{name!r}} (not installed here)")
        return None


sys.meta_path.insert(0, NotInstalled())
sys.argv = ["dataprep", *sys.argv[1:]]
try:
    runpy.run_module("dataprep_cli.main", run_name="__main__", alter_sys=True)
finally:
    print("loaded:", sorted(m for m in sys.modules if m.split(".")[0] in MISSING), file=sys.stderr)
"""


def dataprep(*argv) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-c", ONLY_TORCH_AND_NUMPY, *map(str, argv)], capture_output=True,
                            text=True, timeout=300)
    assert result.stderr.splitlines()[-1] == "loaded: []", result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def bins(tmp_path_factory):
    d = tmp_path_factory.mktemp("bare") / "data"
    d.mkdir()
    rng = np.random.default_rng(0)
    rng.integers(0, 64, 4000, dtype=np.uint16).tofile(d / "train.bin")
    rng.integers(0, 64, 1000, dtype=np.uint16).tofile(d / "val.bin")
    return d


def test_help_loads_none_of_the_data_paths_libraries():
    for argv in (["--help"], ["train", "--help"], ["compare", "--help"]):
        result = dataprep(*argv)
        assert result.returncode == 0 and result.stdout.startswith("usage: dataprep"), result.stderr


def test_train_and_compare_run_with_torch_and_numpy_alone(bins, tmp_path):
    run = tmp_path / "run"
    trained = dataprep("train", bins, "--out", run, "--n-layer", "1", "--n-head", "2", "--n-embd", "32",
                       "--block-size", "16", "--vocab-size", "64", "--batch-size", "4", "--max-iters", "2",
                       "--eval-windows", "4", "--device", "cpu", "--no-compile")
    assert trained.returncode == 0, trained.stderr
    assert [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()] == [0, 2]

    figure = tmp_path / "compare.png"
    compared = dataprep("compare", run, "--out", figure)
    assert compared.returncode == 0, compared.stderr
    lines = compared.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["run", "unique"] and lines[2].split()[0] == "run"  # the table, then the note
    assert lines[-1] == f"no figure: matplotlib is not installed (pip install matplotlib), so {figure} was not written"
    assert not figure.exists()
