"""Child side: where a dying or hung child writes every thread's stack.

A crash (segfault, abort) makes faulthandler write the crash file; the parent
reads it when the child is gone.  Shortly before a group's deadline the
parent sends ``SIGUSR1``, on which faulthandler writes the timeout file; the
parent kills the child right after.  The dump is thus independent of
faulthandler's single timer, which pytest's own ``faulthandler_timeout``
uses and cancels after every failed phase.  Where ``SIGUSR1`` does not exist
(Windows), the timer is used, re-armed at every phase.

Imports only :mod:`pytest_isolated.protocol`.
"""

from __future__ import annotations

import contextlib
import faulthandler
import signal
import sys
import time
from pathlib import Path
from typing import IO

from pytest_isolated.protocol import CRASH_FILE, TIMEOUT_FILE

#: Whether the parent triggers the timeout dump with a signal.
BY_SIGNAL = hasattr(signal, "SIGUSR1") and sys.platform != "win32"


class Dumps:
    """The crash and timeout files of one child's work folder."""

    def __init__(self, workdir: Path, timeout: float | None, margin: float) -> None:
        self.crash: IO[str] | None = None
        self.timeout_file: IO[str] | None = None
        self.open(workdir, timeout, margin)

    def open(self, workdir: Path, timeout: float | None, margin: float) -> None:
        """Point the dumps at *workdir* (a fork re-points the template's)."""
        self.close()
        self.started = time.monotonic()
        self.timeout, self.margin = timeout, margin
        self.crash = open(workdir / CRASH_FILE, "w")  # noqa: SIM115 - see close()
        self.enable()
        if timeout is not None:
            self.timeout_file = open(workdir / TIMEOUT_FILE, "w")  # noqa: SIM115
            if BY_SIGNAL:
                faulthandler.register(
                    signal.SIGUSR1, file=self.timeout_file, all_threads=True
                )
            self.arm()

    def enable(self) -> None:
        """(Re-)point faulthandler's crash dump at the crash file: pytest's
        faulthandler plugin points it at stderr when it configures."""
        if self.crash is not None:
            faulthandler.enable(file=self.crash, all_threads=True)

    def on_cpu_limit(self) -> None:
        """Past the CPU limit (``SIGXCPU``): write every thread's stack to the
        crash file, then die of the signal as without a handler."""
        xcpu = getattr(signal, "SIGXCPU", None)
        if xcpu is not None and self.crash is not None:
            faulthandler.register(xcpu, file=self.crash, all_threads=True, chain=True)

    def arm(self) -> None:
        """Without the signal: let faulthandler's timer dump before the deadline."""
        if BY_SIGNAL or self.timeout is None or self.timeout_file is None:
            return
        left = self.timeout - self.margin - (time.monotonic() - self.started)
        faulthandler.dump_traceback_later(
            max(left, 0.001), file=self.timeout_file, exit=False
        )

    def hold(self) -> None:
        """The child waits for its next test's turn: no timer may run out."""
        if not BY_SIGNAL and self.timeout_file is not None:
            faulthandler.cancel_dump_traceback_later()

    def waited(self, seconds: float) -> None:
        """The child waited *seconds* for its turn, which the group's time
        limit does not count (the parent's deadline stood still too)."""
        self.started += seconds

    def close(self) -> None:
        """Stop dumping into these files and close them."""
        if self.timeout_file is not None:
            if BY_SIGNAL:
                with contextlib.suppress(Exception):
                    faulthandler.unregister(signal.SIGUSR1)
            else:
                faulthandler.cancel_dump_traceback_later()
            self.timeout_file.close()
            self.timeout_file = None
        if self.crash is not None:
            self.crash.close()
            self.crash = None
