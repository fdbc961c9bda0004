"""The one way user-supplied files are opened: regular files only, of a bounded size.

A named pipe (FIFO) blocks ``open()`` until a writer appears, a character device such as
``/dev/zero`` never ends, and a 3 GB file read whole costs 3 GB (twice that while it is
decoded). Every loader of a file the user names or may have replaced (weights, model
folders, settings, detections, dlib models) opens it here:

- the file is opened with ``O_NONBLOCK``, so opening a FIFO returns at once instead of
  waiting for a writer; ``fstat`` on the open descriptor then tells what it is (no race
  between a check and the open: it is the same file);
- anything but a regular file (FIFO, device, socket, folder) is refused;
- the size from ``fstat`` is compared with the caller's bound **before** anything is read.

Every error is a ``RegularFileError`` whose message names the file, says what is wrong
and what to do. It is an ``UnsafeFileError`` (a ``ValueError``), so the CLI prints it as
one ``error:`` line.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from engine.core.errors import NotFound, TooLarge
from engine.core.safe_files import UnsafeFileError

log = logging.getLogger(__name__)


class RegularFileError(UnsafeFileError):
    """A file that is missing, not a regular file, unreadable or over its size bound."""


class MissingFileError(RegularFileError, NotFound):
    """The file does not exist (callers that word this case themselves check the type)."""


class FileTooLargeError(RegularFileError, TooLarge):
    """The file is larger than its caller's bound."""


def describe_kind(mode: int) -> str:
    """'a named pipe (FIFO)', 'a device', ... for a ``st_mode`` that is not a regular file."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _size_text(n: int) -> str:
    from engine.core.limits import human_bytes

    return f"{human_bytes(n)} ({n:,} bytes)"


def open_regular(path: str | os.PathLike[str], max_bytes: int | None, *, what: str = "file",
                 hint: str = "") -> BinaryIO:
    """``path`` opened for binary reading, after checking that it is a regular file of at
    most ``max_bytes`` (None: any size). The caller closes it (use ``with``).

    what: what the file is, for messages ("weights file", "settings file").
    hint: what to do when the file is too large (e.g. "set CNN_STUDIO_X to raise it").
    Raises RegularFileError naming the file.
    """
    p = Path(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(p, flags)
    except FileNotFoundError:
        raise MissingFileError(f"{what} {p}: no such file") from None
    except IsADirectoryError:
        raise RegularFileError(f"{what} {p}: is a folder, not a file; give the file inside it") from None
    except OSError as exc:
        try:  # a socket cannot be opened at all (ENXIO): say what it is
            mode = os.stat(p).st_mode
        except OSError:
            mode = stat.S_IFREG
        if not stat.S_ISREG(mode):
            raise RegularFileError(f"{what} {p}: is {describe_kind(mode)}, not a regular file; give a regular file") from None
        raise RegularFileError(f"{what} {p}: cannot be opened ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise RegularFileError(f"{what} {p}: is {describe_kind(info.st_mode)}, not a regular file; give a regular file")
        if max_bytes is not None and info.st_size > max_bytes:
            advice = hint or "check that it is the right file"
            raise FileTooLargeError(f"{what} {p}: {_size_text(info.st_size)} is larger than the limit of "
                                    f"{_size_text(max_bytes)}", advice)
        if hasattr(os, "O_NONBLOCK"):
            # Regular files ignore O_NONBLOCK, but clear it so the flag never leaks into
            # code that later re-uses the descriptor for something else.
            import fcntl

            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        handle = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return handle


def read_regular_bytes(path: str | os.PathLike[str], max_bytes: int, *, what: str = "file", hint: str = "") -> bytes:
    """The whole content of a regular file of at most ``max_bytes`` (see ``open_regular``).

    Reads at most ``max_bytes + 1`` bytes, so a file that grows after the size check is
    noticed rather than read without bound.
    """
    with open_regular(path, max_bytes, what=what, hint=hint) as fh:
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise RegularFileError(f"{what} {path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise RegularFileError(f"{what} {path}: grew beyond the limit of {_size_text(max_bytes)} while it was read")
    return data


def read_regular_text(path: str | os.PathLike[str], max_bytes: int, *, what: str = "file", hint: str = "",
                      encoding: str = "utf-8") -> str:
    """The text of a regular file of at most ``max_bytes``; RegularFileError when it is
    not valid ``encoding`` (the message gives the byte offset)."""
    data = read_regular_bytes(path, max_bytes, what=what, hint=hint)
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise RegularFileError(f"{what} {path}: not {encoding.upper()} text (byte {exc.start}); "
                               "give the text file itself") from None


def iter_regular_lines(path: str | os.PathLike[str], max_line_bytes: int, *, what: str = "file",
                       encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Yield (line number from 1, text) of a regular file of any length, one line at a time.

    A line longer than ``max_line_bytes`` raises RegularFileError naming the file and the
    line before it is held in memory whole, so memory stays bounded by one line however
    large the file is.
    """
    with open_regular(path, None, what=what) as fh:
        yield from iter_stream_lines(fh, str(path), max_line_bytes, what=what, encoding=encoding)


def iter_stream_lines(stream: BinaryIO | io.BufferedIOBase, name: str, max_line_bytes: int, *, what: str = "file",
                      encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """``iter_regular_lines`` over an already open binary stream (stdin)."""
    number = 0
    while True:
        try:
            raw = stream.readline(max_line_bytes + 1)
        except OSError as exc:
            raise RegularFileError(f"{what} {name}: cannot be read ({exc.strerror or exc})") from None
        if not raw:
            return
        number += 1
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            raise RegularFileError(f"{what} {name}:{number}: the line is longer than the limit of "
                                   f"{_size_text(max_line_bytes)}; is it the right file?")
        try:
            yield number, raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise RegularFileError(f"{what} {name}:{number}: not {encoding.upper()} text (byte {exc.start} of the line)") from None
