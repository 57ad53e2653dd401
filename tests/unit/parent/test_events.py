"""Unit tests of events.EventReader: a child's event lines, decoded in order
onto the inbox; what is not an event is named, never lost silently."""

from __future__ import annotations

import os
import queue
from typing import cast

from pytest_isolated.parent.events import Event, EventReader, Garbled, Inbox, Message
from pytest_isolated.parent.handle import ChildHandle
from pytest_isolated.protocol import encode_event

HANDLE = cast(ChildHandle, object())


def read_all(data: bytes) -> list[Message]:
    """What the reader puts on the inbox for a pipe that holds *data*."""
    inbox: Inbox = queue.Queue()
    finished: list[bool] = []
    reader = EventReader(HANDLE, inbox, lambda: finished.append(True))
    read_end, write_end = os.pipe()
    os.write(write_end, data)
    os.close(write_end)
    reader.read(read_end)
    assert reader.done.is_set()
    assert finished == [True]
    messages = []
    while not inbox.empty():
        handle, message = inbox.get_nowait()
        assert handle is HANDLE
        messages.append(message)
    return messages


def test_each_line_is_one_event_in_order() -> None:
    data = encode_event("started", pid=1) + encode_event("logstart", nodeid="t::a")
    messages = read_all(data)
    assert [(m.name, m.fields) for m in messages if isinstance(m, Event)] == [
        ("started", {"pid": 1}),
        ("logstart", {"nodeid": "t::a"}),
    ]


def test_a_torn_last_line_and_stray_output_are_garbled() -> None:
    data = b"not json\n\n" + encode_event("started", pid=1) + b'{"v": 2, "ev'
    messages = read_all(data)
    assert isinstance(messages[0], Garbled)
    assert messages[0].line == b"not json"
    assert isinstance(messages[1], Event)
    assert isinstance(messages[2], Garbled)
    assert messages[2].problem == "torn last event"
    assert len(messages) == 3


def test_started_tells_that_the_child_can_take_the_dump_signal() -> None:
    """Only a child that said it started has its stack-dump handler set."""

    def started_after(data: bytes) -> bool:
        reader = EventReader(HANDLE, queue.Queue())
        read, write = os.pipe()
        os.write(write, data)
        os.close(write)
        reader.read(read)
        return reader.started.is_set()

    assert not started_after(encode_event("spare"))
    assert started_after(encode_event("spare") + encode_event("started", pid=1))
