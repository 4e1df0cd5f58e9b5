"""Numbers and tables as the terminal shows them: one formatter for every command's output."""

from __future__ import annotations


def count(n: float | None) -> str:
    """A count in a few characters: 1.23B, 45.60M, 7.80K, 999; "-" when unknown."""
    if n is None:
        return "-"
    for unit, scale in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f}{unit}"
    return f"{n:,.0f}"


def exact_count(n: int) -> str:
    """A whole count as a person would type it, and exactly it: 7.3B, 2.25B, 1M, 100K, 1280, 148434
    (two decimals at most, none in K)."""
    for unit, scale, decimals in (("T", 10**12, 2), ("B", 10**9, 2), ("M", 10**6, 2), ("K", 10**3, 0)):
        if scale <= n < 1000 * scale and (n * 10**decimals) % scale == 0:
            whole, frac = divmod(n, scale)
            digits = f"{frac * 10**decimals // scale:0{decimals}d}".rstrip("0") if decimals else ""
            return f"{whole}{'.' + digits if digits else ''}{unit}"
    return f"{n}"


def plural(n: float, noun: str, nouns: str | None = None) -> str:
    """'1 file', '3 files', '1,000 documents', '2.5 epochs' (``nouns``: the plural, when it is not noun + s)."""
    shown = f"{n:,}" if isinstance(n, int) else f"{n:g}"
    return f"{shown} {noun if n == 1 else nouns or noun + 's'}"


def number(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def share(part: float | None, whole: float) -> str:
    return "-" if part is None or not whole else f"{100.0 * part / whole:.1f}%"


def size(n: float) -> str:
    """A size in bytes as a person reads it: 512 bytes, 6.8 KB, 209.7 MB, 14.5 GB."""
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def duration(seconds: float) -> str:
    """A time span as a person reads it: 42s, 3m05s, 2h07m."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def render(header: list[str], rows: list[list], markdown: bool = False) -> str:
    """Columns aligned for the terminal (the first to the left, the rest to the right), or markdown."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in cells[1:]])
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])
