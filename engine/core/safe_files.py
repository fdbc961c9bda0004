"""Reading and writing files so that nothing the user made is ever destroyed.

- ``check_input_file``: an input must be a regular file (a FIFO or ``/dev/zero`` would
  block or never end) of at most a given size, checked with one ``stat`` before reading.
- ``check_output``: the one check every output passes before any work starts: it is not
  one of the inputs (same path, a symbolic or a hard link to it), not inside a folder
  that must stay untouched (a data set, a model folder), of the right kind (a file is
  not an existing folder) and its folder exists. ``refuse_same_file`` is its first part.
- ``atomic_path`` / ``atomic_write_bytes`` / ``atomic_write_text`` / ``atomic_write_json``:
  the one writer of outputs. A file is written under a temporary name in its own folder
  and renamed over the target with ``os.replace`` only when complete, so an interruption
  (Ctrl+C, SIGTERM, a full disk, a file size limit) leaves the previous file intact and
  no partial file behind; a failed write is an ``OutputWriteError`` naming the file.
- ``json_text``: JSON that is always valid (no NaN or Infinity, which JSON lacks).
- ``clean_stale_temporaries``: temporaries left by a process that was killed (kill -9,
  power loss) are removed the next time the folder is used.
- ``signals_deferred``: Ctrl+C / SIGTERM held back for the few statements that create a
  temporary and remember its name, so the cleanup always knows what to remove.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from engine.core.errors import NotFound, TooLarge, UserError

log = logging.getLogger(__name__)

# Every temporary this module makes is named ".<target name>.<random>.tmp<suffix>".
TEMP_MARK = ".tmp"


class UnsafeFileError(UserError, ValueError):
    """An input that cannot be read safely, or an output that would destroy an input."""


class MissingInputError(UnsafeFileError, NotFound):
    """An input file that does not exist."""


class InputTooLargeError(UnsafeFileError, TooLarge):
    """An input file over a size limit; ``value`` and ``limit`` in bytes."""


class SameFileError(UnsafeFileError):
    """An output that is one of the inputs; ``output`` and ``source`` are the two paths."""

    def __init__(self, what: str, todo: str, *, output: Path, source: Path) -> None:
        super().__init__(what, todo)
        self.output = output
        self.source = source


def input_file_problem(path: str | os.PathLike[str], max_bytes: int | None = None) -> UnsafeFileError | None:
    """Why ``path`` cannot be read as an input file, or None when it can.

    Follows symbolic links. The problem is returned, not raised, so the caller raises its
    own error with it; its type says the kind: ``MissingInputError`` (no such file),
    ``InputTooLargeError`` (over ``max_bytes``, with ``value``/``limit``), or an
    ``UnsafeFileError`` (a folder, a FIFO, a device, unreadable). ``what`` names the path.
    """
    p = Path(path)
    try:
        info = os.stat(p)
    except FileNotFoundError:
        return MissingInputError(f"{p}: no such file")
    except OSError as exc:
        return UnsafeFileError(f"{p}: cannot be read ({exc.strerror or exc})")
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        return UnsafeFileError(f"{p}: is a folder, not a file")
    if not stat.S_ISREG(mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        return UnsafeFileError(f"{p}: is {kind}", "give a regular file")
    if max_bytes is not None and info.st_size > max_bytes:
        from engine.core.limits import human_bytes

        return InputTooLargeError(f"{p}: {human_bytes(info.st_size)} is larger than the limit of {human_bytes(max_bytes)}",
                                  limit=max_bytes, value=info.st_size)
    return None


def check_input_file(path: str | os.PathLike[str], max_bytes: int | None = None) -> Path:
    """``path`` as a Path when it is a regular file of at most ``max_bytes``; the
    ``input_file_problem`` raised otherwise."""
    problem = input_file_problem(path, max_bytes)
    if problem is not None:
        raise problem
    return Path(path)


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # same inode: catches symbolic and hard links
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (links resolved; ``path`` need not exist)."""
    inner, outer = os.path.realpath(path), os.path.realpath(folder)
    return inner == outer or inner.startswith(outer.rstrip(os.sep) + os.sep)


def refuse_same_file(inputs: Iterable[str | os.PathLike[str]], output: str | os.PathLike[str],
                     option: str = "-o") -> None:
    """UnsafeFileError when writing ``output`` would overwrite one of ``inputs``.

    A folder output is compared with folder inputs too (writing a folder's results into
    the folder itself would replace its images).
    """
    out = Path(output).expanduser()
    for item in inputs:
        src = Path(item).expanduser()
        if src.exists() and _same(src, out):
            raise SameFileError(f"{option} {out} is the input {src} itself",
                                "choose another output name (writing it would destroy the input)", output=out, source=src)


