"""Compiled kernels (numba) for the per-byte and per-shingle loops of the scan, when numba is installed.

Each kernel computes exactly what a numpy function computes (same arithmetic modulo 2**64, same
order of results), in one pass over its input instead of one numpy pass per step:

- ``word_hashes`` -> ``hashing.hash_batch``'s words and line hashes, from the normalised bytes;
- ``signatures`` -> ``minhash.MinHasher.signatures``, shingles hashed on the fly;
- ``ngram_registers`` -> ``diversity.NgramDiversity.update``, n-gram hashes rolled along each document.

numba is optional (``pip install 'dataprep[fast]'``): without it, or with ``DATAPREP_NUMBA=0`` in the
environment, ``kernels()`` is None and the numpy code runs. Compiled code is cached on disk
(``cache=True``), so only the first run on a machine compiles. tests/test_compiled.py checks each
kernel against its numpy function on generated and hostile text.
"""

from __future__ import annotations

import os
from functools import lru_cache
from types import SimpleNamespace

SWITCH = "DATAPREP_NUMBA"  # "0": the numpy code, even where numba is installed
# Loading the compiled code (importing numba, reading its cache) costs about 0.7 core-seconds and 60 MB;
# the kernels save about 0.02 core-seconds per MB of text: on one 50 MB input estimate takes as much CPU
# either way (docs/benchmarks.md). So they are loaded only for work of at least this many bytes (a scan
# asks for its process's share of the text); once loaded, every call uses them.
WORTH_LOADING = 128 << 20


def kernels(work: int = WORTH_LOADING) -> SimpleNamespace | None:
    """The compiled kernels for ``work`` bytes of text, or None (the numpy code runs): when numba is
    missing or switched off, or when they are not loaded yet and ``work`` is too small to pay for it."""
    if work < WORTH_LOADING and not _load.cache_info().currsize:
        return None
    return _load()


@lru_cache(maxsize=1)
def _load() -> SimpleNamespace | None:
    if os.environ.get(SWITCH, "1") == "0":
        return None
    try:
        import numba  # noqa: F401
    except ImportError:
        return None
    from dataprep.text import _kernels

    return SimpleNamespace(words=_kernels.words, line_hashes=_kernels.line_hashes, signatures=_kernels.signatures,
                           ngram_registers=_kernels.ngram_registers)
