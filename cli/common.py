"""What every subcommand shares: exit codes for signals, safe outputs, one-line errors.

``guarded(run)`` wraps a subcommand's ``run(args)``:

- Ctrl+C (SIGINT) ends it with exit code 130 and SIGTERM with 143 (128 + the signal
  number, the shell convention), after the ``finally`` blocks on the way out have
  removed any temporary output, so an interrupted command leaves no partial file and
  the previous output intact;
- a data folder that cannot be used or an input/output refused by ``engine.core.safe_files``
  is one ``error: ...`` line (exit code 2), never a traceback.

``output_file(path)`` is the context manager the commands write through: it yields a
temporary path in the same folder, with the same suffix, renamed over ``path`` only
when the block completes.
"""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Callable

from engine.core.safe_files import atomic_path as output_file
from engine.core.safe_files import refuse_same_file

EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM, so ``finally`` blocks clean up as for Ctrl+C."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def guarded(run: Callable) -> Callable:
    """``run(args) -> int`` with the signal exit codes and one-line errors described above."""

    @functools.wraps(run)
    def wrapper(args) -> int:
        from cli import fail
        from engine.core.paths import PathsError
        from engine.core.safe_files import UnsafeFileError

        previous = None
        try:
            previous = signal.signal(signal.SIGTERM, _raise_terminated)
        except ValueError:  # not the main thread (a test calling run() from a worker)
            previous = None
        try:
            return run(args)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return EXIT_SIGINT
        except Terminated:
            print("terminated", file=sys.stderr)
            return EXIT_SIGTERM
        except (PathsError, UnsafeFileError) as exc:
            return fail(str(exc))
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    wrapper.__wrapped_by_guard__ = True  # type: ignore[attr-defined]
    return wrapper


# Seeds feed torch.manual_seed, numpy and random alike; numpy's legacy generator takes
# 32 bits, so that is the range every command accepts.
MAX_SEED = 2**32 - 1


def seed_value(text: str) -> int:
    """argparse type of --seed: a whole number from 0 to MAX_SEED, refused with a message
    that gives the range (torch alone would say "Overflow when unpacking long long")."""
    import argparse

    try:
        value = int(text.strip(), 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number (use 0 to {MAX_SEED})") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text} is out of range: use a whole number from 0 to {MAX_SEED}")
    return value


def printable(path: object) -> str:
    """A path as text that any terminal can print: bytes of a file name that are not
    UTF-8 (Linux allows them) are shown as \\xNN instead of failing the print."""
    import os

    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")