def check_output(output: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]] = (), *,
                 option: str = "-o", kind: str = "file",
                 keep_out_of: Iterable[tuple[str | os.PathLike[str], str]] = (),
                 make_parents: bool = False) -> Path:
    """The checks an output passes before any work starts; returns it as a Path.

    Refused (UnsafeFileError, the message names ``option``, the path and what to do):
    an output that is one of ``inputs`` (see ``refuse_same_file``); one that is, or lies
    inside, a folder of ``keep_out_of`` ((folder, what it is) pairs, e.g. a data set whose
    images must not get a model among them); for ``kind`` "file" an existing folder, for
    "folder" an existing file; and one whose folder does not exist (``make_parents``: whose
    nearest existing parent is not a writable folder, as the parents will be created).
    """
    out = Path(output).expanduser()
    refuse_same_file(inputs, out, option)
    for folder, what in keep_out_of:
        if _inside(out, Path(folder).expanduser()):
            raise UnsafeFileError(f"{option} {out} is inside {what} {folder}; write it somewhere else "
                                  f"(it would mix with or replace the files of {what})")
    if kind == "file" and out.is_dir():
        raise UnsafeFileError(f"{option} {out} is a folder; give a file name")
    if kind == "folder" and out.exists() and not out.is_dir():
        raise UnsafeFileError(f"{option} {out} is an existing file, not a folder; give a folder name")
    parent = out.parent
    if make_parents:
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
    if not parent.is_dir():
        problem = "is a file, not a folder" if parent.exists() else "does not exist"
        raise UnsafeFileError(f"{option} {out}: the folder {parent} {problem}; create it or choose another place")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UnsafeFileError(f"{option} {out}: the folder {parent} is not writable; choose another place")
    return out


@contextlib.contextmanager
def signals_deferred(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Run the block with ``signals`` held back: one that arrives meanwhile is handed to
    the handler in place before (which raises KeyboardInterrupt, or the CLI's Terminated)
    when the block ends.

    For statements that must not be split, such as creating a temporary file and storing
    its name where the ``finally`` that removes it looks: a signal between the two leaked
    the file. Only the main thread receives Python signals; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {}
    for signum in signals:
        previous[signum] = signal.signal(signum, lambda number, frame: received.append(number))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in received[:1]:
            handler = previous[signum]
            if callable(handler):
                handler(signum, None)
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), signum)  # the default action (end the process), now


def temp_name_for(target: Path) -> Path:
    """A fresh, unused temporary path next to ``target``, with the same suffix (writers
    such as OpenCV choose the format from it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f"{TEMP_MARK}{target.suffix}", dir=target.parent)
    os.close(fd)
    return Path(name)


class OutputWriteError(UserError, OSError):
    """Writing an output failed (a full disk, a file size limit, ...); the message names the
    file, the reason, and that the previous file, if any, is unchanged."""


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _fsync(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], allow_empty: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write ``target``'s new content to; on success it replaces
    ``target`` in one rename. On any exception (KeyboardInterrupt and SystemExit included)
    the temporary is removed and ``target`` is untouched; an OSError with an errno (a full
    disk, "File too large") becomes an ``OutputWriteError`` that names ``target``.

    The writer may create the file itself (cv2.imwrite, a video writer): the temporary
    exists, empty, when the block starts; an empty result is refused unless ``allow_empty``.
    The new file gets the usual permissions (0666 minus the umask), or the old file's when
    it replaces one.
    """
    target = Path(target)
    tmp: Path | None = None
    try:
        with signals_deferred():  # never a temporary on disk whose name the finally lacks
            tmp = temp_name_for(target)
        yield tmp
        if not tmp.exists() or (tmp.stat().st_size == 0 and not allow_empty):
            raise OSError(f"{target}: nothing was written")
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except OSError:
            mode = _default_mode()
        os.chmod(tmp, mode)
        _fsync(tmp)
        os.replace(tmp, target)
        _fsync(target.parent)  # the rename itself survives a power loss (a no-op where folders cannot be opened)
    except OSError as exc:
        if isinstance(exc, OutputWriteError) or exc.errno is None:
            raise  # already a message of ours or the writer's, naming the file
        kept = "the previous file is unchanged" if target.exists() else "no file was left behind"
        error = OutputWriteError(f"{target}: could not be written ({exc.strerror or exc}); {kept}")
        error.errno = exc.errno
        raise error from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically (see ``atomic_path``); returns the target."""
    with atomic_path(target, allow_empty=not data) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return Path(target)


def atomic_write_text(target: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    return atomic_write_bytes(target, text.encode(encoding))


def _finite_only(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON null)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite_only(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_only(v) for v in value]
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):  # a numpy scalar
        return _finite_only(value.item())
    return value


def json_text(value: Any, **options: Any) -> str:
    """``json.dumps(value, **options)`` that is always valid JSON: NaN and infinities, which
    JSON cannot express (Python would write the invalid tokens NaN/Infinity), become null."""
    try:
        return json.dumps(value, allow_nan=False, **options)
    except ValueError:
        log.warning("a value that is not a finite number was written as null")
        return json.dumps(_finite_only(value), allow_nan=False, **options)


def atomic_write_json(target: str | os.PathLike[str], value: Any, **options: Any) -> Path:
    """``value`` as valid UTF-8 JSON (see ``json_text``) plus a newline, written atomically."""
    return atomic_write_text(target, json_text(value, **options) + "\n")


def clean_stale_temporaries(folder: str | os.PathLike[str], patterns: Iterable[str], older_than_s: float = 600.0) -> list[Path]:
    """Delete files in ``folder`` matching any glob of ``patterns`` not modified for
    ``older_than_s`` seconds (a temporary in use by a live writer is younger); returns them."""
    root = Path(folder)
    if not root.is_dir():
        return []
    now = time.time()
    removed = []
    for pattern in patterns:
        for path in root.glob(pattern):
            try:
                if path.is_file() and now - path.stat().st_mtime >= older_than_s:
                    path.unlink()
                    removed.append(path)
            except OSError as exc:
                log.warning("could not remove the stale temporary %s: %s", path, exc)
    if removed:
        log.info("removed %d stale temporary file(s) in %s", len(removed), root)
    return removed
