"""dataprep.io.hub against a loopback fake of the Hugging Face Hub (tests/hubserver.py)."""

from __future__ import annotations

import hashlib
import json
import re
import socket
from pathlib import Path

import huggingface_hub.constants
import pytest
from hubserver import FakeHub

from dataprep.errors import DataprepError
from dataprep.io.hub import fetch_shards
from dataprep.synth import SynthConfig, generate

REPO = "HuggingFaceFW/fineweb-edu"
SUBSET = "sample/10BT"
NAMES = [f"{SUBSET}/{i:03d}_00000.parquet" for i in range(4)]


@pytest.fixture(scope="session")
def shard_bytes(tmp_path_factory) -> list[bytes]:
    out = tmp_path_factory.mktemp("hubshards")
    generate(out, SynthConfig(docs=50, shards=5, seed=3, mean_words=60))
    return [p.read_bytes() for p in sorted(out.glob("*.parquet"))]


@pytest.fixture
def hub(shard_bytes, monkeypatch, tmp_path):
    files = {"README.md": b"# fake fineweb-edu\n", "docs/notes.md": b"no parquet here\n"}
    files |= dict(zip(NAMES, shard_bytes[:4], strict=True))
    files["sample/100BT/000_00000.parquet"] = shard_bytes[4]
    server = FakeHub({REPO: files}, page_size=2)  # small pages: the listing must follow Link headers
    monkeypatch.setenv("HF_ENDPOINT", server.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "default-cache"))
    yield server
    server.close()


def fetch(cache: Path, **kw) -> list[Path]:
    args = {"dataset": REPO, "subset": SUBSET, "shards": 3, "cache_dir": cache, "progress": False} | kw
    return fetch_shards(**args)


def fetch_error(cache: Path, **kw) -> str:
    with pytest.raises(DataprepError) as info:
        fetch(cache, **kw)
    message = str(info.value)
    assert "\n" not in message and message
    return message


def resolve_gets(hub: FakeHub, path: str = "") -> int:
    """File downloads (the revision in the URL is the pinned commit, not "main")."""
    return sum(1 for r in hub.requests if r.method == "GET" and "/resolve/" in r.path and r.path.endswith(path))


def test_first_n_shards_in_sorted_order(hub, shard_bytes, tmp_path):
    paths = fetch(tmp_path / "c")
    assert [p.name for p in paths] == ["000_00000.parquet", "001_00000.parquet", "002_00000.parquet"]
    assert [p.read_bytes() for p in paths] == shard_bytes[:3]
    assert all((tmp_path / "c") in p.parents for p in paths)
    assert hub.count("GET", "/tree/") >= 2  # 4 files + nothing else, 2 per page
    assert resolve_gets(hub) == 3  # the 4th shard was listed but not downloaded


def test_all_shards_and_repo_root(hub, shard_bytes, tmp_path):
    assert [p.read_bytes() for p in fetch(tmp_path / "c", shards=None)] == shard_bytes[:4]
    root = fetch(tmp_path / "c", subset="", shards=None)  # recursive from the root, sorted: 100BT < 10BT
    assert [p.read_bytes() for p in root] == [shard_bytes[4], *shard_bytes[:4]]


def test_second_call_downloads_nothing(hub, tmp_path):
    first = fetch(tmp_path / "c")
    before = len(hub.requests)
    assert fetch(tmp_path / "c") == first
    new = hub.requests[before:]
    assert not [r for r in new if "/resolve/" in r.path]  # no HEAD, no GET: pinned commit + cached blobs
    assert {r.method for r in new} == {"GET"}  # only revision + listing


def test_hf_endpoint_and_cache_read_at_call_time(hub, shard_bytes, monkeypatch, tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("HF_ENDPOINT", dead)
    message = fetch_error(None)
    assert dead in message and "HF_ENDPOINT" in message and "HF_HUB_OFFLINE" in message

    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    paths = fetch(None, shards=1)
    assert paths[0].read_bytes() == shard_bytes[0]
    assert (tmp_path / "default-cache") in paths[0].parents  # HF_HUB_CACHE, set after import


def test_corrupted_cached_blob_is_refetched(hub, shard_bytes, tmp_path):
    (path,) = fetch(tmp_path / "c", shards=1)
    blob = path.resolve()
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))

    assert fetch(tmp_path / "c", shards=1)[0].read_bytes() == shard_bytes[0]
    assert resolve_gets(hub, NAMES[0]) == 2


@pytest.mark.parametrize("fault", ["short", "flip", "short_body"])
def test_bad_server_data_is_one_line(hub, tmp_path, fault):
    hub.faults[NAMES[0]] = fault
    message = fetch_error(tmp_path / "c", shards=1)
    assert NAMES[0] in message
    if fault != "short_body":  # that one huggingface_hub's own size check catches
        assert "verification" in message
        assert resolve_gets(hub, NAMES[0]) == 2  # evicted and fetched once more
    blobs = tmp_path / "c" / "datasets--HuggingFaceFW--fineweb-edu" / "blobs"
    assert not list(blobs.glob("*"))  # nothing bad (nor partial) left in the cache


