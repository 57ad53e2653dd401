"""Parent side, under ``-s``: a child's output passed on to the terminal.

Under ``-s`` (POSIX) a child's stdout and stderr are pipes (a fork's: FIFOs)
that the parent's event reader passes on to its own fds 1 and 2 as they
come, so that they show live as under plain ``-s``.  The tail of what a test
printed in its current phase is kept, for the report of a test whose process
dies: the child cannot keep it, it is what dies.
"""

from __future__ import annotations

import contextlib
import os
import threading

from pytest_isolated.protocol import PHASE_MARK

#: How much of what a test printed in its current phase, per stream, the
#: report of a test whose process died shows (the tail is kept).
TEE_TAIL_BYTES = 64 * 1024


class OutputTee:
    """One of a child's output streams, read from a pipe.

    What comes is written through to this process's own fd at once; the last
    *limit* bytes since the current phase of a test started are kept.  The
    child writes :data:`~pytest_isolated.protocol.PHASE_MARK` into the stream
    as a phase starts, so that each byte is known to belong to the phase it
    was written in; the marks are taken out.
    """

    def __init__(
        self, name: str, source: int, target: int, limit: int = TEE_TAIL_BYTES
    ) -> None:
        self.name = name  # "stdout" or "stderr": the report section's
        self.source = source
        self.target = target
        self.limit = limit
        self._tail = bytearray()
        self._dropped = 0
        #: The end of the last chunk, if it may be the start of a mark.
        self._carry = b""
        self._lock = threading.Lock()

    def feed(self, data: bytes) -> None:
        data, self._carry = self._carry + data, b""
        while (at := data.find(PHASE_MARK)) >= 0:
            self._keep(data[:at])
            with self._lock:  # a phase starts: so does the tail
                self._tail.clear()
                self._dropped = 0
            data = data[at + len(PHASE_MARK) :]
        for size in range(min(len(PHASE_MARK) - 1, len(data)), 0, -1):
            if PHASE_MARK.startswith(data[-size:]):
                data, self._carry = data[:-size], data[-size:]
                break
        self._keep(data)

    def end(self) -> None:
        """The stream ended: what looked like the start of a mark was not."""
        data, self._carry = self._carry, b""
        self._keep(data)

    def _keep(self, data: bytes) -> None:
        if not data:
            return
        _write_all(self.target, data)
        with self._lock:
            self._tail += data
            excess = len(self._tail) - self.limit
            if excess > 0:
                del self._tail[:excess]
                self._dropped += excess

    def text(self) -> str:
        """The kept tail, decoded as pytest decodes captured output."""
        with self._lock:
            data, dropped = bytes(self._tail), self._dropped
        text = data.decode("utf-8", errors="replace")
        if dropped:
            text = f"[{dropped} earlier bytes not shown]\n" + text
        return text

    def pass_on(self, rounds: int | None = 16) -> bool:
        """Pass on what the pipe holds now, at most *rounds* reads of 64 KiB
        (None: all of it; a child that floods its output must not keep its
        events waiting); False at its end."""
        while rounds is None or rounds > 0:
            if rounds is not None:
                rounds -= 1
            try:
                data = os.read(self.source, 1 << 16)
            except BlockingIOError:
                return True
            except OSError:
                data = b""
            if not data:  # the writers are gone
                self.end()
                return False
            self.feed(data)
        return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    with contextlib.suppress(OSError):  # our own stdout closed: nothing to show
        while view:
            view = view[os.write(fd, view) :]
