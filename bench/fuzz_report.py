"""Bad input must end in a correct result or one clear error line: never a traceback, a hang,
or an output that looks complete but is not.

    python bench/fuzz_report.py [--examples 200] [--big-mb 100] [--big-examples 4] [--only N ...]

Each input class is a seeded generator, ``make_case(name, seed, tmp, big_mb)``: it writes one
parquet input under ``tmp`` and says what a correct outcome is. ``judge`` runs
``dataprep estimate FILE --json`` and ``dataprep build --input FILE ...`` on it in this process and
puts it in one of three buckets:

* ok: exit 0, valid JSON, the numbers pass the class's checks and agree between the commands;
* error: exit 2, exactly one ``dataprep: `` line on stderr naming the file, and no ``meta.json``
  in the build's output directory;
* failure: anything else (internal error, traceback, more than 60 s, wrong or inconsistent numbers).

An input counts once for both commands: a correct result when both gave one, a clear error when
at least one refused it (as its class requires). Class 8 writes ``--big-mb`` of text per input,
about 40 s each at 100 MB, so it tries ``--big-examples`` inputs, one per kind of text.

This script runs every class with a large budget and prints a markdown table; it exits 1 when
any input failed. ``tests/test_fuzz.py`` runs the same generators with a small hypothesis budget.
"""

from __future__ import annotations

import argparse
import atexit
import hashlib
import io
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import dataprep.io.reader
from dataprep.synth import SynthConfig, generate
from dataprep.text.tokenizer import get_encoding
from dataprep_cli.main import main

# tests/reference.py states the normalisation rule one character at a time; class 9 checks against it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from reference import normalize as reference_normalize  # noqa: E402

CASE_SECONDS = 60
OK, ERROR, EITHER, FAIL = "ok", "error", "either", "failure"
BASE_DOCS = 60
BASE_POOL = 6  # generated base shards per process: synth builds a 30k-word vocabulary per call (~1 s)


# ------------------------------------------------------------------ running the commands


class CaseTimeout(BaseException):
    """A BaseException, so the CLI's catch-all cannot report a hang as an ordinary internal error."""


