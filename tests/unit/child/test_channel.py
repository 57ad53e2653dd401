"""The event channel's write end: whole events, written by its owner only."""

from __future__ import annotations

import json
import os
import sys

import pytest

from pytest_isolated.child.channel import Channel, open_channel


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def test_sends_one_json_line_per_event() -> None:
    read_end, write_end = os.pipe()
    channel = Channel(write_end)
    channel.send("started", pid=12)
    channel.send("finished", exitstatus=0)
    os.close(write_end)
    lines = read_all(read_end).splitlines()
    os.close(read_end)
    assert len(lines) == 2
    assert json.loads(lines[0])["pid"] == 12
    assert json.loads(lines[1])["exitstatus"] == 0


def test_reopen_writes_to_the_new_fd_and_closes_the_old() -> None:
    old_read, old_write = os.pipe()
    new_read, new_write = os.pipe()
    channel = Channel(old_write)
    channel.reopen(new_write)
    channel.send("started", pid=1)
    os.close(new_write)
    assert read_all(old_read) == b""  # the old end was closed: EOF
    assert b"started" in read_all(new_read)
    os.close(old_read)
    os.close(new_read)


def test_a_process_that_did_not_open_it_sends_nothing() -> None:
    read_end, write_end = os.pipe()
    channel = Channel(write_end)
    channel.owner = os.getpid() + 1  # as in a test's fork of the child
    assert not channel.ours
    channel.send("started", pid=1)
    os.close(write_end)
    assert read_all(read_end) == b""
    os.close(read_end)


def test_held_events_go_with_the_next_one_in_one_write() -> None:
    read_end, write_end = os.pipe()
    channel = Channel(write_end)
    channel.hold("logstart", nodeid="t")
    channel.hold("report", report={})
    os.set_blocking(read_end, False)
    with pytest.raises(BlockingIOError):  # nothing written yet
        os.read(read_end, 1 << 16)
    channel.send("phase", nodeid="t", when="setup")
    written = os.read(read_end, 1 << 16)  # the three, at once
    channel.send("finished", exitstatus=0)
    os.close(write_end)
    rest = read_all(read_end)
    os.close(read_end)
    assert [json.loads(line)["event"] for line in written.splitlines()] == [
        "logstart",
        "report",
        "phase",
    ]
    assert [json.loads(line)["event"] for line in rest.splitlines()] == ["finished"]


@pytest.mark.skipif(sys.platform == "win32", reason="fd:N names a POSIX fd")
def test_open_channel_reads_the_fd_argument() -> None:
    assert open_channel("fd:7") == 7
