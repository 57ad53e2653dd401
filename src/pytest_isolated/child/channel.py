"""Child side: the write end of the event stream to the parent.

Imports only :mod:`pytest_isolated.protocol`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Any

from pytest_isolated.protocol import encode_event


class Channel:
    """The write end of the event pipe (or, in a fork, of its FIFO).

    Only the process that opened it writes: a test that calls ``os.fork()``
    and lets its child return into pytest must not send that child's events
    to the parent, who would take them for the test's own.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.owner = os.getpid()
        self.lock = threading.Lock()
        self._held = b""

    def reopen(self, fd: int) -> None:
        """In a fork: write to *fd* instead (the old end is closed here)."""
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = fd
        self.owner = os.getpid()
        self.lock = threading.Lock()  # a lock held by another thread stays held
        self._held = b""

    @property
    def ours(self) -> bool:
        """Whether this process is the one the parent listens to."""
        return os.getpid() == self.owner

    def hold(self, event: str, **fields: Any) -> None:
        """Send *event* with the next one, in one write (one wake-up of the
        parent): only for an event that nothing of the user's can follow
        before the next is sent (a crash would lose it)."""
        if self.ours:
            data = encode_event(event, **fields)
            with self.lock:  # a plugin's timer thread may send meanwhile
                self._held += data

    def send(self, event: str, **fields: Any) -> None:
        if not self.ours:
            return
        data = encode_event(event, **fields)
        with self.lock:
            data, self._held = self._held + data, b""
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]


def open_channel(arg: str) -> int:
    """The fd named by the bootstrap's first argument (``fd:N``, ``handle:H``)."""
    kind, _, value = arg.partition(":")
    if kind == "handle" and sys.platform == "win32":  # an inherited pipe handle
        import msvcrt

        return msvcrt.open_osfhandle(int(value), os.O_WRONLY)
    return int(value)