@contextmanager
def time_limit(seconds: int = CASE_SECONDS) -> Iterator[None]:
    def alarm(signum, frame):
        raise CaseTimeout(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Run:
    code: int
    out: str
    err: str


def cli(*argv) -> Run:
    """``dataprep ARGV`` in this process (a subprocess would cost a second of imports per call)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in argv])
    return Run(code, out.getvalue(), err.getvalue())


# estimate and build take the same rules, so estimate forecasts exactly what build writes. No val
# split: these inputs are a handful of documents, under the training window a build refuses to
# write as val (docs/build.md); reading them is what is fuzzed here.
RULES = ["--no-score-filter", "--val-fraction", "0"]


def estimate_cmd(path: Path) -> list:
    return ["estimate", path, "--json", *RULES]


def build_cmd(path: Path, out: Path) -> list:
    return ["build", "--input", path, "--out", out, "--workers", "1", "--json", *RULES]


@dataclass
class Result:
    """What a case's checks see: each command's JSON (None when it refused the input)."""

    report: dict | None
    meta: dict | None
    out: Path  # the build's output directory


@dataclass
class Case:
    path: Path
    estimate: str = EITHER  # the correct outcome of each command: OK, ERROR or EITHER
    build: str = EITHER
    words: tuple[str, ...] = ()  # an error line must hold these
    check: Callable[[Result], None] | None = None  # further assertions on the results
    consistent: bool = True  # both commands must accept the input, or both refuse it
    during: Callable[[], object] | None = None  # class 11: a context manager that changes the file mid-read
    reset: Callable[[], None] | None = None  # class 11: put the original file back before each command
    label: str = ""  # which variant of its class, for failure messages


def judge(case: Case, workdir: Path) -> tuple[str, str]:
    """(OK | ERROR | FAIL, why) for one input, under the time limit."""
    try:
        with time_limit():
            return _judge(case, workdir)
    except CaseTimeout as exc:
        return FAIL, f"[{case.label}] {exc}"
    except AssertionError as exc:
        return FAIL, f"[{case.label}] {exc or 'assertion failed'}"
    except Exception as exc:  # a check that could not even run counts against the input, visibly
        return FAIL, f"[{case.label}] checking raised {type(exc).__name__}: {exc}"


def _command(case: Case, argv: list) -> Run:
    if case.reset:
        case.reset()
    if case.during is None:
        return cli(*argv)
    with case.during():
        return cli(*argv)


def _judge(case: Case, workdir: Path) -> tuple[str, str]:
    out = workdir / "out"
    report = _outcome("estimate", _command(case, estimate_cmd(case.path)), case.estimate, case)
    meta = _outcome("build", _command(case, build_cmd(case.path, out)), case.build, case)
    if report is not None:
        check_report(report)
    if meta is None:
        assert not (out / "meta.json").exists(), "build failed but left a meta.json: the output looks complete"
    else:
        check_build_output(meta, out)
    if case.consistent:
        assert (report is None) == (meta is None), "estimate and build disagree on whether the input is readable"
    if report is not None and meta is not None and case.during is None:  # both read the same bytes
        check_agreement(report, meta)
    if case.check is not None:
        case.check(Result(report, meta, out))
    if report is not None and meta is not None:
        return OK, ""
    return ERROR, ""


def _outcome(name: str, run: Run, expected: str, case: Case) -> dict | None:
    """The command's JSON when it succeeded, None when it gave a clear error; asserts it did one or the other."""
    assert "Traceback" not in run.err, f"{name}: traceback\n{run.err[-2000:]}"
    assert "internal error" not in run.err, f"{name}: {run.err.strip()}"
    if run.code == 0:
        assert expected != ERROR, f"{name}: accepted an input it must refuse"
        assert run.err == "", f"{name}: exit 0 but stderr: {run.err[:300]!r}"
        try:
            return json.loads(run.out)
        except ValueError:
            raise AssertionError(f"{name}: exit 0 but stdout is not JSON: {run.out[:200]!r}") from None
    assert run.code == 2, f"{name}: exit {run.code}: {run.err.strip()[:300]}"
    assert expected != OK, f"{name}: refused a valid input: {run.err.strip()}"
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dataprep: "), f"{name}: not one clear line: {run.err[:500]!r}"
    assert run.out == "", f"{name}: exit 2 but printed {run.out[:200]!r}"
    assert case.path.name in lines[0], f"{name}: the error does not name the file: {lines[0]}"
    for w in case.words:
        assert w in lines[0], f"{name}: {w!r} not in {lines[0]!r}"
    return None


def check_report(r: dict) -> None:
    """What any estimate report must satisfy, whatever the input."""
    assert r["docs"] == sum(f["rows"] for f in r["files"]) > 0, "docs != rows in the footer"
    assert r["tokens"] >= r["docs"], "fewer tokens than one EOT per document"
    removed = r["exact_duplicate_docs"] + r["near_duplicate_docs"] + r["filtered_docs"]
    assert removed + r["effective_docs"] == r["docs"], "documents removed and kept do not add up"
    assert 0 <= r["effective_tokens"] <= r["tokens"]
    kept = {row["stage"]: row["tokens"] for row in r["waterfall"] if row["stage"] in ("train", "val")}
    assert sum(kept.values()) == r["effective_tokens"], "waterfall and effective tokens differ"
    hist = r["score_histogram"]
    if hist is not None:
        assert sum(v["docs"] for v in hist.values()) == r["docs"], f"score histogram misses documents: {hist}"
        assert sum(v["tokens"] for v in hist.values()) == r["tokens"], "score histogram misses tokens"


def check_build_output(meta: dict, out: Path) -> None:
    """A finished build: its bins hold exactly the tokens meta.json promises, one manifest row per document."""
    assert (out / "meta.json").exists() and not (out / ".work").exists()
    for split in ("train", "val"):
        assert (out / f"{split}.bin").stat().st_size == 2 * meta[f"{split}_tokens"], f"{split}.bin size"
    rows = pq.ParquetFile(out / "manifest.parquet").metadata.num_rows
    assert rows == meta["waterfall"][0]["docs"], "manifest rows != input documents"


def check_agreement(r: dict, meta: dict) -> None:
    """estimate runs build's decision core with the same rules, so it forecasts build exactly."""
    assert r["waterfall"] == meta["waterfall"], "estimate's waterfall differs from build's"
    assert meta["train_docs"] + meta["val_docs"] == r["effective_docs"], "kept documents differ"
    assert meta["train_tokens"] + meta["val_tokens"] == r["effective_tokens"], "written tokens differ"


def without_paths(report: dict) -> dict:
    """A report minus what names or sizes the file, to compare two files holding the same documents."""
    return {k: v for k, v in report.items() if k != "files"}


def bins(out: Path) -> bytes:
    return (out / "train.bin").read_bytes() + b"|" + (out / "val.bin").read_bytes()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ inputs


@lru_cache(maxsize=None)
def _base_dir() -> Path:
    d = Path(tempfile.mkdtemp(prefix="dataprep-fuzz-"))
    atexit.register(shutil.rmtree, d, True)
    return d


@lru_cache(maxsize=None)
def base_shard(k: int) -> Path:
    """A valid FineWeb-Edu-like shard of 60 documents (one of BASE_POOL, generated once per process)."""
    path = _base_dir() / f"base_{k}.parquet"
    generate(path, SynthConfig(docs=BASE_DOCS, seed=1000 + k))
    return path


@dataclass
class Ctx:
    """What a generator gets: a seeded random source and a directory of its own."""

    seed: int
    tmp: Path
    big_mb: float
    rng: np.random.Generator = field(init=False)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)

    def choice(self, options):
        return options[int(self.rng.integers(len(options)))]

    def base(self) -> Path:
        return base_shard(self.seed % BASE_POOL)

    def base_table(self) -> pa.Table:
        return pq.read_table(self.base())

    def write(self, name: str, table: pa.Table, **kwargs) -> Path:
        path = self.tmp / name
        pq.write_table(table, path, **kwargs)
        return path

    def write_bytes(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def row_groups(self, n: int) -> int:
        """A row-group size that often splits the file, so row numbers must carry across batches."""
        return int(self.rng.integers(1, n + 1))


# 1. truncated -------------------------------------------------------------------------


def truncated(c: Ctx) -> Case:
    good = c.base().read_bytes()
    # Half the cuts land in the last KiB, where the footer and its length live.
    if c.rng.random() < 0.5:
        cut = int(c.rng.integers(0, len(good)))
    else:
        cut = int(c.rng.integers(max(0, len(good) - 1024), len(good)))
    return Case(c.write_bytes("truncated.parquet", good[:cut]), estimate=ERROR, build=ERROR,
                label=f"{cut} of {len(good)} bytes")


# 2. flipped bytes ---------------------------------------------------------------------


FLIP_LAYOUTS = {  # how the shard is written before bytes are flipped
    "snappy": {},
    "uncompressed": {"compression": "none"},
    "uncompressed, page checksums": {"compression": "none", "write_page_checksum": True},
    "zstd, page checksums": {"compression": "zstd", "write_page_checksum": True},
}


def flipped(c: Ctx) -> Case:
    layout = c.choice(list(FLIP_LAYOUTS))
    original = c.write("original.parquet", c.base_table(), **FLIP_LAYOUTS[layout])
    data = bytearray(original.read_bytes())
    # Few flips half the time: one damaged byte is the common case and the likeliest to go unnoticed.
    positions = c.rng.integers(0, len(data), int(c.rng.integers(1, 4 if c.rng.random() < 0.5 else 51)))
    for pos in positions:
        data[pos] ^= int(c.rng.integers(1, 256))
    footer_start = len(data) - 8 - int.from_bytes(original.read_bytes()[-8:-4], "little")
    # Checksummed pages make a damaged page an error, so with checksums and an intact footer
    # (which no checksum covers) a result must be the undamaged file's. Without checksums a flip
    # in text can give different but valid text: a result then only has to count every row.
    trusted = "checksums" in layout and bool((positions < footer_start).all())

    def check(res: Result) -> None:
        if res.report is not None:
            assert res.report["docs"] == BASE_DOCS, f"read {res.report['docs']} documents of {BASE_DOCS}"
            if trusted:
                good = cli(*estimate_cmd(original))
                assert without_paths(res.report) == without_paths(json.loads(good.out)), "damage went unnoticed"

    label = f"{layout}, {len(positions)} flips{', footer intact' if trusted else ''}"
    # estimate reads token_count, build reads id and language_score: a flip in a page only one of
    # them reads may fail that one alone.
    return Case(c.write_bytes("flipped.parquet", bytes(data)), check=check, consistent=False, label=label)


# 3. wrong column types ----------------------------------------------------------------


VALUES = {  # a column of each kind, from row numbers 0..n-1 and the documents' texts
    "int": lambda ints, texts: pa.array(ints % 6),
    "int 0..59": lambda ints, texts: pa.array(ints),  # outside int_score's 0..5
    "uint64 2**63": lambda ints, texts: pa.array(ints.astype(np.uint64) + np.uint64(2**63)),  # beyond int64
    "float": lambda ints, texts: pa.array(ints * 0.5),
    "bool": lambda ints, texts: pa.array(ints % 2 == 0),
    "list<string>": lambda ints, texts: pa.array([[t] for t in texts]),
    "struct": lambda ints, texts: pa.array([{"body": t} for t in texts]),
    "timestamp": lambda ints, texts: pa.array(ints.astype("datetime64[s]")),
    "date": lambda ints, texts: pa.array(ints.astype("datetime64[D]")),
    "string": lambda ints, texts: pa.array([f"high {i}" for i in ints]),
    "binary": lambda ints, texts: pa.array([b"\x00\x01"] * len(ints)),
    "binary-invalid": lambda ints, texts: pa.array([b"\xff"] * len(ints)),
    "list<double>": lambda ints, texts: pa.array([[0.5, 1.5]] * len(ints)),
    "decimal": lambda ints, texts: pa.array([1] * len(ints), pa.decimal128(5, 2)),
    # the right kinds in other widths
    "int8": lambda ints, texts: pa.array(ints % 6, pa.int8()),
    "uint16": lambda ints, texts: pa.array(ints % 6, pa.uint16()),
    "float32": lambda ints, texts: pa.array(ints % 6, pa.float32()),
    "float16": lambda ints, texts: pa.array((ints % 6).astype(np.float16)),
    "dictionary<double>": lambda ints, texts: pa.array((ints % 6) * 1.0).dictionary_encode(),
}


def _values(kind: str, texts: list[str]) -> pa.Array:
    return VALUES[kind](np.arange(len(texts)), texts)


TEXT_WRONG = ("int", "float", "bool", "list<string>", "struct", "timestamp", "date", "binary-invalid")
NUMERIC_KINDS = ("string", "bool", "list<double>", "struct", "timestamp", "binary", "decimal", "int", "int 0..59",
                 "uint64 2**63", "int8", "uint16", "float", "float32", "float16", "dictionary<double>")
ACCEPTED = {  # the documented rule: score may be any number; int_score and token_count integers, int_score 0..5
    "score": {"int", "int 0..59", "int8", "uint16", "float", "float32", "float16", "dictionary<double>"},
    "int_score": {"int", "int8", "uint16"},
    "token_count": {"int", "int 0..59", "int8", "uint16"},
}


def wrong_types(c: Ctx) -> Case:
    table = c.base_table()
    texts = table["text"].to_pylist()
    column = c.choice(["text", "text", "score", "int_score", "token_count", "id"])
    if column == "text":
        kind = c.choice(TEXT_WRONG)
        words = ("UTF-8",) if kind == "binary-invalid" else ("expected strings",)
        table = table.set_column(table.schema.get_field_index("text"), "text", _values(kind, texts))
        return Case(c.write("types.parquet", table), estimate=ERROR, build=ERROR, words=words, label=f"text {kind}")
    kind = c.choice([k for k in NUMERIC_KINDS if column != "id" or k != "string"])
    table = table.set_column(table.schema.get_field_index(column), column, _values(kind, texts))
    path = c.write("types.parquet", table)
    label = f"{column} {kind}"
    if column == "id":  # ids are optional: a non-string id column is not used, never an error
        return Case(path, estimate=OK, build=OK, check=_ids_are_null, label=label)
    if (column, kind) == ("token_count", "uint64 2**63"):  # only estimate reads token_count's values
        return Case(path, estimate=ERROR, build=OK, consistent=False, words=(repr(column),), label=label)
    ok = kind in ACCEPTED[column]
    expect = OK if ok else ERROR
    return Case(path, estimate=expect, build=expect, words=() if ok else (repr(column),), label=label)


def _ids_are_null(res: Result) -> None:
    ids = pq.read_table(res.out / "manifest.parquet")["id"]
    assert ids.null_count == len(ids), "a non-string id column was used as ids"


# 4. nested or dictionary-encoded text -------------------------------------------------

SAME_AS_PLAIN = {  # text columns that hold the same strings differently: the result must not change
    "dictionary<int32, string>": lambda t: pa.array(t).dictionary_encode(),
    "dictionary<int8, string>": lambda t: pa.array(t).dictionary_encode().cast(pa.dictionary(pa.int8(), pa.string())),
    "dictionary<large_string>": lambda t: pa.array(t, pa.large_string()).dictionary_encode(),
    "dictionary<binary>": lambda t: pa.array([s.encode() for s in t], pa.binary()).dictionary_encode(),
    "large_string": lambda t: pa.array(t, pa.large_string()),
    "string_view": lambda t: pa.array(t, pa.string_view()),
    "binary": lambda t: pa.array([s.encode() for s in t], pa.binary()),
}
NESTED = {  # text one level down: refused, never flattened silently
    "list<string>": lambda t: pa.array([[s] for s in t]),
    "large_list<string>": lambda t: pa.array([[s] for s in t], pa.large_list(pa.string())),
    "list<dictionary<string>>": lambda t: pa.array([[s] for s in t], pa.list_(pa.dictionary(pa.int32(), pa.string()))),
    "struct<text>": lambda t: pa.array([{"text": s} for s in t]),
    "map<string,string>": lambda t: pa.array([[("text", s)] for s in t], pa.map_(pa.string(), pa.string())),
}


def nested_or_dictionary(c: Ctx) -> Case:
    table = c.base_table()
    texts = table["text"].to_pylist()
    if c.rng.random() < 0.3:
        # Repeat some documents so a dictionary really shares values.
        texts = [texts[int(i)] for i in c.rng.integers(0, len(texts), len(texts))]
        table = table.set_column(table.schema.get_field_index("text"), "text", pa.array(texts))
    rows = c.row_groups(len(texts))
    idx = table.schema.get_field_index("text")
    if c.rng.random() < 0.3:
        kind = c.choice(list(NESTED))
        path = c.write("nested.parquet", table.set_column(idx, "text", NESTED[kind](texts)), row_group_size=rows)
        return Case(path, estimate=ERROR, build=ERROR, words=("expected strings",), label=kind)
    kind = c.choice(list(SAME_AS_PLAIN))
    plain = c.write("plain.parquet", table, row_group_size=rows)
    path = c.write("encoded.parquet", table.set_column(idx, "text", SAME_AS_PLAIN[kind](texts)), row_group_size=rows)
    return Case(path, estimate=OK, build=OK, check=_same_result_as(plain), label=kind)


def _same_result_as(reference: Path) -> Callable[[Result], None]:
    def check(res: Result) -> None:
        ref = cli(*estimate_cmd(reference))
        assert ref.code == 0, ref.err
        assert without_paths(res.report) == without_paths(json.loads(ref.out)), "report differs from plain strings"
        out = res.out.parent / "reference_out"
        assert cli(*build_cmd(reference, out)).code == 0
        assert bins(res.out) == bins(out), "bins differ from plain strings"

    return check


# 5. null texts ------------------------------------------------------------------------


NULLABLE = {
    "string": lambda v: pa.array(v, pa.string()),
    "dictionary<string>": lambda v: pa.array(v, pa.string()).dictionary_encode(),
    "large_string": lambda v: pa.array(v, pa.large_string()),
    "binary": lambda v: pa.array([None if s is None else s.encode() for s in v], pa.binary()),
}


def null_texts(c: Ctx) -> Case:
    texts = c.base_table()["text"].to_pylist()
    n = len(texts)
    nulls = c.rng.random(n) < c.choice([0.02, 0.2, 1.0])
    nulls[int(c.rng.integers(n))] |= not nulls.any()  # at least one
    values = [None if z else t for t, z in zip(texts, nulls)]
    kind = c.choice(list(NULLABLE))
    path = c.write("nulls.parquet", pa.table({"text": NULLABLE[kind](values)}), row_group_size=c.row_groups(n))
    first = int(np.flatnonzero(nulls)[0])
    return Case(path, estimate=ERROR, build=ERROR, words=(f"null text at row {first}",),
                label=f"{kind}, {int(nulls.sum())} of {n} null")


# 6. invalid UTF-8 ---------------------------------------------------------------------

BAD_UTF8 = [
    b"\xff", b"\xfe\xff", b"\x80", b"caf\xe9", b"\xc0\xaf", b"\xe0\x80\xaf",  # bad starts, latin-1, overlong
    b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82",  # surrogate, > U+10FFFF, 5 bytes, cut
]


def _random_bytes(c: Ctx) -> bytes:
    """Valid text with one or more bad sequences spliced in, or plain random bytes."""
    if c.rng.random() < 0.2:
        return c.rng.bytes(int(c.rng.integers(1, 40)))
    base = "good text, ünïcode 東京 🙂 ".encode() * int(c.rng.integers(1, 4))
    for _ in range(int(c.rng.integers(1, 3))):
        at = int(c.rng.integers(0, len(base) + 1))
        base = base[:at] + c.choice(BAD_UTF8) + base[at:]
    return base


def _first_invalid(values: list[bytes]) -> int | None:
    for i, v in enumerate(values):
        try:
            v.decode("utf-8")
        except UnicodeDecodeError:
            return i
    return None


def invalid_utf8(c: Ctx) -> Case:
    texts = [t.encode() for t in c.base_table()["text"].to_pylist()]
    n = len(texts)
    for i in c.rng.integers(0, n, int(c.rng.integers(1, 6))):
        texts[i] = _random_bytes(c)
    column = c.choice(["text"] * 4 + ["id"])
    kind = c.choice(["binary", "large_binary", "string (unvalidated)", "large_string (unvalidated)"])
    if kind.startswith("string"):
        values = pa.array(texts, pa.binary()).view(pa.string())  # skips pyarrow's UTF-8 check
    elif kind.startswith("large_string"):
        values = pa.array(texts, pa.large_binary()).view(pa.large_string())
    else:
        values = pa.array(texts, pa.large_binary() if kind == "large_binary" else pa.binary())
    rows = c.row_groups(n)
    bad = _first_invalid(texts)
    if column == "text":
        path = c.write("utf8.parquet", pa.table({"text": values}), row_group_size=rows)
        if bad is None:  # random bytes that happen to be valid UTF-8
            return Case(path, estimate=OK, build=OK, label=f"text {kind}, valid")
        return Case(path, estimate=ERROR, build=ERROR, words=(f"row {bad} ", "UTF-8"), label=f"text {kind}")
    # A bad id: the val split hashes ids, so both commands must refuse clearly, or ignore a binary column.
    good = c.base_table()["text"]
    path = c.write("utf8.parquet", pa.table({"text": good, "id": values}), row_group_size=rows)
    is_string = "string" in kind
    outcome = ERROR if is_string and bad is not None else OK
    return Case(path, estimate=outcome, build=outcome,
                words=(f"row {bad} ", "UTF-8") if is_string and bad is not None else (), label=f"id {kind}")


# 7. empty and header-only files -------------------------------------------------------


def empty_files(c: Ctx) -> Case:
    good = c.base().read_bytes()
    empty_text = pa.table({"text": pa.array([], pa.string())})
    variants = {
        "zero bytes": lambda: c.write_bytes("v.parquet", b""),
        "magic only": lambda: c.write_bytes("v.parquet", b"PAR1"),
        "header, no footer": lambda: c.write_bytes("v.parquet", good[: int(c.rng.integers(5, 4096))]),
        "magic and junk": lambda: c.write_bytes("v.parquet", b"PAR1" + c.rng.bytes(int(c.rng.integers(0, 64)))),
        "zero-length footer": lambda: c.write_bytes("v.parquet", b"PAR1\x00\x00\x00\x00PAR1"),
        "zero rows": lambda: c.write("v.parquet", empty_text),
        "zero rows, edu columns": lambda: c.write("v.parquet", c.base_table().slice(0, 0)),
        "zero rows, large_string": lambda: c.write("v.parquet", pa.table({"text": pa.array([], pa.large_string())})),
        "zero rows, no columns": lambda: c.write("v.parquet", pa.table({})),
        "zero rows, int text": lambda: c.write("v.parquet", pa.table({"text": pa.array([], pa.int64())})),
        "zero rows, many groups": lambda: _zero_row_groups(c.tmp / "v.parquet", int(c.rng.integers(2, 5))),
    }
    name = c.choice(list(variants))
    return Case(variants[name](), estimate=ERROR, build=ERROR, label=name)


def _zero_row_groups(path: Path, groups: int) -> Path:
    empty = pa.table({"text": pa.array([], pa.string())})
    with pq.ParquetWriter(path, empty.schema) as w:
        for _ in range(groups):
            w.write_table(empty)
    return path


# 8. one enormous document -------------------------------------------------------------

BIG_FLAVOURS = ("prose", "one line", "no spaces", "cjk")
COMPARE_TOKENS_UP_TO_MB = 32  # above this a second tokenization to check the count costs too much


def _big_text(c: Ctx, flavour: str, n_bytes: int) -> str:
    words = np.array("the of and to in a is that learning energy naïve café 2024 x".split())
    if flavour == "no spaces":  # one base64-like token as long as the whole document
        alphabet = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8)
        return alphabet[c.rng.integers(0, len(alphabet), n_bytes)].tobytes().decode()
    if flavour == "cjk":
        chars = np.array(list("東京大学中文日本語の研究は。、"))
        return "".join(chars[c.rng.integers(0, len(chars), n_bytes // 3)])
    picked = words[c.rng.integers(0, len(words), n_bytes // 5)]
    if flavour == "prose":
        picked[c.rng.integers(0, len(picked), len(picked) // 40)] = "end.\n"
    return " ".join(picked)


def enormous_document(c: Ctx) -> Case:
    flavour = BIG_FLAVOURS[c.seed % len(BIG_FLAVOURS)]  # seeds 0..3 cover every flavour
    text = _big_text(c, flavour, int(c.big_mb * 2**20))
    path = c.write("big.parquet", pa.table({"text": [text]}))
    expected = None
    if c.big_mb <= COMPARE_TOKENS_UP_TO_MB:
        expected = len(get_encoding().encode_ordinary(text)) + 1
    n_bytes = len(text.encode())
    del text

    def check(res: Result) -> None:
        r = res.report
        assert r["docs"] == 1 and r["tokens"] > 1 and r["text_bytes"] == n_bytes
        if expected is not None:
            assert r["tokens"] == expected, f"tokens {r['tokens']} != encode_ordinary + 1 = {expected}"
        assert res.meta["train_tokens"] + res.meta["val_tokens"] == r["tokens"]

    return Case(path, estimate=OK, build=OK, check=check, label=f"{flavour}, {c.big_mb:g} MB")


# 9. documents without ASCII words -----------------------------------------------------

WHITESPACE = " \t\r\n\x0b\x0c\x85\u00a0\u2003\u3000\u2028\u2029"
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~。、！？«»—…¿¡·•§¶†‡※"
SYMBOLS = ["🙂", "🎉", "👍🏽", "©", "€", "∑", "→", "★", "♥"]
WORDS = ["東京", "大学", "中文字", "日本語", "한국어", "مرحبا", "بالعالم", "Москва", "ΣΟΦΙΑΣ", "ὀδυσσεύς",
         "नमस्ते", "ภาษาไทย", "Ça", "façade", "İstanbul", "straße", "Ǆemal", "١٢٣", "۴۵۶", "٣"]


def _separator(c: Ctx) -> str:
    pool = WHITESPACE + PUNCTUATION + "".join(SYMBOLS)
    return "".join(c.choice(pool) for _ in range(int(c.rng.integers(1, 4))))


def _wordless_or_short_doc(c: Ctx, earlier: list[str]) -> str:
    kind = c.choice(["empty", "whitespace", "punctuation", "symbols", "words", "words", "copy"])
    if kind == "copy" and earlier:  # the same words restyled: an exact duplicate after normalisation
        words = reference_normalize(c.choice(earlier)).split()
        return _separator(c).join([""] + [w.upper() if c.rng.random() < 0.5 else w for w in words] + [""])
    if kind == "whitespace":
        return "".join(c.choice(WHITESPACE) for _ in range(int(c.rng.integers(1, 20))))
    if kind == "punctuation":
        return "".join(c.choice(PUNCTUATION + WHITESPACE) for _ in range(int(c.rng.integers(1, 20))))
    if kind == "symbols":
        return "".join(c.choice(SYMBOLS + [" "]) for _ in range(int(c.rng.integers(1, 10))))
    if kind == "words":  # at most 4 words: one shingle, so distinct word lists never share a shingle
        words = [c.choice(WORDS) for _ in range(int(c.rng.integers(1, 5)))]
        return _separator(c).join([""] + words + [""])
    return ""


def no_ascii_words(c: Ctx) -> Case:
    texts: list[str] = []
    for _ in range(int(c.rng.integers(2, 31))):
        texts.append(_wordless_or_short_doc(c, texts))
    path = c.write("words.parquet", pa.table({"text": texts}), row_group_size=c.row_groups(len(texts)))

    # docs/estimate.md: a document is an exact duplicate when its normalised words equal an earlier
    # document's (so every document without words after the first is one); a document without words
    # is never a near duplicate; tokens are encode_ordinary + 1 EOT per document.
    normalised = [tuple(reference_normalize(t).split()) for t in texts]
    seen: set = set()
    expected_exact = []
    for words in normalised:
        expected_exact.append(words in seen)
        seen.add(words)
    enc = get_encoding()
    tokens = sum(len(enc.encode_ordinary(t)) + 1 for t in texts)

    def check(res: Result) -> None:
        r = res.report
        assert r["text_bytes"] == sum(len(t.encode()) for t in texts)
        assert r["tokens"] == tokens, f"tokens {r['tokens']} != {tokens}"
        assert r["exact_duplicate_docs"] == sum(expected_exact), (
            f"exact duplicates {r['exact_duplicate_docs']} != {sum(expected_exact)} for {texts!r}")
        assert r["near_duplicate_docs"] == 0, f"near duplicates among documents sharing no shingle: {texts!r}"
        reasons = pq.read_table(res.out / "manifest.parquet")["reason"].to_pylist()
        got = [x == "exact-dup" for x in reasons]
        assert got == expected_exact, f"build's exact duplicates {got} != {expected_exact} for {texts!r}"
        assert "near-dup" not in reasons

    return Case(path, estimate=OK, build=OK, check=check)


# 10. duplicate ids --------------------------------------------------------------------


def duplicate_ids(c: Ctx) -> Case:
    table = c.base_table()
    n = table.num_rows
    pool = c.choice([["same"], ["a", "b", "c"], ["", "x"], ["dup", None], ["é" * 300, "東京"]])
    ids = [pool[int(i)] for i in c.rng.integers(0, len(pool), n)]
    values = pa.array(ids, pa.string())
    if c.rng.random() < 0.3:
        values = values.dictionary_encode()
    table = table.set_column(table.schema.get_field_index("id"), "id", values)
    path = c.write("ids.parquet", table, row_group_size=c.row_groups(n))

    def check(res: Result) -> None:
        assert pq.read_table(res.out / "manifest.parquet")["id"].to_pylist() == ids, "manifest ids changed"

    return Case(path, estimate=OK, build=OK, check=check)


# 11. files that change while being read -----------------------------------------------


class Tripwire:
    """Stands in for pyarrow.parquet inside dataprep.io.reader, to change the file at one chosen moment.

    The reader opens a file once for its footer (open 1), then once per pass over the rows (open 2,
    and 3 for estimate's boilerplate pass). The change fires just before open ``opening``, or
    after ``after_batches`` batches of it have been handed over. Firing synchronously, not from a
    racing thread, makes every failure reproducible from its seed.
    """

    def __init__(self, opening: int, after_batches: int, change: Callable[[], None]):
        self.opening, self.after_batches, self.change = opening, after_batches, change
        self.opened = self.batches = 0

    def __getattr__(self, name):
        return getattr(pq, name)

    def ParquetFile(self, source, *args, **kwargs):  # noqa: N802 (pyarrow's name)
        self.opened += 1
        armed = self.opened == self.opening
        if armed and self.after_batches == 0:
            self.change()
        pf = pq.ParquetFile(source, *args, **kwargs)
        if armed and self.after_batches > 0:
            inner = pf.iter_batches

            def iter_batches(*a, **k):
                for rb in inner(*a, **k):
                    yield rb
                    self.batches += 1
                    if self.batches == self.after_batches:
                        self.change()

            pf.iter_batches = iter_batches
        return pf


@contextmanager
def tripwire_installed(wire: Tripwire) -> Iterator[None]:
    saved = dataprep.io.reader.pq
    dataprep.io.reader.pq = wire
    try:
        yield
    finally:
        dataprep.io.reader.pq = saved


def changing_file(c: Ctx) -> Case:
    original = c.write("original.parquet", c.base_table(), row_group_size=int(c.rng.integers(5, 21)))
    other_table = pq.read_table(base_shard((c.seed + 1) % BASE_POOL))
    replacements = {
        "other documents": lambda: c.write("other.parquet", other_table, row_group_size=10),
        "fewer rows": lambda: c.write("other.parquet", other_table.slice(0, 17)),
        "int text": lambda: c.write("other.parquet", pa.table({"text": list(range(BASE_DOCS))})),
        "junk": lambda: c.write_bytes("other.parquet", c.rng.bytes(4096)),
    }
    replaced_by = c.choice(list(replacements))
    replacement = replacements[replaced_by]()
    path = c.tmp / "live.parquet"
    new = replacement.read_bytes()
    cut = int(c.rng.integers(0, original.stat().st_size))

    def overwrite_in_place() -> None:
        with open(path, "r+b") as f:
            f.write(new)
            f.truncate()

    def append_junk() -> None:
        with open(path, "ab") as f:
            f.write(b"\x00junk" * 100)

    def replace_atomically() -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(new)
        os.replace(tmp, path)

    changes = {
        "truncate": lambda: os.truncate(path, cut),
        "overwrite in place": overwrite_in_place,
        "replace (rename)": replace_atomically,
        "delete": lambda: path.unlink(),
        "append junk": append_junk,
    }
    how = c.choice(list(changes))
    change = changes[how]
    opening = int(c.rng.integers(2, 4))
    after = c.choice([0, 1, 1, 2])

    def reset() -> None:
        shutil.copyfile(original, path)

    def check(res: Result) -> None:
        # A result is correct only if it is the whole result of one version of the file.
        if res.report is not None:
            candidates = [_reference_report(original), _reference_report(replacement)]
            assert without_paths(res.report) in candidates, "estimate mixed two versions of a file"
        if res.meta is not None:
            version = _built_from(res.out, [original, replacement], c.tmp)
            assert version is not None, "build's bins match neither version of the file"
            assert res.meta["sources"][0]["sha256"] == sha256(version), "meta.json's sha256 is not of the bytes built"

    moment = f"before open {opening}" if after == 0 else f"after batch {after} of open {opening}"
    return Case(path, during=lambda: tripwire_installed(Tripwire(opening, after, change)), reset=reset,
                check=check, consistent=False, label=f"{how} ({replaced_by}) {moment}")


def _reference_report(path: Path) -> dict | None:
    run = cli(*estimate_cmd(path))
    return without_paths(json.loads(run.out)) if run.code == 0 else None


def _built_from(out: Path, versions: list[Path], tmp: Path) -> Path | None:
    for i, v in enumerate(versions):
        ref = tmp / f"reference_build_{i}"
        if cli(*build_cmd(v, ref)).code == 0 and bins(ref) == bins(out):
            return v
    return None


# ------------------------------------------------------------------ registry and report

CLASSES: dict[str, Callable[[Ctx], Case]] = {
    "1 truncated": truncated,
    "2 flipped bytes": flipped,
    "3 wrong column types": wrong_types,
    "4 nested / dictionary text": nested_or_dictionary,
    "5 null texts": null_texts,
    "6 invalid UTF-8": invalid_utf8,
    "7 zero rows / zero bytes / header only": empty_files,
    "8 one enormous document": enormous_document,
    "9 whitespace, punctuation, non-ASCII, empty": no_ascii_words,
    "10 duplicate ids": duplicate_ids,
    "11 file changes while read": changing_file,
}


def make_case(name: str, seed: int, tmp: Path, big_mb: float = 8) -> Case:
    return CLASSES[name](Ctx(seed=seed, tmp=tmp, big_mb=big_mb))


def try_one(name: str, seed: int, big_mb: float = 8) -> tuple[str, str]:
    """Generate input ``seed`` of a class in a fresh directory and judge it."""
    with tempfile.TemporaryDirectory(prefix="fuzz-") as d:
        try:
            case = make_case(name, seed, Path(d), big_mb)
        except Exception as exc:  # a generator bug must not pass for a dataprep bug, nor stop the report
            return FAIL, f"generator raised {type(exc).__name__}: {exc}"
        return judge(case, Path(d))


def main_report(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--examples", type=int, default=200, help="inputs per class (default 200)")
    p.add_argument("--big-mb", type=float, default=100, help="size of class 8's document (default 100)")
    p.add_argument("--big-examples", type=int, default=4, help="inputs for class 8 (default 4: ~1 min each at 100 MB)")
    p.add_argument("--only", nargs="+", metavar="N", help="class numbers to run, e.g. --only 3 11")
    p.add_argument("--first-seed", type=int, default=0)
    args = p.parse_args(argv)
    names = [n for n in CLASSES if not args.only or n.split()[0] in args.only]
    rows, failures = [], []
    tried = 0
    started = time.perf_counter()
    for name in names:
        count = min(args.examples, args.big_examples) if name.startswith("8 ") else args.examples
        tally: Counter = Counter()
        t0 = time.perf_counter()
        for seed in range(args.first_seed, args.first_seed + count):
            kind, why = try_one(name, seed, args.big_mb)
            tally[kind] += 1
            if kind == FAIL:
                failures.append(f"- class {name}, seed {seed}: {why.splitlines()[0] if why else ''}")
        tried += count
        rows.append(f"| {name} | {count} | {tally[OK]} | {tally[ERROR]} | {tally[FAIL]} |")
        print(f"{name}: {count} inputs, {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print("| class | inputs tried | correct result | clear error (exit 2) | failures |")
    print("|---|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"\n{tried} inputs in {time.perf_counter() - started:.0f} s; "
          f"class 8 documents of {args.big_mb:g} MB.")
    if failures:
        print("\nfailures (rerun one with --only N --first-seed SEED --examples 1):")
        print("\n".join(failures[:40] + [f"... and {len(failures) - 40} more"] * (len(failures) > 40)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main_report())
