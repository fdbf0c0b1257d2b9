"""What every command shares: ``--version``, and one way to end: a one-line error (exit 2 for bad
input, 1 for a failed write), a quiet exit when the reader of a pipe leaves, and exit 130 with one
line on Ctrl-C."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Callable

from ..core.errors import CapacityError, InputError

INTERRUPTED = 130   # the shell's code for a command ended by SIGINT


class _Version(argparse.Action):
    """``--version``: prints ``PROG (sparseloom) VERSION`` and exits."""

    def __init__(self, option_strings, dest, **_):
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, nargs=0,
                         help="show program's version number and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        from ..core.version import VERSION

        print(f"{parser.prog} (sparseloom) {VERSION}")
        parser.exit()


def add_version(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--version", action=_Version)
    return parser


def run(prog: str, body: Callable[[], int]) -> int:
    """Run a command's body and turn the ways it can end into exit codes and one line of stderr."""
    try:
        return body()
    except (InputError, CapacityError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:      # `simulate ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt as exc:
        print(f"{prog}: interrupted" + (f": {exc}" if str(exc) else ""), file=sys.stderr)
        return INTERRUPTED
    except OSError as exc:       # a full disk or a vanished folder while writing
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{prog}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1


def refuse(given: dict[str, object], view: str) -> None:
    """An InputError for the first option in ``given`` that was set but does not apply with ``view``."""
    for name, value in given.items():
        if value:
            raise InputError(name, "", f"does not apply with {view}")
