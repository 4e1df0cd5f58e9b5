"""Text normalisation shared by exact dedup, MinHash and boilerplate lines.

The rule (close to datatrove's, which produced FineWeb; the one difference is below): lowercase; strip accents
(a character whose canonical decomposition carries combining marks becomes
its base characters, and combining marks are dropped); invisible format
characters (Unicode Cf: zero-width joiners and spaces, soft hyphens, bidi
marks) are dropped, so "soft\u00adware" is "software"; digits become ``0``;
punctuation, symbols and whitespace become word separators. Words are what
remains between separators; lines are split on ``\\n``. Unlike datatrove, which
maps a run of digits to a single ``0``, every digit becomes ``0`` here ("2024"
is "0000"), so numbers of different lengths stay different words; both rules
make documents that differ only in a number's value match.

ASCII bytes are mapped with one 256-entry table in numpy. Only lines that
hold non-ASCII characters go through polars string expressions (Rust, over
Arrow memory), so no Python code runs per document and most text never
leaves numpy. Separator runs are not collapsed in the buffer: hashing works
on words, so spacing cannot change any result.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl
import pyarrow as pa

SPACE = 32


def _ascii_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint8)
    for c in range(128):
        ch = chr(c)
        if ch.isdigit():
            table[c] = ord("0")
        elif "A" <= ch <= "Z":
            table[c] = ord(ch.lower())
        elif ch in "\t\n\v\f\r " or (ch.isprintable() and not ch.isalnum()):
            table[c] = SPACE  # ASCII punctuation and symbols are all Unicode P* or S*
    return table


ASCII_TABLE = _ascii_table()


@lru_cache(maxsize=1)
def accent_map() -> tuple[list[str], list[str]]:
    """Every code point whose canonical decomposition has combining marks, and its base characters."""
    src, dst = [], []
    for cp in range(0x80, 0x30000):
        c = chr(cp)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        d = unicodedata.normalize("NFD", c)
        if d == c:
            continue
        base = "".join(ch for ch in d if unicodedata.category(ch) != "Mn")
        if base != d:
            src.append(c)
            dst.append(base)
    return src, dst


def _unicode_expr(e: pl.Expr) -> pl.Expr:
    """The rule for non-ASCII text (ASCII comes out as ASCII_TABLE would leave it, or unchanged)."""
    src, dst = accent_map()
    return (
        e.str.to_lowercase()
        .str.replace_many(src, dst)
        .str.replace_all(r"[\p{Mn}\p{Cf}]", "")
        .str.replace_all(r"\d", "0")
        .str.replace_all(r"[\p{P}\p{S}\s]", " ")
    )


def normalize_text(text: str) -> str:
    """One string through the rule, words joined by single spaces (for tests and small inputs)."""
    out = pl.select(_unicode_expr(pl.lit(text, dtype=pl.String))).item()
    mapped = ASCII_TABLE[np.frombuffer(out.encode(), dtype=np.uint8)].tobytes().decode()
    return " ".join(w for w in mapped.split(" ") if w)


@dataclass
class NormalizedBatch:
    """Normalised lines of a batch of documents, back to back in one buffer.

    Line ``i`` is ``data[line_offsets[i] : line_offsets[i + 1]]``; document
    ``d`` owns lines ``doc_lines[d] : doc_lines[d + 1]`` (every line, blank
    ones included). In ``data`` every separator is the byte 32.
    """

    data: np.ndarray  # uint8
    line_offsets: np.ndarray  # int64, n_lines + 1
    doc_lines: np.ndarray  # int64, n_docs + 1


def _arrow_buffers(s: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    arr = s.to_arrow().cast(pa.large_string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data[offsets[0] : offsets[-1]], offsets - offsets[0]


def normalize_batch(texts: pa.Array | pl.Series) -> NormalizedBatch:
    s = texts if isinstance(texts, pl.Series) else pl.Series(texts)
    split = s.str.split("\n")
    lines = split.explode()
    doc_lines = np.zeros(len(s) + 1, dtype=np.int64)
    np.cumsum(split.list.len().to_numpy(), out=doc_lines[1:])
    data, offsets = _arrow_buffers(lines)
    if len(data):
        nonempty = np.flatnonzero(np.diff(offsets) > 0)
        top_byte = np.zeros(len(lines), dtype=np.uint8)
        top_byte[nonempty] = np.maximum.reduceat(data, offsets[nonempty])
        unicode_lines = np.flatnonzero(top_byte >= 0x80)
        if len(unicode_lines):
            idx = pl.Series(unicode_lines)
            fixed = lines.gather(idx).to_frame("l").select(_unicode_expr(pl.col("l"))).to_series()
            data, offsets = _arrow_buffers(lines.scatter(idx, fixed))
    return NormalizedBatch(data=ASCII_TABLE[data], line_offsets=offsets, doc_lines=doc_lines)
