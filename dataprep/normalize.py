"""Text normalisation shared by exact dedup, MinHash and boilerplate lines.

The rule (datatrove's, which produced FineWeb): lowercase, strip accents,
digits to ``0``, punctuation and symbols to spaces, whitespace collapsed.
It runs per line in polars (Rust regexes over Arrow memory), so no Python
call is made per document; the result is one flat byte buffer that the
hashing code indexes with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa


def normalize_expr(e: pl.Expr) -> pl.Expr:
    """The normalisation rule as a polars expression over strings."""
    return (
        e.str.to_lowercase()
        .str.normalize("NFD")
        .str.replace_all(r"\p{Mn}", "")
        .str.replace_all(r"\d", "0")
        .str.replace_all(r"[\p{P}\p{S}]", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars(" ")
    )


def normalize_text(text: str) -> str:
    """One string through the same rule (for tests and small inputs)."""
    return pl.select(normalize_expr(pl.lit(text, dtype=pl.String))).item()


@dataclass
class NormalizedBatch:
    """Normalised, non-empty lines of a batch of documents, back to back.

    Every line is stored followed by one space, so the bytes of document ``d``
    (``data[line_offsets[doc_lines[d]] : line_offsets[doc_lines[d + 1]]]``)
    are exactly its whole normalised text plus a trailing space, and words
    are the runs of non-space bytes.
    """

    data: np.ndarray  # uint8
    line_offsets: np.ndarray  # int64, n_lines + 1; line i is data[o[i] : o[i+1] - 1]
    doc_lines: np.ndarray  # int64, n_docs + 1; document d owns lines doc_lines[d] : doc_lines[d+1]

    @property
    def doc_offsets(self) -> np.ndarray:
        return self.line_offsets[self.doc_lines]


def normalize_batch(texts: pa.Array | pl.Series) -> NormalizedBatch:
    s = texts if isinstance(texts, pl.Series) else pl.Series(texts)
    df = (
        pl.DataFrame({"line": s.str.split("\n")})
        .with_row_index("doc")
        .explode("line")
        .select("doc", normalize_expr(pl.col("line")).alias("line"))
    )
    df = df.filter(pl.col("line").str.len_bytes() > 0)
    lines_per_doc = np.bincount(df["doc"].to_numpy(), minlength=len(s))
    doc_lines = np.zeros(len(s) + 1, dtype=np.int64)
    np.cumsum(lines_per_doc, out=doc_lines[1:])
    arr = (df["line"] + " ").to_arrow().cast(pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    base = offsets[0]
    data = data[base : offsets[-1]]
    return NormalizedBatch(data=data, line_offsets=offsets - base, doc_lines=doc_lines)

