"""Unit tests of tee.OutputTee: under -s, a child's output passed on to the
terminal, with the tail of the current phase kept for a crash report."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pytest_isolated.parent.tee import OutputTee
from pytest_isolated.protocol import PHASE_MARK


@pytest.fixture
def shown() -> Iterator[tuple[int, int]]:
    """A pipe standing for this process's stdout: (read end, write end)."""
    read_end, write_end = os.pipe()
    yield read_end, write_end
    os.close(read_end)
    os.close(write_end)


def passed_on(read_end: int) -> bytes:
    os.set_blocking(read_end, False)
    try:
        return os.read(read_end, 1 << 20)
    except BlockingIOError:
        return b""


def test_everything_is_passed_on_and_the_tail_restarts_at_each_mark(
    shown: tuple[int, int],
) -> None:
    read_end, write_end = shown
    tee = OutputTee("stdout", -1, write_end)
    tee.feed(b"setup output\n" + PHASE_MARK + b"call output\n")
    tee.feed(b"more\n")
    assert tee.text() == "call output\nmore\n"
    assert passed_on(read_end) == b"setup output\ncall output\nmore\n"


def test_a_mark_split_between_chunks_is_found_and_never_shown(
    shown: tuple[int, int],
) -> None:
    read_end, write_end = shown
    tee = OutputTee("stdout", -1, write_end)
    half = len(PHASE_MARK) // 2
    tee.feed(b"before" + PHASE_MARK[:half])
    assert passed_on(read_end) == b"before"  # the start of a mark waits
    tee.feed(PHASE_MARK[half:] + b"after")
    assert passed_on(read_end) == b"after"
    assert tee.text() == "after"


def test_what_only_looked_like_a_mark_is_shown_at_the_end(
    shown: tuple[int, int],
) -> None:
    read_end, write_end = shown
    tee = OutputTee("stdout", -1, write_end)
    tee.feed(b"text" + PHASE_MARK[:3])
    tee.end()
    assert passed_on(read_end) == b"text" + PHASE_MARK[:3]
    assert tee.text().startswith("text")


def test_the_tail_is_bounded_and_says_what_it_dropped(
    shown: tuple[int, int],
) -> None:
    read_end, write_end = shown
    tee = OutputTee("stderr", -1, write_end, limit=10)
    tee.feed(b"0123456789abcdef")
    assert tee.text() == "[6 earlier bytes not shown]\n6789abcdef"
    assert passed_on(read_end) == b"0123456789abcdef"  # all of it, live
    tee.feed(PHASE_MARK + b"new")
    assert tee.text() == "new"


def test_undecodable_output_is_replaced_not_fatal(shown: tuple[int, int]) -> None:
    _, write_end = shown
    tee = OutputTee("stdout", -1, write_end)
    tee.feed(b"\xff\xfe ok")
    assert tee.text() == "\ufffd\ufffd ok"


def test_a_closed_terminal_does_not_stop_the_tail() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # writing fails: EPIPE (Python ignores SIGPIPE)
    try:
        tee = OutputTee("stdout", -1, write_end)
        tee.feed(b"kept anyway")
        assert tee.text() == "kept anyway"
    finally:
        os.close(write_end)
