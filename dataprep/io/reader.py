"""The one parquet reader every command uses.

It resolves paths (files, directories, globs), checks each file's schema
once, and streams record batches with only the columns a command needs, so
memory stays bounded whatever the file size. Every problem it can meet in a
user's file becomes a ``DataprepError`` naming the file.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dataprep.errors import DataprepError
from dataprep.io.memory import available_memory
from dataprep.io.storage import filesystem, is_url, resolved
from dataprep.tables import size

TEXT_TYPES = (pa.string(), pa.large_string(), pa.string_view())
BINARY_TYPES = (pa.binary(), pa.large_binary(), pa.binary_view())
# Optional FineWeb columns and the kind of value each must hold.
NUMERIC_COLUMNS = {"score": "float", "int_score": "int", "token_count": "int", "language_score": "float"}


@dataclass(frozen=True)
class Source:
    path: str
    rows: int
    size: int  # bytes on disk
    text_column: str
    columns: frozenset[str]  # optional columns present, from NUMERIC_COLUMNS and "id"
    stamp: tuple[int, int, int] | None = None  # (inode, size, mtime) of a local file when opened

    @property
    def schema_name(self) -> str:
        if "score" in self.columns or "int_score" in self.columns:
            return "fineweb-edu"
        if "token_count" in self.columns and "id" in self.columns:
            return "fineweb"
        return "text"


@dataclass
class Batch:
    source: int  # index into the list of sources
    first_row: int  # row number of the first document in its file
    first_doc: int  # global document number (sources in order, then rows)
    text: pa.Array | None  # string or large_string, no nulls; None when read without text
    columns: dict[str, np.ndarray | list]  # the requested optional columns that the file has

    rows: int

    def __len__(self) -> int:
        return self.rows

    def texts(self) -> list[str]:
        return self.text.to_pylist()


def resolve_paths(paths: list[str], exclude: str | os.PathLike | None = None) -> list[str]:
    """Files named, parquet files under directories, glob matches; each sorted, in argument order.

    Paths may be URLs (``s3://bucket/dir``, ``hf://datasets/...``): fsspec lists them. Files under
    ``exclude`` (a build's own output directory) are left out of directories and globs, and refused
    when named: a build would otherwise read its manifest and work files as inputs on a rerun.
    """
    if not paths:
        raise DataprepError("no input given")
    inside = _inside(exclude) if exclude is not None else (lambda p: False)
    out: list[str] = []
    for p in paths:
        if is_url(p):
            hits = _resolve_url(p)
        elif any(c in p for c in "*?["):
            hits = sorted(h for h in _glob(p) if os.path.isfile(h))
            if not hits:
                raise DataprepError(f"no file matches {p}")
        elif os.path.isdir(p):
            hits = sorted(str(h) for h in Path(p).rglob("*.parquet") if h.is_file())
            if not hits:
                raise DataprepError(f"no .parquet file in directory {p}")
        elif os.path.isfile(p):
            if inside(p):
                raise DataprepError(f"{p} lies inside the output directory {exclude}; a build does not read its own output")
            hits = [p]
        else:
            raise DataprepError(f"no such file or directory: {p}")
        kept = [h for h in hits if not inside(h)]
        if hits and not kept:
            raise DataprepError(f"{p} holds no input outside the output directory {exclude}")
        out.extend(kept)
    seen: set[str] = set()
    unique = []
    for p in out:
        key = resolved(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _inside(directory: str | os.PathLike):
    """A test: does a path lie under ``directory`` (resolved, so symlinks and relative paths agree)?"""
    root = resolved(directory)
    return lambda p: is_url(p) == is_url(str(directory)) and resolved(p).startswith(root + "/")


def _glob(pattern: str) -> list[str]:
    """``glob.glob(pattern, recursive=True)``, except that ``**`` never descends into a symlinked directory.

    glob follows them: two links to ``.`` make the walk exponential and it never ends. Like glob,
    wildcards do not match names starting with a dot unless the pattern part does.
    """
    if "**" not in pattern:
        return glob.glob(pattern)  # without ** the walk is as deep as the pattern: it ends
    first, *rest = pattern.split(os.sep)
    base, parts = (os.sep, rest) if first == "" else ("", [first, *rest])  # "" : relative to here
    found: set[str] = set()
    _walk(base, [q for q in parts if q], found)
    if pattern.endswith(os.sep):  # a trailing separator matches directories only, as in glob
        found = {f for f in found if os.path.isdir(f)}
    return sorted(found)


def _walk(base: str, parts: list[str], found: set[str]) -> None:
    def child(name: str) -> str:
        return os.path.join(base, name) if base else name  # the pattern's own spelling ("./in/...")

    if not parts:
        found.add(base)
        return
    head, rest = parts[0], parts[1:]
    if head == "**":
        _walk(base, rest, found)  # ** matches no directory at all ...
        for name in _names(base or os.curdir, hidden=False):  # ... or one more, never through a symlink
            sub = child(name)
            if not rest:  # a trailing ** matches every file below, as glob's does
                found.add(sub)
            if os.path.isdir(sub) and not os.path.islink(sub):
                _walk(sub, parts, found)
    elif glob.has_magic(head):
        for name in fnmatch.filter(_names(base or os.curdir, hidden=head.startswith(".")), head):
            _walk(child(name), rest, found)
    elif os.path.lexists(child(head)):
        _walk(child(head), rest, found)


def _names(directory: str, hidden: bool) -> list[str]:
    try:
        names = os.listdir(directory)
    except OSError:  # not a directory, or unreadable: nothing matches below it
        return []
    return [n for n in names if hidden or not n.startswith(".")]


def _resolve_url(url: str) -> list[str]:
    try:
        fs, path = filesystem(url)
        protocol = url.split("://", 1)[0]
        if any(c in path for c in "*?["):
            hits = sorted(fs.glob(path))
        elif fs.isdir(path):
            hits = sorted(h for h in fs.find(path) if h.endswith(".parquet"))
        elif fs.isfile(path):
            hits = [path]
        else:
            raise DataprepError(f"no such file or directory: {url}")
    except DataprepError:
        raise
    except Exception as exc:  # fsspec backends raise their own types (botocore, aiohttp, ...)
        raise DataprepError(f"cannot list {url}: {first_line(exc)}") from None
    if not hits:
        raise DataprepError(f"no .parquet file at {url}")
    return [f"{protocol}://{h}" for h in hits]


def _open(path: str):
    """A local path as is (pyarrow reads it fastest); a URL as an fsspec file object."""
    if not is_url(path):
        return path
    fs, inner = filesystem(path)
    return fs.open(inner, "rb")


def _size(path: str) -> int:
    if not is_url(path):
        return os.path.getsize(path)
    fs, inner = filesystem(path)
    return fs.size(inner)


def _stamp(path: str) -> tuple[int, int, int] | None:
    """What changes when a local file is rewritten, replaced, truncated or appended to; None for URLs."""
    if is_url(path):
        return None
    st = os.stat(path)
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def _kind(t: pa.DataType) -> str:
    if pa.types.is_dictionary(t):
        return _kind(t.value_type)
    if t in TEXT_TYPES:
        return "text"
    if t in BINARY_TYPES:
        return "binary"
    if pa.types.is_floating(t):
        return "float"
    if pa.types.is_integer(t):
        return "int"
    return str(t)


def text_column_of(given: str | None) -> str:
    """The column a file's text is read from: the one given, else ``text``."""
    return given or "text"


def open_source(path: str, text_column: str | None = None) -> Source:
    try:
        stamp = _stamp(path)
        size = _size(path)
        if size == 0:
            raise DataprepError(f"{path}: empty file (0 bytes), not a parquet file")
        meta = pq.ParquetFile(_open(path)).metadata
    except DataprepError:
        raise
    except (pa.ArrowException, OSError) as exc:
        raise DataprepError(f"{path}: not a readable parquet file ({first_line(exc)})") from None
    except Exception as exc:  # a remote filesystem's own errors
        raise DataprepError(f"{path}: cannot read ({first_line(exc)})") from None
    return describe(path, size, stamp, meta, text_column)


def describe(path: str, size: int, stamp, meta: pq.FileMetaData, text_column: str | None) -> Source:
    """The Source a footer describes, or a DataprepError saying what is wrong with its schema."""
    schema = meta.schema.to_arrow_schema()
    names = schema.names
    col = text_column_of(text_column)
    twice = sorted({n for n in names if names.count(n) > 1 and (n == col or n == "id" or n in NUMERIC_COLUMNS)})
    if twice:  # which of the two would be read is anyone's guess: refuse rather than pick one
        raise DataprepError(f"{path}: column {twice[0]!r} appears {names.count(twice[0])} times; "
                            "rename or drop the copies")
    if col not in names:
        hint = "" if text_column else "; choose one with --text-column"
        raise DataprepError(f"{path}: no column {col!r}; columns present: {', '.join(names) or '(none)'}{hint}")
    kind = _kind(schema.field(col).type)
    if kind not in ("text", "binary"):
        raise DataprepError(f"{path}: column {col!r} holds {schema.field(col).type}, expected strings")
    if meta.num_rows == 0:
        raise DataprepError(f"{path}: empty shard (0 rows)")
    present = set()
    for name, want in NUMERIC_COLUMNS.items():
        if name in names and name != col:
            got = _kind(schema.field(name).type)
            if got != want and not (want == "float" and got == "int"):
                raise DataprepError(f"{path}: column {name!r} holds {schema.field(name).type}, expected {want}")
            present.add(name)
    if "id" in names and _kind(schema.field("id").type) == "text":
        present.add("id")
    return Source(path=path, rows=meta.num_rows, size=size, text_column=col, columns=frozenset(present), stamp=stamp)


def open_sources(paths: list[str], text_column: str | None = None) -> list[Source]:
    return [open_source(p, text_column) for p in resolve_paths(paths)]


def first_line(exc: BaseException) -> str:
    s = str(exc).strip().splitlines()
    return s[0] if s else type(exc).__name__


def _as_text(arr: pa.Array, src: Source, first_row: int) -> pa.Array:
    """Validated text: dictionary decoded, binary checked as UTF-8, no nulls."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if arr.null_count:
        row = first_row + int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataprepError(f"{src.path}: null text at row {row}")
    if _kind(arr.type) == "binary":
        try:
            arr = arr.cast(pa.large_string())  # pyarrow validates UTF-8 on this cast
        except pa.ArrowInvalid:
            bad = _first_invalid_utf8(arr)
            raise DataprepError(f"{src.path}: text at row {first_row + bad} is not valid UTF-8") from None
    else:
        arr = _checked_strings(arr, src, first_row, "text")
    return arr


def _checked_strings(arr: pa.Array, src: Source, first_row: int, what: str) -> pa.Array:
    """A string array whose every value is valid UTF-8: parquet readers do not check, and
    converting a bad value to Python later would fail with an error that names no row."""
    if arr.type == pa.string_view():
        arr = arr.cast(pa.large_string())
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        bad = _first_invalid_utf8(arr.cast(pa.large_binary()))
        raise DataprepError(f"{src.path}: {what} at row {first_row + bad} is not valid UTF-8") from None
    return arr


def _first_invalid_utf8(arr: pa.Array) -> int:
    for i, v in enumerate(arr.to_pylist()):
        try:
            if v is not None:
                v.decode("utf-8")
        except UnicodeDecodeError:
            return i
    return 0


def _changed(src: Source) -> bool:
    try:
        return src.stamp is not None and _stamp(src.path) != src.stamp
    except OSError:  # deleted or unreadable since it was opened
        return True


def _changed_error(src: Source) -> DataprepError:
    return DataprepError(f"{src.path}: file changed while being read; run again once it is complete")


def check_unchanged(src: Source, pf: pq.ParquetFile | None = None) -> None:
    """Refuse a file that is no longer the one ``open_source`` described.

    Commands read a file several times (footer, rows, estimate's boilerplate pass); a file
    rewritten or replaced in between would give numbers mixing two versions, or a schema the
    batches no longer match. Local files are compared by inode, size and mtime; given ``pf``,
    its footer must also describe the same rows and columns (the only check for URLs).
    """
    same = not _changed(src)
    if same and pf is not None:
        same = describe(src.path, src.size, src.stamp, pf.metadata, src.text_column) == src
    if not same:
        raise _changed_error(src)


# Text handed to a command at once: a batch is cut at this many bytes of text, however many rows
# it was asked for (a longer document goes alone). The work on a batch takes up to
# MEMORY_PER_TEXT_BYTE times its text, so this bounds it: 16 MiB -> 1.6 GB at most.
BATCH_BYTES = 16 << 20
# Peak memory per byte of one document's text while it is normalised, hashed and tokenized, at
# worst: one 200 MB run of a single letter took 94 bytes per byte (estimate; build 75, prose 35),
# as tokenizing one endless word is the costliest case (docs/reliability.md, item 8).
MEMORY_PER_TEXT_BYTE = 100


def iter_batches(
    sources: list[Source], columns: tuple[str, ...] = (), batch_rows: int = 2048, with_text: bool = True
) -> Iterator[Batch]:
    """Batches of every source in order. ``columns`` are optional ones wanted if present.

    A batch holds at most ``batch_rows`` rows and BATCH_BYTES of text (unless one document is
    longer), whatever the file's row groups: many small row groups are read together, and a
    document too large for the memory available is refused before the work on it begins.
    """
    first_doc = 0
    for i, src in enumerate(sources):
        wanted = [c for c in columns if c in src.columns]
        read = ([src.text_column] if with_text else []) + wanted
        row = 0
        try:
            check_unchanged(src)
            # Pages written with checksums are verified, so a damaged page is an error rather
            # than silently different text; pages without checksums are read as they are.
            pf = pq.ParquetFile(_open(src.path), page_checksum_verification=True)
            check_unchanged(src, pf)
            for run in _reads(pf.metadata, read, batch_rows):
                if with_text:  # a bomb is refused from its footer, before anything is decompressed
                    _check_fits(src, run.largest_row, f"row group {run.largest_group} decompresses to", "per document")
                # One iterator per run (one row group, or small ones together): a single iterator
                # over the whole file holds on to decoded pages until it ends (pyarrow 26), so
                # memory would grow with the file instead of staying at one run.
                for rb in pf.iter_batches(batch_size=run.batch_rows, row_groups=run.groups, columns=read,
                                          use_threads=False):
                    text = _as_text(rb.column(src.text_column), src, row) if with_text else None
                    cols = {c: column_values(rb.column(c), c, src, row) for c in wanted}
                    for lo, hi in _slices(text, src, row) if with_text else [(0, rb.num_rows)]:
                        yield Batch(source=i, first_row=row + lo, first_doc=first_doc + row + lo,
                                    text=None if text is None else text.slice(lo, hi - lo),
                                    columns={c: v[lo:hi] for c, v in cols.items()}, rows=hi - lo)
                    row += rb.num_rows
            check_unchanged(src)  # batches already handed out must all come from the file described
        except DataprepError:
            raise
        except MemoryError:  # pyarrow's ArrowMemoryError too: not a damaged file
            raise DataprepError(f"{src.path}: out of memory reading near row {row}; free memory or split the "
                                "file into smaller row groups") from None
        except (pa.ArrowException, OSError, EOFError) as exc:
            if _changed(src):  # a truncated or deleted file: say why rather than "corrupt"
                raise _changed_error(src) from None
            raise DataprepError(f"{src.path}: corrupt or truncated parquet near row {row} ({first_line(exc)})") from None
        if row != src.rows:
            raise DataprepError(f"{src.path}: read {row} rows but the footer says {src.rows}; file changed or corrupt")
        first_doc += src.rows


@dataclass(frozen=True)
class _Read:
    groups: list[int]  # consecutive row groups, read by one iterator
    batch_rows: int  # rows per batch asked of pyarrow
    largest_row: int  # the most uncompressed bytes per row of any of its row groups, from the footer
    largest_group: int  # that row group


def _reads(meta: pq.FileMetaData, read: list[str], batch_rows: int) -> Iterator[_Read]:
    """The file's row groups in runs of at most ``batch_rows`` rows and BATCH_BYTES, from the footer.

    Read one by one, row groups of one row each would cost a pyarrow iterator and a pass of every
    command's per-batch work each (1.6 ms a row); a run of them is one read and one batch. Rows per batch
    follow the run's bytes per row, so that a batch of large documents is not decoded 2048 at once.
    """
    leaves = [j for j in range(meta.num_columns)
              if any(_leaf_of(meta.schema.column(j).path, c) for c in read)]
    run: list[int] = []
    rows = size = largest = largest_group = 0
    for g in range(meta.num_row_groups):
        rg = meta.row_group(g)
        g_size = sum(rg.column(j).total_uncompressed_size for j in leaves)
        if run and (rows + rg.num_rows > batch_rows or size + g_size > BATCH_BYTES):
            yield _Read(run, _rows_per_batch(rows, size, batch_rows), largest, largest_group)
            run, rows, size, largest = [], 0, 0, 0
        run.append(g)
        rows += rg.num_rows
        size += g_size
        if g_size // max(1, rg.num_rows) > largest:
            largest, largest_group = g_size // max(1, rg.num_rows), g
    if run:
        yield _Read(run, _rows_per_batch(rows, size, batch_rows), largest, largest_group)


def _leaf_of(path: str, column: str) -> bool:
    """Is the parquet leaf ``path`` (dotted) part of the top-level ``column`` (whose name may hold dots)?"""
    return path == column or path.startswith(column + ".")


def _rows_per_batch(rows: int, size: int, batch_rows: int) -> int:
    per_row = max(1, size // max(1, rows))
    return max(1, min(batch_rows, BATCH_BYTES // per_row))


def _slices(text: pa.Array, src: Source, first_row: int) -> list[tuple[int, int]]:
    """Row ranges of ``text`` holding at most BATCH_BYTES each; a longer document alone, if it fits."""
    lengths = pc.binary_length(text).to_numpy(zero_copy_only=False).astype(np.int64)
    if not len(lengths) or lengths.sum() <= BATCH_BYTES:
        return [(0, len(lengths))]
    big = int(np.argmax(lengths))
    _check_fits(src, int(lengths[big]), f"the document at row {first_row + big} holds")
    ends = np.cumsum(lengths)
    out, lo = [], 0
    while lo < len(lengths):
        start = ends[lo - 1] if lo else 0
        hi = max(lo + 1, int(np.searchsorted(ends, start + BATCH_BYTES, side="right")))
        out.append((lo, hi))
        lo = hi
    return out


def _check_fits(src: Source, text_bytes: int, what: str, per: str = "") -> None:
    """Refuse a document whose processing would not fit in the memory left (a compression bomb).

    ``what`` begins the message ("the document at row 7 holds"); ``per`` follows the size.
    """
    if text_bytes <= BATCH_BYTES:  # no more than any batch takes: nothing to check
        return
    need = text_bytes * MEMORY_PER_TEXT_BYTE
    left = available_memory()
    if left is None or need <= left:
        return
    on_disk = f" ({size(src.size)} on disk)" if src.size < text_bytes // 100 else ""
    raise DataprepError(
        f"{src.path}: {what} {size(text_bytes)} of text{' ' + per if per else ''}{on_disk}; working on it needs about "
        f"{size(need)} of memory and {size(left)} is free; drop or split so large a document, "
        "or run where more memory is free"
    )


def read_rows(sources: list[Source], docs: np.ndarray) -> list[str]:
    """The texts of a few documents (global numbers, sorted), reading only the row groups that hold them."""
    out: list[str] = []
    first_doc = 0
    for src in sources:
        rows = docs[(docs >= first_doc) & (docs < first_doc + src.rows)] - first_doc
        first_doc += src.rows
        if not len(rows):
            continue
        try:
            check_unchanged(src)
            pf = pq.ParquetFile(_open(src.path), page_checksum_verification=True)
            check_unchanged(src, pf)
            ends = np.cumsum([pf.metadata.row_group(g).num_rows for g in range(pf.num_row_groups)])
            groups = np.searchsorted(ends, rows, side="right")
            for g in np.unique(groups).tolist():
                start = int(ends[g - 1]) if g else 0
                table = pf.read_row_group(g, columns=[src.text_column], use_threads=False)
                text = _as_text(table.column(src.text_column), src, start)
                out.extend(text.take(pa.array(rows[groups == g] - start)).to_pylist())
            check_unchanged(src)
        except DataprepError:
            raise
        except (pa.ArrowException, OSError, EOFError) as exc:
            if _changed(src):
                raise _changed_error(src) from None
            raise DataprepError(f"{src.path}: corrupt or truncated parquet ({first_line(exc)})") from None
    return out


def column_values(arr: pa.Array, name: str, src: Source, first_row: int) -> np.ndarray | list:
    """A numeric column as float64 (NaN for null) or int64 (-1 for null); ``id`` as a list of str or None."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if name == "id":
        return _checked_strings(arr, src, first_row, "id").to_pylist()
    want = pa.float64() if NUMERIC_COLUMNS[name] == "float" else pa.int64()
    try:
        values = arr.cast(want)
    except pa.ArrowInvalid as exc:  # a uint64 beyond int64, say: the file is fine, the value is not
        raise DataprepError(f"{src.path}: column {name!r} near row {first_row}: {first_line(exc)}") from None
    if name == "int_score":
        # FineWeb-Edu's int_score is round(clamp(score, 0, 5)); another value would fall outside
        # every histogram bin (and -1 already means "no score"), so the report would lose documents.
        ints = values.fill_null(0).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero((ints < 0) | (ints > 5))
        if len(bad):
            row = first_row + int(bad[0])
            raise DataprepError(f"{src.path}: column 'int_score' holds {ints[bad[0]]} at row {row}, outside 0..5")
    if name == "token_count":
        # A count of tokens is never negative, and -1 already means "no count" (null).
        counts = values.fill_null(0).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(counts < 0)
        if len(bad):
            row = first_row + int(bad[0])
            raise DataprepError(f"{src.path}: column 'token_count' holds {counts[bad[0]]} at row {row}; "
                                "a token count is never negative")
    fill = np.nan if NUMERIC_COLUMNS[name] == "float" else -1
    return values.fill_null(fill).to_numpy(zero_copy_only=False)
