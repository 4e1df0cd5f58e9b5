"""A real-text benchmark corpus, assembled offline from text already on this machine.

    python bench/realtext.py OUT [--mb 50] [--shards 1]

Generated text (``dataprep synth``) is regular: short ASCII lines, few boilerplate
documents. Real pretraining text is not, and speed measured on one does not carry
over to the other. This script gathers English text that any Debian/Ubuntu machine
with Python holds, with no network:

  man        man pages (/usr/share/man/man[1-8], English only) rendered with
             ``groff -Tutf8 -mandoc``, as ``man -P cat`` shows them
  doc        /usr/share/doc: changelogs, NEWS, READMEs, copyright files, AUTHORS,
             TODO, *.txt and *.md (gzip or plain; binary files skipped)
  licence    /usr/share/common-licenses and LICENSE*/COPYING* files of installed
             Python packages
  python     docstrings of the standard library (one document per module, read with
             ``ast``, nothing imported) and the .rst/.txt/.md files of installed
             Python packages (those of the interpreter that runs this script)

All files found form the *pool*, cached in bench/out/realtext_pool.parquet (rendering
every man page takes minutes; ``--rebuild-pool`` gathers it again). From the pool:

- at most ``--per-family`` (300) man pages of one command family (gcloud-*, git-*), chosen
  by a hash of the URL: one SDK can ship thousands of generated reference pages;
- at most the first ``--max-file-kb`` (256 KB) of a file, so a few multi-megabyte
  changelogs do not outweigh the rest;
- files cut at blank lines into documents of at most ``--max-doc-kb`` (4 KB), as long pages
  are split on the web (a longer paragraph is cut at line ends, its lines then separated
  by blank lines); parts under 200 bytes are dropped.

Natural duplicates are kept: packages built from one source ship the same changelog and
copyright file, licences repeat, man pages share headings and option text. The documents
are put in a fixed order (a hash of each URL), so the corpus never depends on directory
listing order, and a corpus of ``--mb`` megabytes of text takes them in that order.

When the pool holds less than ``--mb``, it is cycled: pass k >= 1 makes every pool document
that halves evenly (at a blank line, else a line end, between a third and two thirds of
its text) anew as its own first half followed by the second half of another such document
of the same source. Partners are chosen by text, by a permutation salted with k, so copies
of one text get one partner and stay exact copies in every pass, while two passes' versions
of a document share one half (a Jaccard near 1/3, 1/2 at most, below the near-duplicate
threshold). Every line is still a real line, but each recurs once per pass: in a cycled
corpus every line is "boilerplate" (it recurs in 3 or more documents), so such a corpus
measures speed, not what real text holds. On the machine this was written on, ``dataprep
estimate`` finds in the pool alone (117 MB) 26.0% of documents exact and 2.8% near
duplicates, 11.8% of tokens in boilerplate lines; in the 1 GB corpus (8.6 passes) 25.5% exact
and 5.2% near duplicates, 68% of tokens in lines that recur.
The script prints the documents and bytes taken from each source and from each pass.

The shards have FineWeb-Edu's columns: id, text, url, score, int_score,
token_count (GPT-2, no EOT) and language_score; score and language_score are derived
from a hash of the id, so they are deterministic and spread like FineWeb-Edu's
(score 2.5 to 5, language_score 0.65 to 1). The same pool gives the same bytes.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import inspect
import os
import re
import subprocess
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
POOL = HERE / "out" / "realtext_pool.parquet"
SOURCES = ("man", "doc", "licence", "python")
DOC_NAMES = ("changelog", "news", "readme", "copyright", "authors", "thanks", "todo", "history", "faq", "bugs")
DOC_SUFFIXES = (".txt", ".md", ".rst")
LICENCE_NAMES = ("LICENSE", "LICENCE", "COPYING")
PACKAGING_FILES = ("top_level.txt", "entry_points.txt", "dependency_links.txt")  # lists of names, not text
MIN_DOC_BYTES = 200  # stubs ("see the other package") are not documents


# ---------------------------------------------------------------- finding text


def _decode(data: bytes) -> str | None:
    """Text of a file, or None for binary or non-UTF-8 content."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _read(path: Path) -> str | None:
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    return _decode(data)


