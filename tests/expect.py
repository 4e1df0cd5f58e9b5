"""What the tests expect of a refusal: exit 2 and one line on stderr that names the problem."""

from __future__ import annotations


def one_line(code: int, err: str, *words: str) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("dataprep: "), err
    assert "internal error" not in lines[0], lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]
