"""``dataprep`` command: argument parsing and error reporting; the work is in the library.

A command's module is imported only when that command runs: estimate's and build's load polars and
pyarrow, so ``dataprep train`` and ``compare`` start where only torch and numpy are installed. The
other commands are listed in ``dataprep --help`` from ``COMMANDS`` without being imported.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import multiprocessing
import os
import sys
import traceback
from importlib import import_module
from typing import NoReturn


def interrupted_while_starting() -> NoReturn:
    print("\ndataprep: interrupted while starting; nothing was written", file=sys.stderr)
    sys.exit(130)


try:  # importing the library, and a command's module below, takes most of a second: a Ctrl-C then ends quietly too
    from dataprep.version import __version__
    from dataprep.errors import DataprepError, printable
    from dataprep.io.memory import keep_freed_memory
except KeyboardInterrupt:
    interrupted_while_starting()

EXIT_BAD_INPUT = 2
DESCRIPTION = ("Measure how much effective, unique training data a pretraining corpus holds, build deduplicated "
               "token bins from it, and train and compare GPTs on them.")
EPILOG = "dataprep COMMAND --help shows a command's options."

# command -> (module that defines and runs it, the function there that adds its parser, the line --help lists)
COMMANDS = {
    "estimate": ("dataprep_cli.estimate_cmd", "add_estimate", "measure exact, unique and effective tokens of parquet "
                 "shards"),
    "build": ("dataprep_cli.build_cmd", "add_build", "deduplicate, filter and tokenize many shards into nanoGPT/llm.c "
              "token bins"),
    "train": ("dataprep_cli.train_cmd", "add_train", "train a small GPT on token bins; log val loss against tokens and "
              "epochs seen"),
    "compare": ("dataprep_cli.train_cmd", "add_compare", "compare training runs: best val loss, where it was reached, "
                "and how far it rose after"),
    "demo": ("dataprep_cli.demo_cmd", "add_demo", "single-file vs many-shard training on generated data, in a few CPU "
             "minutes"),
    "synth": ("dataprep_cli.synth_cmd", "add_synth", "generate FineWeb-Edu-like parquet shards with planted "
              "duplicates"),
}


def build_parser(command: str | None = None) -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser with ``command``'s options (its module imported), every other command listed only; and the
    commands' parsers by name."""
    parser = argparse.ArgumentParser(prog="dataprep", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"dataprep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module, adder, listed) in COMMANDS.items():
        if name == command:
            try:
                commands_module = import_module(module)
            except KeyboardInterrupt:
                interrupted_while_starting()
            getattr(commands_module, adder)(sub)
        else:
            sub.add_parser(name, help=listed, add_help=False)
    return parser, sub.choices


def command_of(argv: list[str]) -> str | None:
    """The command named in ``argv``: its first word that is not an option (the top level takes none with a value)."""
    return next((word for word in argv if not word.startswith("-")), None)


def parse(argv: list[str]) -> argparse.Namespace:
    """The arguments; a misspelled command or option is refused with the usage of what was meant and a guess."""
    command = command_of(argv)
    parser, commands = build_parser(command if command in COMMANDS else None)
    if command is not None and command not in COMMANDS:
        guess = difflib.get_close_matches(command, COMMANDS, n=1)
        parser.error(f"no command {command!r}" + (f"; did you mean {guess[0]}?" if guess else
                                                  f" (choose from {', '.join(COMMANDS)})"))
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        sub = commands.get(command, parser)
        sub.error(f"unrecognized arguments: {' '.join(unknown)}{guess_option(sub, unknown)}")
    return args


def guess_option(parser: argparse.ArgumentParser, unknown: list[str]) -> str:
    """'; did you mean --params?' for the first unknown option close to one the command has, else ''."""
    known = [s for action in parser._actions for s in action.option_strings if s.startswith("--")]
    for word in unknown:
        if word.startswith("--"):
            guess = difflib.get_close_matches(word.split("=", 1)[0], known, n=1)
            if guess:
                return f"; did you mean {guess[0]}?"
    return ""


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        return args.run(args)
    except DataprepError as exc:
        say(f"dataprep: {exc}")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as exc:
        # The trainer's interrupt names its step and checkpoint; a bare Ctrl-C elsewhere gets the generic line.
        message = str(exc) or (
            "interrupted; finished stages are kept: rerun the same command to resume a build "
            "(add --resume to continue a training run)"
        )
        say(f"dataprep: {message}", fresh_line=True)
        for child in multiprocessing.active_children():  # workers ignore Ctrl-C (engine.py): stop them
            child.terminate()
        # Leave now: a library thread pool still busy at interpreter teardown can abort the process.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    except BrokenPipeError:
        return 0
    except OSError as exc:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR, errno.EISDIR):
            say(f"dataprep: cannot write {exc.filename or 'a file'}: {exc.strerror}")
            return EXIT_BAD_INPUT
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return _internal_error(exc)
        where = f" writing {exc.filename}" if exc.filename else ""
        say(f"dataprep: no space left{where} ({exc.strerror}); nothing half-written was kept: "
            "free space and rerun the same command to resume")
        return EXIT_BAD_INPUT
    except Exception as exc:
        return _internal_error(exc)


def _internal_error(exc: BaseException) -> int:
    """A bug of ours: one line by default, the traceback on request."""
    if os.environ.get("DATAPREP_DEBUG"):
        traceback.print_exception(exc)
    say(f"dataprep: internal error: {type(exc).__name__}: {exc} (set DATAPREP_DEBUG=1 for details)")
    return 1


def say(message: str, fresh_line: bool = False) -> None:
    """One line on stderr; the file names or data it quotes are escaped, never printed raw.

    ``fresh_line``: start on a new line (after the ^C the terminal echoed, or a progress bar).
    """
    print(("\n" if fresh_line else "") + printable(message), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
