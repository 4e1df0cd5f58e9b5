"""The input files of a command, in order: local paths, directories, globs, URLs, or a hub dataset's
shards fetched one at a time; each opened, and checksummed, the first time it is needed."""

from __future__ import annotations

from typing import Protocol

from dataprep.errors import DataprepError, named
from dataprep.io.reader import Source, open_source, resolve_paths
from dataprep.io.storage import input_identity, resolved
from dataprep.pipeline.progress import Progress


class LazyInputs(Protocol):
    """Inputs known by count, each fetched when first needed (a Hugging Face dataset's shards)."""

    description: str  # what they are, for the fingerprint of a request
    as_options: list[str]  # how the command line names them (--dataset ... --subset ...)

    def __len__(self) -> int: ...

    def fetch(self, i: int) -> str: ...


class Inputs:
    """The inputs in order (the first ``shards`` of them, when given), files under ``exclude`` left out."""

    def __init__(self, given: list[str] | LazyInputs, exclude=None, shards: int | None = None,
                 text_column: str | None = None):
        self.lazy = None if isinstance(given, (list, tuple)) else given
        if self.lazy is None:
            self.given = [str(p) for p in given]  # as the caller named them (directories, globs)
            self.paths = resolve_paths(list(given), exclude=exclude)
            count = len(self.paths)
        else:
            count = len(self.lazy)
        if shards is not None:
            if shards < 1:
                raise DataprepError(f"{named('shards')} must be at least 1, not {shards}")
            if shards > count:
                raise DataprepError(f"--shards {shards} asked but only {count} input file(s) found")
            count = shards
        self.count = count
        self.text_column = text_column
        self._sources: dict[int, Source] = {}
        self._identities: dict[int, tuple] = {}

    def __len__(self) -> int:
        return self.count

    def description(self) -> list | str:
        """What the inputs are before any is opened: their resolved paths, or the lazy inputs' description."""
        return [resolved(p) for p in self.paths[: self.count]] if self.lazy is None else self.lazy.description

    def source(self, i: int) -> Source:
        if i not in self._sources:
            path = self.paths[i] if self.lazy is None else str(self.lazy.fetch(i))
            self._sources[i] = open_source(path, self.text_column)
        return self._sources[i]

    def identity(self, i: int) -> tuple:
        if i not in self._identities:
            self._identities[i] = input_identity(self.source(i).path)
        return self._identities[i]

    def first(self, n: int, progress: bool | None, label: str) -> list[Source]:
        """The first ``n`` sources, each opened and checksummed (``label`` names the command in the progress line)."""
        sources = [self.source(i) for i in range(n)]
        bar = Progress(f"{label}: checksums", n, progress)
        for i in range(n):
            self.identity(i)
            bar.update(1, sources[i].size)
        bar.done()
        return sources
