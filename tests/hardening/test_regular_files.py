"""engine.core.regular_files: FIFOs, devices, sockets and folders are refused without blocking,
sizes are bounded before reading, long lines before they are held."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.hardening.conftest import ROOT, child_env


def _open_in_child(path, max_bytes="None") -> subprocess.CompletedProcess:
    """open_regular in a child process: a regression that blocks fails by its timeout
    instead of hanging the test run."""
    code = ("import sys\nfrom engine.core.regular_files import RegularFileError, open_regular\n"
            f"try:\n    open_regular(sys.argv[1], {max_bytes}, what='test file').close()\n"
            "except RegularFileError as exc:\n    print(exc)\n    sys.exit(3)\n")
    return subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                          env=child_env(), cwd=ROOT, timeout=60)


def test_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "pipe.pt"
    os.mkfifo(fifo)
    result = _open_in_child(fifo)
    assert result.returncode == 3, result.stderr
    assert str(fifo) in result.stdout and "FIFO" in result.stdout


@pytest.mark.parametrize("kind", ["device", "folder", "socket"])
def test_other_non_regular_files_are_refused(tmp_path, kind):
    from engine.core.regular_files import RegularFileError, open_regular

    if kind == "device":
        path, word = "/dev/zero", "device"
    elif kind == "folder":
        path, word = tmp_path, "folder"
    else:
        path, word = tmp_path / "s.sock", "socket"
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
    with pytest.raises(RegularFileError, match=word) as info:
        open_regular(path, None, what="test file")
    assert str(path) in str(info.value)


def test_the_size_is_checked_before_reading(tmp_path):
    from engine.core.regular_files import RegularFileError, open_regular, read_regular_bytes

    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:
        fh.truncate(3 * 1024**3)  # sparse
    with pytest.raises(RegularFileError, match=r"big.bin: 3.0 GB \(3,221,225,472 bytes\) is larger than the limit"):
        read_regular_bytes(big, 1024 * 1024, what="settings file", hint="do this")
    small = tmp_path / "small.bin"
    small.write_bytes(b"abc")
    assert read_regular_bytes(small, 3) == b"abc"
    with open_regular(small, 3) as fh:
        assert fh.read() == b"abc"
    with pytest.raises(RegularFileError, match="no such file"):
        open_regular(tmp_path / "absent", 10)


def test_lines_are_bounded_one_by_one(tmp_path):
    from engine.core.regular_files import RegularFileError, iter_regular_lines

    text = tmp_path / "lines.txt"
    text.write_bytes(b"one\n\ntwo\nthree")
    assert list(iter_regular_lines(text, 8)) == [(1, "one\n"), (2, "\n"), (3, "two\n"), (4, "three")]
    huge = tmp_path / "huge.jsonl"
    huge.write_bytes(b'{"a": 1}\n')
    with open(huge, "ab") as fh:
        fh.truncate(2 * 1024**3)  # one 2 GB line of zeros after the first
    lines = iter_regular_lines(huge, 1024)
    assert next(lines) == (1, '{"a": 1}\n')
    with pytest.raises(RegularFileError, match=r"huge.jsonl:2: the line is longer than the limit"):
        next(lines)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"caf\xe9\n")
    with pytest.raises(RegularFileError, match=r"latin.txt:1: not UTF-8"):
        list(iter_regular_lines(latin, 100))
