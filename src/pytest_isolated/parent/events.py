"""Parent side: a child's event stream, read into the session's inbox.

Every child writes its events, one line of JSON each, on a pipe (a fork: a
FIFO) of its own.  A thread per child reads them and puts each, decoded, on
the one inbox all of a session's children share, as ``(handle, message)``;
under ``-s`` the same thread passes the child's output on to the terminal
(:mod:`pytest_isolated.parent.tee`), so that all the child wrote before it
ended has passed before the parent hears of its end.
"""

from __future__ import annotations

import contextlib
import os
import queue
import selectors
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pytest_isolated.platform.resources import Usage
from pytest_isolated.protocol import EV_STARTED, ProtocolError, decode_event

if TYPE_CHECKING:
    from pytest_isolated.parent.handle import ChildHandle
    from pytest_isolated.parent.tee import OutputTee

#: Longest event line accepted; a longer one is treated as corrupt.
MAX_LINE = 512 * 1024 * 1024

#: How long, at most, the events a child wrote before its exit are waited for
#: (a grandchild may hold the pipe open after the child is gone).
DRAIN_SECONDS = 2.0


@dataclass(frozen=True)
class Event:
    """One event from the child, in arrival order."""

    name: str
    fields: dict[str, Any]
    at: float  # time.time() of arrival


@dataclass(frozen=True)
class Exited:
    """The child process is gone; all events it wrote before are queued."""

    returncode: int
    #: What it used over its whole life, where the platform says.
    usage: Usage | None = None


@dataclass(frozen=True)
class Garbled:
    """A line that is not a valid event (a torn last write, stray output)."""

    line: bytes
    problem: str


Message = Event | Exited | Garbled
Inbox = queue.Queue[tuple["ChildHandle", Message]]


class EventReader:
    """Reads one child's events (and, under ``-s``, its output) until the
    stream ends; then sets :attr:`done` and calls *finished*."""

    def __init__(
        self,
        handle: ChildHandle,
        inbox: Inbox,
        finished: Callable[[], None] = lambda: None,
    ) -> None:
        self.handle = handle
        self.inbox = inbox
        self.finished = finished
        #: Every event the child wrote is on the inbox (or never will be).
        self.done = threading.Event()
        #: The child said it started: its handler of the signal that asks for
        #: the stacks before a deadline is set (before, the signal kills it).
        self.started = threading.Event()
        #: Under ``-s`` (POSIX): the child's stdout and stderr, read along
        #: with its events.
        self.tees: list[OutputTee] = []
        #: Whether the tees' pipes end with the event stream (a fork's FIFOs,
        #: which this process holds open for writing too) or at their EOF.
        self.tees_end_with_events = False

    def read(self, fd: int) -> None:
        """Read *fd* to its end (the thread's target); closes it."""
        if self.tees:
            self._read_with_tees(fd)
            return
        buffer = bytearray()
        try:
            while True:
                try:
                    chunk = os.read(fd, 1 << 20)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                buffer = self._split(buffer, chunk)
            if buffer:
                self._decode(bytes(buffer), torn=True)
        finally:
            os.close(fd)
            self._finish()

    def _finish(self) -> None:
        self.done.set()
        self.finished()

    def _split(self, buffer: bytearray, chunk: bytes) -> bytearray:
        """Decode every complete line of *buffer* + *chunk*; return the rest."""
        # Only the new chunk is searched: a huge event (a report with
        # megabytes of captured output) costs linear time, not quadratic.
        end = chunk.rfind(b"\n")
        if end < 0:
            buffer += chunk
        else:
            buffer += chunk[: end + 1]
            for line in bytes(buffer).split(b"\n")[:-1]:
                self._decode(line)
            buffer = bytearray(chunk[end + 1 :])
        if len(buffer) > MAX_LINE:
            self._put(Garbled(bytes(buffer[:200]), "line too long"))
            buffer = bytearray()
        return buffer

    def _read_with_tees(self, fd: int) -> None:
        """The events and, under ``-s``, the child's outputs, in one thread."""
        tees = {tee.source: tee for tee in self.tees}
        selector = selectors.DefaultSelector()
        for source in (fd, *tees):
            os.set_blocking(source, False)
            selector.register(source, selectors.EVENT_READ)
        buffer = bytearray()
        events_open = True

        def close(source: int) -> None:
            selector.unregister(source)
            tees.pop(source).end()
            with contextlib.suppress(OSError):
                os.close(source)

        try:
            while events_open or tees:
                ready = {key.fd for key, _ in selector.select()}
                for source in ready & set(tees):
                    if not tees[source].pass_on():
                        close(source)
                if events_open and fd in ready:
                    buffer, events_open = self._read_events(fd, buffer)
                if events_open or self.done.is_set():
                    continue
                # The child is gone (or closed its events): what it wrote
                # before is in the pipes by now.
                selector.unregister(fd)
                if buffer:
                    self._decode(bytes(buffer), torn=True)
                for source in list(tees):
                    if not tees[source].pass_on(None) or self.tees_end_with_events:
                        close(source)
                self._finish()
        finally:
            selector.close()
            for source in (fd, *tees):
                with contextlib.suppress(OSError):
                    os.close(source)
            if not self.done.is_set():
                self._finish()

    def _read_events(self, fd: int, buffer: bytearray) -> tuple[bytearray, bool]:
        """Every event the pipe holds now; False once it is closed."""
        while True:
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:
                return buffer, True
            except OSError:
                chunk = b""
            if not chunk:
                return buffer, False
            buffer = self._split(buffer, chunk)

    def _decode(self, line: bytes, torn: bool = False) -> None:
        if not line.strip():
            return
        try:
            name, fields = decode_event(line)
        except ProtocolError as exc:
            problem = "torn last event" if torn else str(exc)
            self._put(Garbled(line[:200], problem))
        else:
            if name == EV_STARTED:
                self.started.set()
            self._put(Event(name, fields, time.time()))

    def _put(self, message: Message) -> None:
        self.inbox.put((self.handle, message))
