"""One hierarchy for the errors users see, and the signal that a job was cancelled.

Every exception class of the application derives from ``UserError`` (or is ``Cancelled``,
or is listed as internal in tests/engine/test_errors.py). A ``UserError`` carries

- ``what``: what was wrong, naming the file, the value or the model;
- ``todo``: what the user can do about it (may be empty when ``what`` already says it);

and ``str()`` is the one line users see: ``"<what>: <todo>"``, or ``what`` alone. The
command line prints that line as ``error: ...`` (exit code 2) in one place, the GUI shows
``what`` in its message box with ``todo`` below it.

Behaviour that depends on the kind of a problem reads the kind from the type
(``NotFound``, ``TooLarge``, ``BadFormat``, ``Unsupported``) or from its attributes
(``TooLarge.limit`` / ``TooLarge.value``), never from the message text.

Classes that callers catch by a builtin base (``except ValueError``, ``except KeyError``,
``except OSError``) keep that base too: ``class SourceError(UserError, RuntimeError)``.

This module imports nothing from the application: it is the bottom layer.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BadFormat", "Cancelled", "NotFound", "TooLarge", "Unsupported", "UserError", "one_line"]


def one_line(text: str) -> str:
    """``text`` with its lines joined by spaces: a user-facing line never spans lines."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


class UserError(Exception):
    """A problem the user can fix: ``what`` was wrong, and ``todo``, what to do.

    ``UserError(message)`` (one argument) keeps a message that already says both as
    ``what``, with ``todo`` empty; ``UserError(what, todo)`` gives them apart.
    """

    def __init__(self, what: str = "", todo: str = "") -> None:
        self.what = str(what)
        self.todo = str(todo)
        # One argument: the full line, so pickling and builtin bases (OSError, KeyError)
        # see the same text users do.
        super().__init__(self._line())

    def _line(self) -> str:
        if self.what and self.todo:
            return f"{self.what}: {self.todo}"
        return self.what or self.todo or type(self).__name__

    def __str__(self) -> str:
        return self._line()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.what!r}, {self.todo!r})" if self.todo else f"{type(self).__name__}({self.what!r})"

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # Subclasses take other constructor arguments (a name, paths): rebuild from the state.
        return _restore, (type(self), self.args, dict(self.__dict__))


def _restore(cls: type[UserError], args: tuple[Any, ...], state: dict[str, Any]) -> UserError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class NotFound(UserError):
    """Something named does not exist: a file, a model, a layer, a person."""


class TooLarge(UserError):
    """A size over a limit. ``value``: the size found; ``limit``: the largest accepted
    (both in the unit the raiser states, e.g. bytes or pixels; None when unknown)."""

    def __init__(self, what: str = "", todo: str = "", *, limit: float | None = None, value: float | None = None) -> None:
        self.limit = limit
        self.value = value
        super().__init__(what, todo)


class BadFormat(UserError):
    """A file or value that is damaged, truncated or of another format than expected."""


class Unsupported(UserError):
    """A well-formed request this application cannot do (a layer type, a codec, a device)."""


class Cancelled(Exception):
    """A job stopped because the user asked it to; nothing was saved.

    Not a ``UserError``: a control-flow signal, reported as "cancelled", never as a failure.
    """


class SourceError(UserError, RuntimeError):
    """A source could not be opened or read; the message says which and what to do."""
