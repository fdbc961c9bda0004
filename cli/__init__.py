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

log = logging.getLogger(__name__)

SUBCOMMANDS = ("models", "detect", "track", "faces", "stylize", "inspect", "teach")


class CliError(Exception):
    """Bad input on the command line; printed as one `error: ...` line, exit code 2."""


def fail(message: str) -> int:
    """Print a one-line error for the user and return the exit code for bad input."""
    print(f"error: {message}", file=sys.stderr)
    return 2


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
