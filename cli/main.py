"""``dataprep`` command: argument parsing and error reporting; the work is in the library."""

from __future__ import annotations

import argparse
import errno
import multiprocessing
import os
import sys
import traceback

try:  # importing the library takes most of a second: a Ctrl-C in it ends quietly too
    from dataprep.version import __version__
    from dataprep.errors import DataprepError, printable
    from dataprep.io.memory import keep_freed_memory
    from dataprep_cli.build_cmd import add_build
    from dataprep_cli.demo_cmd import add_demo
    from dataprep_cli.estimate_cmd import add_estimate
    from dataprep_cli.synth_cmd import add_synth
    from dataprep_cli.train_cmd import add_compare, add_train
except KeyboardInterrupt:
    print("\ndataprep: interrupted while starting; nothing was written", file=sys.stderr)
    sys.exit(130)

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dataprep", description=__doc__)
    parser.add_argument("--version", action="version", version=f"dataprep {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_estimate(sub)
    add_build(sub)
    add_train(sub)
    add_compare(sub)
    add_demo(sub)
    add_synth(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    keep_freed_memory()
    args = build_parser().parse_args(argv)
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
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
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