def _files(root: Path, pattern: str = "*") -> list[Path]:
    """Regular files (no symlinks: they repeat a file already taken) under root, sorted."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob(pattern) if p.is_file() and not p.is_symlink())


def _render_man(path: Path) -> str | None:
    """A man page as ``man -P cat`` prints it: groff's UTF-8 output without overstrike or colour."""
    raw = _read(path)
    if raw is None or raw.lstrip().startswith(".so "):  # an alias of another page
        return None
    out = subprocess.run(
        ["groff", "-Tutf8", "-mandoc", "-P-cbou", "-rHY=0"],
        input=raw.encode(), capture_output=True, timeout=120,
        # A page without a date gets today's from groff: pin it, so the text does not change by the day.
        env={**os.environ, "LC_ALL": "C.UTF-8", "SOURCE_DATE_EPOCH": "0"},
    )
    return _decode(out.stdout) if out.returncode == 0 else None


def man_pages(jobs: int) -> list[tuple[str, str]]:
    root = Path("/usr/share/man")
    paths = [p for d in sorted(root.glob("man[1-8]")) for p in _files(d)]
    with ThreadPoolExecutor(jobs) as pool:  # groff runs in its own process: threads suffice
        texts = list(pool.map(_render_man, paths))
    return [(f"file://{p}", t) for p, t in zip(paths, texts) if t]


def _texts(paths: list[Path]) -> list[tuple[str, str]]:
    """(URL, text) of each readable text file."""
    return [(f"file://{p}", t) for p, t in ((p, _read(p)) for p in paths) if t]


def doc_files() -> list[tuple[str, str]]:
    def wanted(p: Path) -> bool:
        name = p.name.lower().removesuffix(".gz")
        return name.startswith(DOC_NAMES) or name.endswith(DOC_SUFFIXES)

    return _texts([p for p in _files(Path("/usr/share/doc")) if wanted(p)])


def _package_dirs() -> list[Path]:
    dirs = {Path(sysconfig.get_paths()["purelib"]), Path("/usr/lib/python3/dist-packages")}
    return sorted(d for d in dirs if d.is_dir())


def licences() -> list[tuple[str, str]]:
    paths = _files(Path("/usr/share/common-licenses"))
    for d in _package_dirs():
        paths += [p for p in _files(d) if p.name.upper().startswith(LICENCE_NAMES)]
    return _texts(paths)


