"""The headless command line: ``models`` (the shell's own) and each feature's commands.

A feature lists its command modules in ``Feature.cli`` (engine/features/registry.py);
they are added after ``models``, in the features' order. Each module has
``register(subparsers)`` (adds its parser and ``set_defaults(func=run)``) and
``run(args) -> int``. A feature that could not be loaded, or a command module that fails
to import or to register, is left out with a logged reason and named in ``--help``;
the other commands (and ``--help`` itself) keep working.
"""

from __future__ import annotations

import argparse
import importlib
import logging

from cli.common import EXIT_BAD_INPUT, CliError, fail  # noqa: F401 - the package's public names

log = logging.getLogger(__name__)

#: Commands of the app itself rather than of one feature.
SHELL_COMMANDS = ("cli.models", "cli.batch")

def add_subcommands(parser: argparse.ArgumentParser) -> None:
    """Add ``models`` and every registered feature's commands to ``parser``."""
    from cli.common import guarded
    from engine.features.registry import registry

    features = registry()
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands (no command opens the GUI)")
    left_out = [f"{problem.title} ({problem.reason})" for problem in features.problems]
    modules = [(None, name) for name in SHELL_COMMANDS] + [(feature, name) for feature in features for name in feature.cli]
    for feature, module_name in modules:
        try:
            importlib.import_module(module_name).register(subparsers)
        except Exception as exc:  # a broken command must not take --help and the others down
            owner = f"feature '{feature.key}'" if feature is not None else "the app"
            log.error("command module %s of %s left out: %s: %s", module_name, owner, type(exc).__name__, exc)
            left_out.append(f"{module_name} ({type(exc).__name__}: {exc})")
    if left_out:
        parser.epilog = f"{parser.epilog or ''} Left out (could not be loaded): {'; '.join(left_out)}.".strip()
    # Every command gets the signal exit codes (130/143) and one-line errors for unusable
    # folders and refused files (cli.common.guarded).
    for sub in set(subparsers.choices.values()):
        func = sub.get_default("func")
        if func is not None and not getattr(func, "__wrapped_by_guard__", False):
            sub.set_defaults(func=guarded(func))
