"""The metadata columns of parquet files, read by byte ranges: the footer and those columns' chunks, never the text.

A FineWeb-Edu file keeps ``token_count``, ``score``, ``int_score`` and ``language_score`` in column
chunks of a few bytes per document, beside kilobytes of text. Reading the footer (its length is in
the last 8 bytes) and then, through pyarrow's column projection, only those chunks costs a few
percent of the file, so a whole dataset's exact tokens and score mix come at a small share of its
bytes. Every byte asked for is counted, on any storage: a local file, a URL fsspec knows, or a
Hugging Face dataset file (``io/hub.py``'s ranged read).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from dataprep.errors import DataprepError
from dataprep.io.reader import Source, column_values, describe, first_line
from dataprep.io.storage import filesystem

MAGIC = b"PAR1"
TRAILER = 8  # footer length (4 bytes, little-endian) + MAGIC


@dataclass
class FileMetadata:
    """What one file's metadata columns say, per document (the reader's conventions: -1 or NaN for null)."""

    source: Source
    columns: dict[str, np.ndarray]  # the metadata columns the file has, of those asked for
    bytes_read: int  # footer and column chunks fetched


class RangedFile(io.RawIOBase):
    """A read-only, seekable file over ``fetch(start, end)`` (end exclusive), counting the bytes fetched.

    No read-ahead: every read asks for exactly the bytes pyarrow wants, so the count is what the
    storage served.
    """

    def __init__(self, size: int, fetch: Callable[[int, int], bytes]):
        super().__init__()
        self.size, self.fetch, self.pos, self.fetched = size, fetch, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.pos = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence] + offset
        return self.pos

    def read(self, n: int = -1) -> bytes:
        end = self.size if n is None or n < 0 else min(self.size, self.pos + n)
        if end <= self.pos:
            return b""
        data = self.fetch(self.pos, end)
        if len(data) != end - self.pos:
            raise OSError(f"asked for bytes {self.pos}-{end - 1}, got {len(data)} bytes")
        self.fetched += len(data)
        self.pos = end
        return data

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def storage_range(path: str) -> tuple[int, Callable[[int, int], bytes]]:
    """(size, fetch) of a local path or a URL fsspec knows."""
    fs, inner = filesystem(path)
    return fs.size(inner), lambda start, end: fs.cat_file(inner, start=start, end=end)


def read_metadata(path: str, size: int, fetch: Callable[[int, int], bytes], columns: tuple[str, ...],
                  text_column: str | None = None) -> FileMetadata:
    """The ``columns`` (of the reader's metadata columns) that ``path`` has, read through ``fetch``:
    its footer, then only those columns' chunks. The schema is checked as the reader checks it."""
    f = RangedFile(size, fetch)
    try:
        if size < len(MAGIC) + TRAILER:
            raise DataprepError(f"{path}: not a parquet file ({size} bytes)")
        f.seek(size - TRAILER)
        trailer = f.read(TRAILER)
        length = int.from_bytes(trailer[:4], "little")
        if trailer[4:] != MAGIC or length > size - TRAILER - len(MAGIC):
            raise DataprepError(f"{path}: not a parquet file (no parquet footer at its end)")
        f.seek(size - TRAILER - length)
        meta = pq.read_metadata(io.BytesIO(MAGIC + f.read(length) + trailer))
        source = describe(path, size, None, meta, text_column)
        wanted = [c for c in columns if c in source.columns]
        table = pq.ParquetFile(f, metadata=meta).read(columns=wanted, use_threads=False)
    except DataprepError:
        raise
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise DataprepError(f"{path}: corrupt or truncated parquet ({first_line(exc)})") from None
    values = {c: column_values(table.column(c), c, source, 0) for c in wanted}
    return FileMetadata(source=source, columns=values, bytes_read=f.fetched)
