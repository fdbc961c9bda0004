"""What every subcommand shares: exit codes for signals, safe outputs, one-line errors.

``guarded(run)`` wraps a subcommand's ``run(args)``:

- Ctrl+C (SIGINT) ends it with exit code 130 and SIGTERM with 143 (128 + the signal
  number, the shell convention), after the ``finally`` blocks on the way out have
  removed any temporary output, so an interrupted command leaves no partial file and
  the previous output intact;
- any ``engine.core.errors.UserError`` (bad input, a data folder that cannot be used, an
  input/output refused by ``engine.core.safe_files``, missing weights, ...) that the command
  did not handle is one ``error: <what>: <todo>`` line (exit code 2), never a traceback.

``output_file(path)`` is the context manager the commands write through: it yields a
temporary path in the same folder, with the same suffix, renamed over ``path`` only
when the block completes. ``check_output`` is the check every output passes before the
work starts (not an input, not inside a data set or model folder, its folder exists).

``number(low, high, ...)`` is the argparse ``type`` of every numeric option: a finite
number (NaN and infinity are refused) in a range. ``print_json`` prints valid JSON.
"""

from __future__ import annotations

import argparse
import functools
import math
import signal
import sys
from collections.abc import Callable
from typing import Any

from engine.core.errors import UserError, one_line
from engine.core.safe_files import atomic_path as output_file  # noqa: F401 - the commands write through it
from engine.core.safe_files import check_output, json_text, refuse_same_file  # noqa: F401 - checks the commands share

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
        from engine.core.errors import UserError

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
        except UserError as exc:
            return fail(exc)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    wrapper.__wrapped_by_guard__ = True  # type: ignore[attr-defined]
    return wrapper


def _bound(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def number(low: float | None = None, high: float | None = None, *, integer: bool = False,
           low_open: bool = False, high_open: bool = False) -> Callable[[str], float]:
    """An argparse ``type``: a finite number (an int with ``integer``) with ``low <= value <= high``
    (``low_open``/``high_open``: strictly). NaN, infinity and out-of-range values are refused
    with a message that gives the range."""
    if integer:
        what = "a whole number"
    else:
        what = "a number"
    if low is not None and high is not None:
        wanted = f"{what} from {_bound(low)} to {_bound(high)}"
        if low_open or high_open:
            wanted = (f"{what} {'above' if low_open else 'from'} {_bound(low)} "
                      f"{'and below' if high_open else 'up to'} {_bound(high)}")
    elif low is not None:
        wanted = f"{what} {'above' if low_open else 'of at least'} {_bound(low)}"
    elif high is not None:
        wanted = f"{what} {'below' if high_open else 'of at most'} {_bound(high)}"
    else:
        wanted = f"a finite {what[2:]}"

    def parse(text: str) -> float:
        try:
            value = int(text, 10) if integer else float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {what}: give {wanted}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"'{text}' is not a finite number: give {wanted}")
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"{text} is out of range: give {wanted}")
        return value

    parse.__name__ = "integer" if integer else "number"  # argparse names the type in some messages
    return parse


def number_list(low: float | None = None, high: float | None = None) -> Callable[[str], list[float]]:
    """An argparse ``type``: comma-separated numbers, each checked as by ``number(low, high)``."""
    one = number(low, high)

    def parse(text: str) -> list[float]:
        values = [one(item.strip()) for item in text.split(",") if item.strip()]
        if not values:
            raise argparse.ArgumentTypeError(f"'{text}' holds no numbers: give comma-separated numbers (e.g. 2,1)")
        return values

    parse.__name__ = "numbers"
    return parse


def print_json(value: Any, **options: Any) -> None:
    """Print ``value`` as one valid JSON document (see ``engine.core.safe_files.json_text``)."""
    print(json_text(value, **options), flush=True)


# Seeds feed torch.manual_seed, numpy and random alike; numpy's legacy generator takes
# 32 bits, so that is the range every command accepts.
MAX_SEED = 2**32 - 1


def seed_value(text: str) -> int:
    """argparse type of --seed: a whole number from 0 to MAX_SEED, refused with a message
    that gives the range (torch alone would say "Overflow when unpacking long long")."""
    import argparse

    try:
        value = int(text.strip(), 10)  # base 10: a seed written 007 is 7
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