def _docstrings(path: Path) -> str | None:
    """One module's docstrings, module first, then each class and function in source order."""
    try:
        tree = ast.parse(path.read_bytes())
    except (SyntaxError, ValueError, OSError):
        return None
    parts = []
    doc = ast.get_docstring(tree)
    if doc:
        parts.append(doc)

    def visit(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                d = ast.get_docstring(child)
                if d:
                    kind = "class" if isinstance(child, ast.ClassDef) else "def"
                    parts.append(f"{kind} {name}\n\n{inspect.cleandoc(d)}")
                visit(child, name + ".")

    visit(tree, "")
    return "\n\n".join(parts) if parts else None


def python_text() -> list[tuple[str, str]]:
    out = []
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for p in _files(stdlib, "*.py"):
        rel = p.relative_to(stdlib).parts
        if "site-packages" in rel or "dist-packages" in rel:
            continue
        text = _docstrings(p)
        if text:
            out.append((f"file://{p}#docstrings", text))
    for d in _package_dirs():
        out += _texts([p for p in _files(d) if p.suffix in DOC_SUFFIXES and p.name not in PACKAGING_FILES
                       and not p.name.upper().startswith(LICENCE_NAMES)])
    return out


def split_document(text: str, max_bytes: int) -> list[str]:
    """Parts of at most about ``max_bytes`` bytes, cut at blank lines (or at line ends inside a long paragraph)."""
    text = text.replace("\r\n", "\n").strip("\n")
    if len(text.encode()) <= max_bytes:
        return [text]
    pieces = []
    for para in text.split("\n\n"):
        if len(para.encode()) <= max_bytes:
            pieces.append(para)
        else:
            pieces.extend(para.split("\n"))
    parts, current, size = [], [], 0
    for piece in pieces:
        n = len(piece.encode()) + 2
        if current and size + n > max_bytes:
            parts.append("\n\n".join(current))
            current, size = [], 0
        current.append(piece)
        size += n
    if current:
        parts.append("\n\n".join(current))
    return parts


def build_pool(jobs: int) -> pa.Table:
    """Every document found, whole, in a fixed order of source, then path."""
    found = {"man": man_pages(jobs), "doc": doc_files(), "licence": licences(), "python": python_text()}
    rows = {"source": [], "url": [], "text": []}
    for source in SOURCES:
        for url, text in found[source]:
            rows["source"].append(source)
            rows["url"].append(url)
            rows["text"].append(text)
    return pa.table(rows)


def load_pool(jobs: int, rebuild: bool = False) -> pa.Table:
    if POOL.exists() and not rebuild:
        return pq.read_table(POOL)
    print("gathering real text (rendering man pages takes a few minutes, once)...", file=sys.stderr)
    table = build_pool(jobs)
    POOL.parent.mkdir(parents=True, exist_ok=True)
    tmp = POOL.with_suffix(".tmp")
    pq.write_table(table, tmp)
    tmp.replace(POOL)
    return table


def _man_family(url: str) -> str:
    """``gcloud`` for .../gcloud-compute-ssh.1.gz, ``EVP`` for .../EVP_DigestInit.3ssl.gz."""
    return re.split(r"[-_.]", url.rsplit("/", 1)[-1], maxsplit=1)[0]


def capped(pool: pa.Table, per_family: int) -> np.ndarray:
    """Which pool files to use: every one, except man pages beyond ``per_family`` of one command family.

    One SDK can ship thousands of generated reference pages (the Google Cloud CLI: 16,631
    gcloud pages on the machine this was written on, two thirds of the man text); uncapped
    they would make the corpus one product's manual. Which ones stay is fixed by a hash of the URL.
    """
    urls = pool["url"].to_pylist()
    keep = np.ones(len(urls), dtype=bool)
    families: dict[str, list[int]] = {}
    for i, (source, url) in enumerate(zip(pool["source"].to_pylist(), urls)):
        if source == "man":
            families.setdefault(_man_family(url), []).append(i)
    for members in families.values():
        if len(members) > per_family:
            members.sort(key=lambda i: _hash(urls[i]))
            keep[members[per_family:]] = False
    return keep


def documents(pool: pa.Table, max_doc_kb: int, per_family: int, max_file_kb: int) -> pa.Table:
    """The pool's files cut into documents, in a fixed order (a hash of each URL); prints what it found.

    A file gives at most its first ``max_file_kb`` (its newest entries, for a changelog), so a
    few multi-megabyte changelogs do not outweigh everything else.
    """
    keep = capped(pool, per_family)
    rows = {"source": [], "url": [], "text": []}
    files = pool["source"].to_pylist()
    for source, url, text, use in zip(files, pool["url"].to_pylist(), pool["text"].to_pylist(), keep):
        if not use:
            continue
        parts = split_document(text, max_doc_kb * 1000)
        for k, part in enumerate(parts[: max(1, max_file_kb // max_doc_kb)]):
            if len(part.encode()) < MIN_DOC_BYTES:
                continue
            rows["source"].append(source)
            rows["url"].append(url if len(parts) == 1 else f"{url}#part{k}")
            rows["text"].append(part)
    for source in SOURCES:
        texts = [t for s, t in zip(rows["source"], rows["text"]) if s == source]
        size = sum(len(t.encode()) for t in texts)
        used = sum(1 for s, u in zip(files, keep) if s == source and u)
        print(f"  {source:8s} {files.count(source):6,} files, {used:6,} used -> {len(texts):7,} documents, "
              f"{size / 1e6:7.1f} MB", file=sys.stderr)
    order = sorted(range(len(rows["url"])), key=lambda i: _hash(rows["url"][i]))
    return pa.table(rows).take(order)


# ---------------------------------------------------------------- the corpus


def _hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def _halves(text: str) -> tuple[str, str] | None:
    """The document cut at the blank line (else line end) nearest its middle, or None when no
    such cut leaves each half between a third and two thirds of it."""
    for sep in ("\n\n", "\n"):
        paras = text.split(sep)
        if len(paras) < 2:
            continue
        ends = np.cumsum([len(p) + len(sep) for p in paras[:-1]]) - len(sep)  # the head's length at each cut
        cut = int(np.argmin(np.abs(ends - len(text) / 2)))
        if len(text) / 3 <= ends[cut] <= 2 * len(text) / 3:
            return sep.join(paras[: cut + 1]), sep.join(paras[cut + 1 :])
    return None


def recombined(pool: pa.Table, cycle: int) -> tuple[list[str], list[str]]:
    """Pass ``cycle`` >= 1: each pool document's first half + another same-source document's
    second half, for the documents that halve evenly (``_halves``).

    Even halves keep two passes' versions of a document apart: they share one half, a Jaccard
    near 1/3 (1/2 at most), below the near-duplicate threshold. Partners are chosen by text,
    not by document: copies of one text get the same partner, so the exact duplicates of the
    real text stay exact duplicates in every pass.
    """
    halves = [_halves(t) for t in pool["text"].to_pylist()]
    usable = np.array([h is not None for h in halves])
    texts = pool["text"].to_pylist()
    urls = pool["url"].to_pylist()
    sources = np.array(pool["source"].to_pylist())
    keys = np.array([_hash(f"{cycle}:{t}") for t in texts], dtype=np.uint64)
    partner = np.full(len(texts), -1)
    for source in SOURCES:
        idx = np.flatnonzero((sources == source) & usable)
        # The distinct texts of this source in an order shuffled by the pass (np.unique sorts
        # the salted hashes); each text's partner is the next one, never itself.
        _, first, which = np.unique(keys[idx], return_index=True, return_inverse=True)
        if len(first) >= 2:
            partner[idx] = idx[first[(which + 1) % len(first)]]
    out_texts, out_urls = [], []
    for i, j in enumerate(partner.tolist()):
        if j >= 0:
            out_texts.append(f"{halves[i][0]}\n\n{halves[j][1]}")
            out_urls.append(f"{urls[i]}?pass={cycle}&with={urls[j]}")
    return out_texts, out_urls


def assemble(pool: pa.Table, mb: float) -> tuple[list[str], list[str], list[int]]:
    """(texts, urls, pass of each) totalling at least ``mb`` MB of UTF-8 text, in a fixed order."""
    target = int(mb * 1e6)
    texts, urls, passes, size, cycle = [], [], [], 0, 0
    while size < target:
        if cycle == 0:
            batch_texts, batch_urls = pool["text"].to_pylist(), pool["url"].to_pylist()
        else:
            batch_texts, batch_urls = recombined(pool, cycle)
        for t, u in zip(batch_texts, batch_urls):
            if size >= target:
                break
            texts.append(t)
            urls.append(u)
            passes.append(cycle)
            size += len(t.encode())
        cycle += 1
    return texts, urls, passes


def _unit(keys: list[str], salt: str) -> np.ndarray:
    return np.array([_hash(salt + k) for k in keys], dtype=np.float64) / 2.0**64


def write_corpus(out: Path, texts: list[str], urls: list[str], shards: int, row_group: int) -> list[Path]:
    from dataprep.text.tokenizer import encode_batch, get_encoding

    enc = get_encoding()
    out.mkdir(parents=True, exist_ok=True)
    ids = [f"<urn:realtext:{hashlib.blake2b(u.encode(), digest_size=16).hexdigest()}>" for u in urls]
    score = np.round(2.5 + 2.5 * _unit(ids, "score"), 4)
    language_score = np.round(0.65 + 0.35 * _unit(ids, "language"), 4)
    bounds = np.linspace(0, len(texts), shards + 1).astype(int)
    paths = []
    for s in range(shards):
        lo, hi = bounds[s], bounds[s + 1]
        counts = []
        for k in range(lo, hi, 2048):  # tokenized in slices: bounded memory at any corpus size
            _, lengths = encode_batch(enc, texts[k : min(hi, k + 2048)], os.cpu_count() or 1)
            counts.append(lengths)
        table = pa.table(
            {
                "id": ids[lo:hi],
                "text": texts[lo:hi],
                "url": urls[lo:hi],
                "score": score[lo:hi],
                "int_score": np.rint(np.clip(score[lo:hi], 0, 5)).astype(np.int64),
                "token_count": np.concatenate(counts) if counts else np.zeros(0, np.int64),
                "language_score": language_score[lo:hi],
            }
        )
        path = out / f"shard_{s:05d}.parquet"
        tmp = path.with_name(path.name + ".tmp")
        pq.write_table(table, tmp, row_group_size=row_group)
        tmp.replace(path)
        paths.append(path)
    return paths


def make(out: Path, mb: float, shards: int = 1, jobs: int = 2, max_doc_kb: int = 4, per_family: int = 300,
         max_file_kb: int = 256, row_group: int = 1024) -> list[Path]:
    """Write the corpus (unless already there) and return its shard paths."""
    paths = [out / f"shard_{s:05d}.parquet" for s in range(shards)]
    if all(p.exists() for p in paths):
        return paths
    pool = documents(load_pool(jobs), max_doc_kb, per_family, max_file_kb)
    texts, urls, passes = assemble(pool, mb)
    print(f"pool: {pool.num_rows:,} real documents, {sum(len(t.encode()) for t in pool['text'].to_pylist()) / 1e6:.1f} MB",
          file=sys.stderr)
    passes_arr = np.array(passes)
    sizes = np.array([len(t.encode()) for t in texts])
    for k in range(int(passes_arr.max()) + 1):
        sel = passes_arr == k
        what = "real documents" if k == 0 else f"recombined documents (pass {k})"
        print(f"corpus: {int(sel.sum()):,} {what}, {sizes[sel].sum() / 1e6:.1f} MB", file=sys.stderr)
    return write_corpus(out, texts, urls, shards, row_group)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path, help="directory for shard_NNNNN.parquet")
    ap.add_argument("--mb", type=float, default=50, help="megabytes of text (UTF-8) in the corpus")
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="groff processes at once")
    ap.add_argument("--max-doc-kb", type=int, default=4, help="longer documents are cut at paragraphs")
    ap.add_argument("--per-family", type=int, default=300, help="man pages kept per command family (gcloud-*, git-*)")
    ap.add_argument("--max-file-kb", type=int, default=256, help="text taken from the start of one file at most")
    ap.add_argument("--rebuild-pool", action="store_true", help="gather the text again")
    args = ap.parse_args()
    if args.rebuild_pool:
        load_pool(args.jobs, rebuild=True)
    for p in make(args.out, args.mb, args.shards, args.jobs, args.max_doc_kb, args.per_family, args.max_file_kb):
        print(p)


if __name__ == "__main__":
    main()
