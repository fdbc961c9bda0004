"""The headless command line: one module per subcommand.

Each module listed in SUBCOMMANDS has ``register(subparsers)`` (adds its parser and
``set_defaults(func=run)``) and ``run(args) -> int``. Modules are imported when the
parser is built; a feature that is not installed is left out of the list.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from engine.core.errors import UserError, one_line

log = logging.getLogger(__name__)

SUBCOMMANDS = ("models", "detect", "track", "faces", "stylize", "inspect", "teach")


EXIT_BAD_INPUT = 2


class CliError(UserError):
    """Bad input on the command line; printed as one `error: ...` line, exit code 2."""


def fail(problem: str | BaseException) -> int:
    """Print ``problem`` as the one ``error: ...`` line the user sees; returns exit code 2.

    The one place the command line reports bad input: a ``UserError`` (raised anywhere
    and caught by ``cli.common.guarded``, or by a command) prints ``error: <what>: <todo>``;
    a message of the command's own prints as it is.
    """
    print(f"error: {one_line(str(problem))}", file=sys.stderr)
    return EXIT_BAD_INPUT


def add_subcommands(parser: argparse.ArgumentParser) -> None:
    from cli.common import guarded

    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands (no command opens the GUI)")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"cli.{name}":
                continue
            raise
        module.register(subparsers)
    # Every command gets the signal exit codes (130/143) and one-line errors for unusable
    # folders and refused files (cli.common.guarded).
    for sub in set(subparsers.choices.values()):
        func = sub.get_default("func")
        if func is not None and not getattr(func, "__wrapped_by_guard__", False):
            sub.set_defaults(func=guarded(func))
