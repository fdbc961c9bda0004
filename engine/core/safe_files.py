"""Reading and writing files so that nothing the user made is ever destroyed.

- ``check_input_file``: an input must be a regular file (a FIFO or ``/dev/zero`` would
  block or never end) of at most a given size, checked with one ``stat`` before reading.
- ``refuse_same_file``: an output that is one of the inputs (same path, a symbolic or a
  hard link to it) is refused before anything is opened for writing.
- ``atomic_path`` / ``atomic_write_bytes``: a file is written under a temporary name in
  its own folder and renamed over the target with ``os.replace`` only when complete, so
  an interruption (Ctrl+C, SIGTERM, a full disk) leaves the previous file intact and no
  partial file behind.
- ``clean_stale_temporaries``: temporaries left by a process that was killed (kill -9,
  power loss) are removed the next time the folder is used.
- ``signals_deferred``: Ctrl+C / SIGTERM held back for the few statements that create a
  temporary and remember its name, so the cleanup always knows what to remove.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

# Every temporary this module makes is named ".<target name>.<random>.tmp<suffix>".
TEMP_MARK = ".tmp"


class UnsafeFileError(ValueError):
    """An input that cannot be read safely, or an output that would destroy an input."""


def input_file_problem(path: str | os.PathLike[str], max_bytes: int | None = None) -> str | None:
    """Why ``path`` cannot be read as an input file, or None when it can.

    Follows symbolic links. The message names the path and says what to do.
    """
    p = Path(path)
    try:
        info = os.stat(p)
    except FileNotFoundError:
        return f"{p}: no such file"
    except OSError as exc:
        return f"{p}: cannot be read ({exc.strerror or exc})"
    mode = info.st_mode
    if stat.S_ISDIR(mode):
        return f"{p}: is a folder, not a file"
    if not stat.S_ISREG(mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
        return f"{p}: is {kind}; give a regular file"
    if max_bytes is not None and info.st_size > max_bytes:
        from engine.core.limits import human_bytes

        return f"{p}: {human_bytes(info.st_size)} is larger than the limit of {human_bytes(max_bytes)}"
    return None


def check_input_file(path: str | os.PathLike[str], max_bytes: int | None = None) -> Path:
    """``path`` as a Path when it is a regular file of at most ``max_bytes``; UnsafeFileError otherwise."""
    problem = input_file_problem(path, max_bytes)
    if problem:
        raise UnsafeFileError(problem)
    return Path(path)


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # same inode: catches symbolic and hard links
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def refuse_same_file(inputs: Iterable[str | os.PathLike[str]], output: str | os.PathLike[str]) -> None:
    """UnsafeFileError when writing ``output`` would overwrite one of ``inputs``.

    A folder output is compared with folder inputs too (writing a folder's results into
    the folder itself would replace its images).
    """
    out = Path(output).expanduser()
    for item in inputs:
        src = Path(item).expanduser()
        if src.exists() and _same(src, out):
            raise UnsafeFileError(f"-o {out} is the input {src} itself; choose another output name "
                                  "(writing it would destroy the input)")


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
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write ``target``'s new content to; on success it replaces
    ``target`` in one rename. On any exception (KeyboardInterrupt and SystemExit included)
    the temporary is removed and ``target`` is untouched.

    The writer may create the file itself (cv2.imwrite, a video writer): the temporary
    exists, empty, when the block starts. The new file gets the usual permissions
    (0666 minus the umask), or the old file's when it replaces one.
    """
    target = Path(target)
    tmp: Path | None = None
    try:
        with signals_deferred():  # never a temporary on disk whose name the finally lacks
            tmp = temp_name_for(target)
        yield tmp
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise OSError(f"{target}: nothing was written")
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except OSError:
            mode = _default_mode()
        os.chmod(tmp, mode)
        _fsync(tmp)
        os.replace(tmp, target)
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically (see ``atomic_path``); returns the target."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
    return Path(target)


def atomic_write_text(target: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> Path:
    return atomic_write_bytes(target, text.encode(encoding))


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
