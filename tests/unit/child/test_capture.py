"""The pieces of per-phase capture that need no pytest run."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from pytest_isolated.child.capture import (
    CAPTURE_ENCODING,
    LogFileTail,
    NoStdin,
    _same_file,
    _unbuffered,
)


def test_no_stdin_raises_as_pytests_capture_does() -> None:
    stdin = NoStdin()
    with pytest.raises(OSError, match="reading from stdin while output is captured"):
        stdin.read()
    with pytest.raises(OSError, match="reading from stdin"):
        stdin.readline()
    with pytest.raises(io.UnsupportedOperation):
        stdin.fileno()
    assert not stdin.isatty()


def test_no_stdin_has_the_interpreters_stdin_encoding() -> None:
    assert sys.__stdin__ is not None
    assert NoStdin().encoding == sys.__stdin__.encoding


def test_log_file_tail_gives_only_what_is_new(tmp_path: Path) -> None:
    log = tmp_path / "log"
    tail = LogFileTail(log)
    assert tail.read_new() == ""  # no file yet
    log.write_text("one\n")
    assert tail.read_new() == "one\n"
    with log.open("a") as f:
        f.write("two\n")
    assert tail.read_new() == "two\n"
    assert tail.read_new() == ""
    other = tmp_path / "other"
    other.write_text("three\n")
    tail.restart(other)
    assert tail.read_new() == "three\n"


def test_same_file_tells_a_dup_from_another_file(tmp_path: Path) -> None:
    a = os.open(tmp_path / "a", os.O_WRONLY | os.O_CREAT)
    b = os.open(tmp_path / "b", os.O_WRONLY | os.O_CREAT)
    dup = os.dup(a)
    try:
        assert _same_file(a, dup)
        assert not _same_file(a, b)
        os.close(dup)
        assert not _same_file(a, dup)  # closed: not the same
    finally:
        os.close(a)
        os.close(b)


def test_unbuffered_writes_through_at_every_call(tmp_path: Path) -> None:
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        like = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="replace")
        stream = _unbuffered(fd, like)
        stream.write("café")
        assert path.read_text(encoding="utf-8") == "café"  # no flush needed
        assert isinstance(stream, io.TextIOWrapper)
        assert (stream.encoding, stream.errors) == ("utf-8", "replace")
    finally:
        os.close(fd)


def test_captured_streams_write_utf8_whatever_the_streams_they_replace(
    tmp_path: Path,
) -> None:
    path = tmp_path / "out"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        latin = io.TextIOWrapper(io.BytesIO(), encoding="latin-1", errors="strict")
        stream = _unbuffered(fd, latin, CAPTURE_ENCODING)
        stream.write("café ✓\n")
        assert path.read_bytes() == "café ✓\n".encode()
    finally:
        os.close(fd)
