"""The one exception type the command line turns into a single clear line, and how names are shown."""

from __future__ import annotations

import re


class DataprepError(Exception):
    """A problem with the user's input or environment, stated in one line.

    The CLI prints ``dataprep: <message>`` and exits with code 2; it never
    shows a traceback for this type.
    """


def flag(option: str) -> str:
    """The command-line option that sets the option field ``option`` (``lsh.num_perm`` -> ``--num-perm``):
    messages, the command line and the commands dataprep prints for pasting all name options by it."""
    return "--" + option.rsplit(".", 1)[-1].replace("_", "-")


def named(option: str) -> str:
    """An option field as a message names it: the field, and its command-line option."""
    return f"{option.rsplit('.', 1)[-1]} ({flag(option)})"


# What must never reach a terminal raw: control characters (a newline would break the one-line
# rule, an ESC sequence can recolour or rewrite the screen), Unicode line separators, the
# invisible bidirectional and zero-width format characters that make a name read as another,
# and lone surrogates (undecodable bytes of a file name), which a UTF-8 stream refuses.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]")


def printable(text: str, lines: bool = False) -> str:
    """``text`` with every unsafe character written as its Python escape (``\\n``, ``\\x1b``, ``\\u202e``).

    Used on everything the command line prints that may hold a file name or text from the data.
    ``lines``: ``text`` is several lines (a table, a report): its own line breaks stay.
    """
    if lines:
        return "\n".join(printable(line) for line in str(text).split("\n"))
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii"), str(text))
