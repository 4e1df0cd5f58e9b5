"""A one-line progress display on stderr: rows, MB/s (where bytes are counted) and ETA.

It draws only when stderr is a terminal and the caller has not asked for
quiet output (``--json``), and redraws at most five times a second.
"""

from __future__ import annotations

import sys
import time

from dataprep.tables import duration


def shown(enabled: bool | None, stream=None) -> bool:
    """Whether progress is shown: as asked, else when the stream (stderr) is a terminal."""
    return (stream or sys.stderr).isatty() if enabled is None else enabled


class Progress:
    def __init__(self, label: str, total_rows: int, enabled: bool | None = None, stream=None, counts_bytes=True):
        """``counts_bytes``: the caller passes the bytes each update read or wrote; when False (no bytes to
        speak of), the line shows no MB/s rather than 0.0."""
        self.stream = stream or sys.stderr
        self.counts_bytes = counts_bytes
        self.enabled = shown(enabled, self.stream)
        self.label = label
        self.total = total_rows
        self.rows = 0
        self.bytes = 0
        self.start = time.monotonic()
        self.last_draw = 0.0

    def update(self, rows: int, nbytes: int = 0) -> None:
        self.rows += rows
        self.bytes += nbytes
        now = time.monotonic()
        if self.enabled and (now - self.last_draw >= 0.2 or self.rows >= self.total):
            self.last_draw = now
            self.stream.write("\r" + self.line(now) + "\033[K")
            self.stream.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.start, 1e-9)
        rate = self.rows / elapsed
        speed = f"{self.bytes / elapsed / 1e6:.1f} MB/s  " if self.counts_bytes else ""
        eta = (self.total - self.rows) / rate if rate > 0 else 0.0
        pct = 100.0 * self.rows / self.total if self.total else 100.0
        return (
            f"{self.label}: {self.rows:,}/{self.total:,} rows ({pct:.0f}%)  "
            f"{rate:,.0f} rows/s  {speed}ETA {duration(eta)}"
        )

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\r" + self.line() + "\033[K\n")
            self.stream.flush()
