"""The Ray engine and remote storage give the local engine's bytes, and survive killed tasks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from dataprep.pipeline import bands
from dataprep.pipeline.build import BuildOptions, build
from dataprep.synth import SynthConfig, generate

OUTPUTS = ("train.bin", "val.bin", "meta.json", "manifest.parquet", "val_bands.npy", "report.md")
OPTS = dict(min_score=None, val_fraction=0.05)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    d = tmp_path_factory.mktemp("eng")
    generate(d / "in", SynthConfig(docs=300, shards=4, seed=31, exact_rate=0.06, near_rate=0.06))
    return d / "in"


@pytest.fixture(scope="module")
def local_build(shards, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "b"
    build([str(shards)], out, BuildOptions(**OPTS), workers=1, progress=False)
    return out


def same_bytes(a, b) -> None:
    for name in OUTPUTS:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_local_engine_with_sliced_bands_and_task_components_gives_the_same_bytes(shards, local_build, tmp_path,
                                                                                   monkeypatch):
    monkeypatch.setattr(bands, "DOCS_PER_PART", 250)  # 5 hash slices per band
    monkeypatch.setattr(bands, "LOCAL_EDGE_LIMIT", 0)  # components by rounds of tasks
    build([str(shards)], tmp_path / "b", BuildOptions(**OPTS), workers=1, progress=False)
    same_bytes(tmp_path / "b", local_build)


def test_ray_engine_gives_the_local_engines_bytes(ray_cluster, shards, local_build, tmp_path, monkeypatch):
    monkeypatch.setattr(bands, "DOCS_PER_PART", 400)
    monkeypatch.setattr(bands, "LOCAL_EDGE_LIMIT", 0)
    build([str(shards)], tmp_path / "r", BuildOptions(**OPTS), progress=False, engine="ray")
    same_bytes(tmp_path / "r", local_build)


def test_ray_engine_grows_a_build_to_the_local_one_shot_bytes(ray_cluster, shards, local_build, tmp_path):
    files = [str(f) for f in sorted(shards.glob("*.parquet"))]
    fresh = tmp_path / "fresh3"
    build(files[:3], fresh, BuildOptions(**OPTS), workers=1, progress=False)
    out = tmp_path / "grown"
    for k in (1, 3, 4):  # three builds, two growth steps, all on Ray
        build(files[:k], out, BuildOptions(**OPTS), progress=False, engine="ray")
        if k == 3:
            same_bytes(out, fresh)
    same_bytes(out, local_build)


def _ray_workers_running(task: str) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines()[1:] if f"ray::{task}" in line]


def test_ray_build_survives_a_killed_task(ray_cluster, shards, local_build, tmp_path):
    result: dict = {}

    def run() -> None:
        try:
            build([str(shards)], tmp_path / "k", BuildOptions(**OPTS), progress=False, engine="ray")
            result["ok"] = True
        except Exception as exc:  # reported below
            result["error"] = exc

    t = threading.Thread(target=run)
    t.start()
    killed = None
    deadline = time.time() + 120
    while killed is None and t.is_alive() and time.time() < deadline:
        pids = _ray_workers_running("scan_shard")
        if pids:
            os.kill(pids[0], signal.SIGKILL)
            killed = pids[0]
        time.sleep(0.005)
    t.join(180)
    assert killed is not None, "no scan task was seen running"
    assert result.get("ok"), result.get("error")
    same_bytes(tmp_path / "k", local_build)


def test_ray_build_resumes_after_the_driver_dies(shards, local_build, tmp_path):
    pytest.importorskip("ray")
    target = tmp_path / "d"
    cmd = [sys.executable, "-m", "dataprep_cli.main", "build", "--input", str(shards), "--out", str(target),
           "--no-score-filter", "--val-fraction", "0.05", "--engine", "ray", "--workers", "2", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while not (target / ".state" / "scan" / "00000" / "source.json").exists() and time.time() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray processes it started
    proc.wait()
    assert not (target / "meta.json").exists()
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    same_bytes(target, local_build)


@pytest.fixture
def s3(monkeypatch):
    pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    for k, v in {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_ENDPOINT_URL": endpoint}.items():
        monkeypatch.setenv(k, v)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint})
    bucket = f"b{uuid.uuid4().hex[:12]}"  # moto keeps buckets across server restarts in one process
    fs.mkdir(bucket)
    yield fs, bucket
    s3fs.S3FileSystem.clear_instance_cache()
    server.stop()


def test_inputs_and_outputs_on_s3(s3, shards, local_build, tmp_path):
    fs, bucket = s3
    for f in sorted(shards.glob("*.parquet")):
        fs.put_file(str(f), f"{bucket}/in/{f.name}")
    args = ([f"s3://{bucket}/in"], f"s3://{bucket}/out", BuildOptions(**OPTS))
    meta = build(*args, workers=1, progress=False)
    for name in ("train.bin", "val.bin", "val_bands.npy"):
        assert fs.cat_file(f"{bucket}/out/{name}") == (local_build / name).read_bytes(), name
    local_meta = json.loads((local_build / "meta.json").read_text())
    assert [s["sha256"] for s in meta["sources"]] == [s["sha256"] for s in local_meta["sources"]]
    assert meta["waterfall"] == local_meta["waterfall"]
    assert not fs.exists(f"{bucket}/out/.work") and not fs.exists(f"{bucket}/out/.lock")
    assert build(*args, workers=1, progress=False) == meta  # the same command again finds the finished build


def test_a_build_on_s3_grows_to_the_local_one_shot_bytes(s3, shards, local_build):
    fs, bucket = s3
    files = sorted(shards.glob("*.parquet"))
    for f in files:
        fs.put_file(str(f), f"{bucket}/in/{f.name}")
    inputs = [f"s3://{bucket}/in/{f.name}" for f in files]
    for k in (2, 4):  # the old bins are read back from the bucket, the new ones moved into place there
        meta = build(inputs[:k], f"s3://{bucket}/out", BuildOptions(**OPTS), workers=1, progress=False)
    for name in ("train.bin", "val.bin", "val_bands.npy"):
        assert fs.cat_file(f"{bucket}/out/{name}") == (local_build / name).read_bytes(), name
    assert meta["waterfall"] == json.loads((local_build / "meta.json").read_text())["waterfall"]
    assert not fs.exists(f"{bucket}/out/.work") and fs.exists(f"{bucket}/out/.state/scan/00003/source.json")


def test_estimate_reads_s3(s3, shards):
    from dataprep.pipeline.estimate import EstimateOptions, estimate

    fs, bucket = s3
    f = sorted(shards.glob("*.parquet"))[0]
    fs.put_file(str(f), f"{bucket}/one/shard.parquet")
    remote = estimate([f"s3://{bucket}/one/shard.parquet"], EstimateOptions(), progress=False)
    local = estimate([str(f)], EstimateOptions(), progress=False)
    assert {k: v for k, v in remote.items() if k != "files"} == {k: v for k, v in local.items() if k != "files"}


# ---------------------------------------------------------------- estimate on the same engines and sources


def _same_report(a: dict, b: dict) -> None:
    assert {k: v for k, v in a.items() if k != "files"} == {k: v for k, v in b.items() if k != "files"}


@pytest.fixture(scope="module")
def local_estimate(shards):
    from dataprep.pipeline.estimate import EstimateOptions, estimate

    return estimate([str(shards)], EstimateOptions(**OPTS), workers=1, progress=False)


def test_estimate_is_the_same_for_any_worker_count_and_hash_slicing(shards, local_estimate, monkeypatch):
    from dataprep.pipeline.estimate import EstimateOptions, estimate

    _same_report(estimate([str(shards)], EstimateOptions(**OPTS), workers=2, progress=False), local_estimate)
    monkeypatch.setattr(bands, "DOCS_PER_PART", 250)  # band tasks on slices of the hash space, on the pool
    monkeypatch.setattr(bands, "INLINE_DOCS", 0)
    monkeypatch.setattr(bands, "LOCAL_EDGE_LIMIT", 0)  # components by rounds of tasks
    _same_report(estimate([str(shards)], EstimateOptions(**OPTS), workers=2, progress=False), local_estimate)


def test_estimate_equals_what_build_writes_on_every_engine(shards, local_estimate, local_build):
    meta = json.loads((local_build / "meta.json").read_text())
    assert local_estimate["effective_tokens"] == meta["train_tokens"] + meta["val_tokens"]
    assert local_estimate["waterfall"] == meta["waterfall"]


def test_estimate_on_ray_gives_the_local_report(ray_cluster, shards, local_estimate, monkeypatch):
    from dataprep.pipeline.estimate import EstimateOptions, estimate

    monkeypatch.setattr(bands, "INLINE_DOCS", 0)  # the band tasks on Ray too
    _same_report(estimate([str(shards)], EstimateOptions(**OPTS), engine="ray", progress=False), local_estimate)


def test_estimate_of_a_directory_on_s3_with_its_work_there_gives_the_local_report(s3, shards, local_estimate):
    from dataprep.pipeline.estimate import EstimateOptions, estimate

    fs, bucket = s3
    for f in sorted(shards.glob("*.parquet")):
        fs.put_file(str(f), f"{bucket}/in/{f.name}")
    report = estimate([f"s3://{bucket}/in"], EstimateOptions(**OPTS), workers=2, progress=False,
                      work=f"s3://{bucket}/estimate-work")
    _same_report(report, local_estimate)


def test_one_shard_starts_no_worker_process(shards, tmp_path, monkeypatch):
    """A lone shard is scanned, banded and written in the driver: it pays for no worker it does not need."""
    from dataprep.pipeline.engine import LocalEngine
    from dataprep.pipeline.estimate import EstimateOptions, estimate

    def refused(self):
        raise AssertionError("a worker process was started for one shard")

    monkeypatch.setattr(LocalEngine, "_started", refused)
    one = str(sorted(shards.glob("*.parquet"))[0])
    estimate([one], EstimateOptions(**OPTS), workers=2, progress=False)
    build([one], tmp_path / "b", BuildOptions(**OPTS), workers=2, progress=False)