@pytest.mark.parametrize(
    "kw, expected",
    [
        ({"dataset": "nobody/nothing"}, "dataset nobody/nothing not found"),
        ({"subset": "sample/1T"}, "'sample/1T' not found"),
        ({"revision": "v9"}, "revision 'v9' not found"),
        ({"subset": "docs"}, "no parquet files in HuggingFaceFW/fineweb-edu/docs"),
        ({"shards": 10}, "has only 4 parquet files, 10 requested"),
        ({"shards": 0}, "shards must be at least 1"),
        ({"dataset": "not a valid id!"}, "not a valid id!"),
    ],
)
def test_errors_are_one_line(hub, tmp_path, kw, expected):
    assert expected in fetch_error(tmp_path / "c", **kw)


def test_offline_uses_the_cache_only(hub, shard_bytes, monkeypatch, tmp_path):
    online = fetch(tmp_path / "c", shards=2)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = len(hub.requests)

    assert fetch(tmp_path / "c", shards=2) == online
    assert [p.read_bytes() for p in fetch(tmp_path / "c", shards=None)] == shard_bytes[:2]
    assert "has 2 cached parquet files" in fetch_error(tmp_path / "c", shards=3)
    assert "not in the cache" in fetch_error(tmp_path / "other")
    assert len(hub.requests) == before

    blob = online[1].resolve()  # offline, a corrupt blob can only be reported
    blob.write_bytes(blob.read_bytes()[:-1] + b"\0")
    assert "corrupt" in fetch_error(tmp_path / "c", shards=2)
    assert not blob.exists()


def test_interrupted_download_resumes(hub, shard_bytes, monkeypatch, tmp_path):
    # huggingface_hub keeps what it received in whole chunks (10 MiB): shrink them so
    # that half a small shard is enough to resume from.
    monkeypatch.setattr(huggingface_hub.constants, "DOWNLOAD_CHUNK_SIZE", 1024)
    hub.faults[NAMES[0]] = "drop_once"
    (path,) = fetch(tmp_path / "c", shards=1)
    assert path.read_bytes() == shard_bytes[0]
    gets = [r.range for r in hub.requests if r.method == "GET" and r.path.endswith(NAMES[0])]
    assert len(gets) == 2 and gets[0] is None
    resumed_at = int(re.fullmatch(r"bytes=(\d+)-", gets[1])[1])  # resumed, not restarted
    assert len(shard_bytes[0]) // 2 - 1024 < resumed_at <= len(shard_bytes[0]) // 2


def test_progress_false_prints_nothing(hub, tmp_path, capfd):
    fetch(tmp_path / "c", shards=1, progress=False)
    assert capfd.readouterr().err == ""


def test_build_command_downloads_from_the_hub_and_builds(hub, shard_bytes, tmp_path, capsys):
    """`dataprep build --dataset --subset --shards` end to end, against the loopback hub."""

    from dataprep_cli.main import main

    out = tmp_path / "built"
    argv = ["build", "--dataset", REPO, "--subset", SUBSET, "--shards", "2", "--out", str(out),
            "--no-score-filter", "--workers", "1", "--json"]
    assert main(argv) == 0
    meta = json.loads(capsys.readouterr().out)
    assert [s["sha256"] for s in meta["sources"]] == [hashlib.sha256(b).hexdigest() for b in shard_bytes[:2]]
    assert meta["train_tokens"] + meta["val_tokens"] > 0 and (out / "train.bin").exists()
    gets = resolve_gets(hub)
    assert main(argv) == 0  # the same command again: cached files, finished build, nothing fetched
    assert resolve_gets(hub) == gets


def test_estimate_takes_a_hub_dataset_and_prints_a_build_command_for_it(hub, shard_bytes, tmp_path, capsys):
    """The same cached, checksummed download as build's; the report is the local files' report."""
    from dataprep_cli.main import main

    argv = ["estimate", "--dataset", REPO, "--subset", SUBSET, "--shards", "2", "--no-score-filter", "--json",
            "--workers", "1", "--params", "1M", "--tokens", "1B"]
    assert main(argv) == 0
    remote = json.loads(capsys.readouterr().out)
    local_dir = tmp_path / "local"
    local_dir.mkdir()
    for i, data in enumerate(shard_bytes[:2]):
        (local_dir / f"{i:03d}_00000.parquet").write_bytes(data)
    assert main(["estimate", str(local_dir), "--no-score-filter", "--json", "--workers", "1"]) == 0
    local = json.loads(capsys.readouterr().out)
    assert remote["effective_tokens"] == local["effective_tokens"] and remote["waterfall"] == local["waterfall"]
    assert resolve_gets(hub) == 2  # the two shards asked for, nothing more
    command = remote["plan"]["build_command"]
    assert f"--dataset {REPO} --subset {SUBSET}" in command and "--input" not in command


def test_estimate_of_a_hub_dataset_needs_a_size(hub, capsys):
    from dataprep_cli.main import main

    assert main(["estimate", "--dataset", REPO, "--subset", SUBSET]) == 2
    assert "--shards N" in capsys.readouterr().err
    assert resolve_gets(hub) == 0
