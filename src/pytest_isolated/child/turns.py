"""Child side: when the parent lets this child run its group's next test.

A session runs one test at a time, in its run order, wherever each test runs.
Unless groups may run ahead (``--isolated-parallel``), a child runs a test of
its group only when the test's turn comes: the parent writes ``go N`` (the
group's first N tests may run) on the child's stdin, or for a fork on the FIFO
``GO_FIFO`` of its work folder, as each test, or each run of the group's
adjacent tests, comes up.  A test that runs in pytest's own process between
two of the group's then never runs beside either, and ``-x`` or Ctrl-C stop
the session before a later test of the group has run.

The child reads the parent's lines only while it waits, in its main thread:
no thread of ours runs beside a test.

Imports only :mod:`pytest_isolated.protocol`.
"""

from __future__ import annotations

import os
import time

from pytest_isolated.protocol import decode_go


class Turns:
    """The parent's ``go`` lines on *fd*, as the count of tests that may run."""

    def __init__(self, fd: int, data: bytes = b"") -> None:
        self.fd = fd
        self.granted = 0
        self._ended = False
        self._partial = b""
        self.feed(data)

    def feed(self, data: bytes) -> None:
        """Take what the parent wrote (read from *fd* elsewhere, or before
        this object was made)."""
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            count = decode_go(line)
            if count is not None and count > self.granted:
                self.granted = count

    def wait(self, position: int) -> float | None:
        """Block until the test at *position* (0: the spec's first) may run.

        The seconds it waited, or None if the parent will never say so (its
        end of the pipe closed: it is gone, or stopped the session).
        """
        start = time.monotonic()
        while self.granted <= position:
            if self._ended:
                return None
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                data = b""
            if data:
                self.feed(data)
            else:
                self._ended = True
        return time.monotonic() - start
