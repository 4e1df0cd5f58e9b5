"""The outputs of fixed corpora and options do not change when the code is reorganised.

Each case builds (and estimates) generated shards and compares digests of every output with the
digests recorded in ``GOLDEN``. Paths differ from run to run (pytest's temporary directories), so
each output is digested with its directory written as ``<DIR>`` and without the fingerprint, which
is a digest of resolved paths; the bins are digested as they are. A change to the outputs on
purpose is recorded again with:

    python tests/test_golden.py
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from contextlib import redirect_stdout
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dataprep.synth import SynthConfig, generate
from dataprep.version import __version__
from dataprep_cli.main import main

BUILD_OUTPUTS = ("train.bin", "val.bin", "meta.json", "manifest.parquet", "val_bands.npy", "report.md")
CASES = {
    "default": ["--no-score-filter"],
    "scores": ["--val-fraction", "0.05"],
    "boilerplate": ["--no-score-filter", "--strip-boilerplate", "--boilerplate-min-docs", "2", "--min-tokens", "30"],
    "lsh": ["--no-score-filter", "--threshold", "0.5", "--ngram", "3", "--num-perm", "64", "--format", "llmc"],
    "val-from": ["--no-score-filter", "--val-from", "{val}"],
}
# As printed by this file when run.
GOLDEN: dict[str, dict[str, str]] = {
    "default": {
        "train.bin": "de603315d5e02e0a",
        "val.bin": "0423ea0326523f27",
        "meta.json": "76d13dcd69d427a4",
        "manifest.parquet": "1635ac1577b0ae7f",
        "val_bands.npy": "9a3f790c2ca31ca5",
        "report.md": "e86face50fbc2616",
        "estimate": "1a7987dc844a0188"
    },
    "scores": {
        "train.bin": "3eefd1a68afc8375",
        "val.bin": "6900420dd84f020b",
        "meta.json": "210c4a49482ae4de",
        "manifest.parquet": "fd5e548bd20ce281",
        "val_bands.npy": "66ba10dffe7dcd64",
        "report.md": "5bcfc215598c52b5",
        "estimate": "75b1e8b580e94e85"
    },
    "boilerplate": {
        "train.bin": "fa9e65cade6ecd1b",
        "val.bin": "aaa5afa1ede76d60",
        "meta.json": "e6196f792604b943",
        "manifest.parquet": "c60f40a409bbc1ef",
        "val_bands.npy": "9a3f790c2ca31ca5",
        "report.md": "6890e89cc264610b",
        "estimate": "59509eab3e1c704b"
    },
    "lsh": {
        "train.bin": "be0fbad8674cd74f",
        "val.bin": "1287c897f95dd192",
        "meta.json": "b651d89ca8766f54",
        "manifest.parquet": "46868b758078f192",
        "val_bands.npy": "28a3f2f04d1f9357",
        "report.md": "ac4b9142ae094dfd",
        "dataprep_train_000001.bin": "7ad9da790223d7b4",
        "dataprep_val_000000.bin": "b8a7b1101dc39115",
        "estimate": "b5befd2e9014ff9f"
    },
    "val-from": {
        "train.bin": "0e882112fa9f3ce6",
        "val.bin": "02b5723c1c3607e5",
        "meta.json": "babacf5840521409",
        "manifest.parquet": "d6cba07fee8c4596",
        "val_bands.npy": "b0ab7918a995683c",
        "report.md": "e43e35e43d29f876"
    }
}


def corpus(root: Path) -> Path:
    generate(root / "in", SynthConfig(docs=160, shards=3, seed=5, pool=420, boilerplate_docs=(2, 9)))
    generate(root / "val.parquet", SynthConfig(docs=50, seed=6))
    return root


def normalized(data: bytes, root: Path) -> bytes:
    text = data.decode().replace(str(root), "<DIR>").replace(__version__, "<VERSION>")
    try:
        obj = json.loads(text)
    except ValueError:
        return text.encode()
    if isinstance(obj, dict):
        obj.pop("fingerprint", None)
    return json.dumps(obj, sort_keys=True).encode()


def digest_of(path: Path, root: Path) -> str:
    if path.suffix == ".parquet":
        table = pq.read_table(path).to_pydict()
        data = normalized(json.dumps(table, sort_keys=True, default=str).encode(), root)
    elif path.suffix in (".json", ".md"):
        data = normalized(path.read_bytes(), root)
    else:
        data = path.read_bytes()
    return hashlib.sha256(data).hexdigest()[:16]


def digests(root: Path, case: str) -> dict[str, str]:
    out = root / f"out-{case}"
    argv = [a.replace("{val}", str(root / "val.parquet")) for a in CASES[case]]
    with redirect_stdout(io.StringIO()):
        assert main(["build", "--input", str(root / "in"), "--out", str(out), "--workers", "1", "--json", *argv]) == 0
        estimate = io.StringIO()
    rule_argv = [a for a in argv if a not in ("--format", "llmc")]
    if "--val-from" not in rule_argv:
        with redirect_stdout(estimate):
            assert main(["estimate", str(root / "in"), "--json", *rule_argv]) == 0
    found = {name: digest_of(out / name, root) for name in BUILD_OUTPUTS if (out / name).exists()}
    for shard in sorted(out.glob("dataprep_*.bin")):
        found[shard.name] = digest_of(shard, root)
    if estimate.getvalue():
        found["estimate"] = hashlib.sha256(normalized(estimate.getvalue().encode(), root)).hexdigest()[:16]
    return found


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return corpus(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize("case", CASES)
def test_outputs_are_the_recorded_ones(root, case):
    assert digests(root, case) == GOLDEN[case]


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        base = corpus(Path(tmp))
        recorded = {case: digests(base, case) for case in CASES}
    print("GOLDEN = " + json.dumps(recorded, indent=4), file=sys.stdout)
