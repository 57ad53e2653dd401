"""Parent side: the parent's handle on one child, however it started.

What every kind of child has: a work folder, an event stream read into the
session's inbox (:mod:`pytest_isolated.parent.events`), a deadline kept by
the session's :class:`~pytest_isolated.parent.watchdog.Watchdog`, and the
processes it started, found and killed with it.  How the process starts, is
killed and ends is each kind's own: a spawned interpreter
(:mod:`pytest_isolated.parent.spawned`) or a fork of the template
(:mod:`pytest_isolated.parent.forks`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from pytest_isolated.parent.events import EventReader, Inbox
from pytest_isolated.parent.tee import OutputTee
from pytest_isolated.parent.watchdog import Watchdog, never
from pytest_isolated.platform import native, tree
from pytest_isolated.protocol import ChildSpec, encode_go, read_tail


class ChildHandle:
    """The parent's handle on one child process.

    Subclasses say how the process starts, is killed and ends.
    """

    pid: int | None = None

    def __init__(self, inbox: Inbox, watchdog: Watchdog, capture: bool) -> None:
        self.workdir = make_workdir()
        self.capture = capture
        self.inbox = inbox
        self.watchdog = watchdog
        self.spawned_at = time.monotonic()
        self.started_at: float | None = None
        self.returncode: int | None = None
        self.timed_out = False
        #: The parent killed it (a deadline, a broken stream, the session's end).
        self.killed = False
        self._cancel_deadline: Callable[[], None] = never
        #: The spec whose deadline is kept; the seconds the child waited for
        #: its tests' turns, and since when it waits (None: it runs).
        self._deadline_spec: ChildSpec | None = None
        self._waited = 0.0
        self._waiting_since: float | None = None
        #: The seconds it waited for its first turn (forked ahead of it), and
        #: whether that turn came.
        self._waited_ahead = 0.0
        self._granted = False
        self.events = EventReader(self, inbox, self._events_finished)
        #: Marks the child and every process it starts (``tree.COOKIE``).
        self.cookie = self.workdir.name
        #: Processes of its tree that were still running, killed.
        self.leaked: list[tree.Leaked] = []
        #: The native stacks at the deadline, or why there are none.
        self.native_stack: str | None = None
        #: time.time() of the deadline, once it passed.
        self.expired_at: float | None = None

    @property
    def tees(self) -> list[OutputTee]:
        """Under ``-s`` (POSIX): the child's stdout and stderr, passed on."""
        return self.events.tees

    def _events_finished(self) -> None:
        """Every event the child wrote is on the inbox."""

    # -- deadlines -------------------------------------------------------------

    def arm_deadline(self, spec: ChildSpec) -> None:
        """Ask for the stack dump shortly before the deadline, then kill."""
        self._deadline_spec = spec
        if spec.timeout is None or self._waiting_since is not None:
            return  # none, or it stands still until the child's turn
        ran = time.monotonic() - (self.started_at or 0.0) - self._waited
        left = spec.timeout - ran
        cancel_dump = self.watchdog.after(max(left - spec.dump_margin, 0), self._dump)
        cancel_kill = self.watchdog.after(max(left, 0), self._expire)

        def cancel() -> None:
            cancel_dump()
            cancel_kill()

        self._cancel_deadline = cancel

    def disarm(self) -> None:
        """Cancel the deadline (the child may live on, or is gone)."""
        self._cancel_deadline()

    # -- turns -----------------------------------------------------------------

    def waits(self) -> None:
        """The child ran every test it was let run and waits for the next
        one's turn: the group's time limit stands still meanwhile."""
        if self._waiting_since is None and self.returncode is None:
            self._waiting_since = time.monotonic()
            self._cancel_deadline()

    def grant(self, count: int) -> None:
        """Let the child run the first *count* tests of its spec."""
        if self._waiting_since is not None:
            waited = time.monotonic() - self._waiting_since
            self._waited += waited
            if not self._granted:
                self._waited_ahead += waited
            self._waiting_since = None
            if self._deadline_spec is not None and self.returncode is None:
                self.arm_deadline(self._deadline_spec)
        self._granted = True
        self._send_go(encode_go(count))

    def _send_go(self, line: bytes) -> None:
        raise NotImplementedError

    def _dump(self) -> None:
        """Make the child write every thread's stack (POSIX: SIGUSR1, which
        faulthandler handles in the child; elsewhere its own timer does)."""
        usr1 = getattr(signal, "SIGUSR1", None)
        if usr1 is None or not self.events.started.is_set():
            return  # not started yet: the deadline finds no test to show
        if self.pid is not None and self.returncode is None:
            with contextlib.suppress(OSError):
                os.kill(self.pid, usr1)

    def _expire(self) -> None:
        if self.returncode is None:
            self.timed_out = True
            self.expired_at = time.time()
            # A debugger may take seconds: the watchdog's other deadlines go on.
            threading.Thread(
                target=self._expire_now, name="pytest-isolated-expire", daemon=True
            ).start()

    def _expire_now(self) -> None:
        if self.pid is not None and self.returncode is None:
            self.native_stack = native.backtrace(self.pid)
        self.kill()

    # -- the processes it started ----------------------------------------------

    def _kill_tree(self) -> None:
        """Kill what the living child started (all of it: the child is a
        subreaper, its tree holds every one), before the child itself.  A
        pre-started child that never got its group ran nothing of a test's."""
        if self.pid is not None and self.returncode is None and self.started_at:
            self.leaked.extend(tree.kill_tree(self.pid))

    def sweep(self) -> None:
        """After an unexpected exit: kill what the child left to its reaper."""
        reaper = self.reaper()
        if self.pid is None or reaper is None:
            return
        found = tree.adopted_orphans(reaper, self.pid, self.cookie)
        killed = {item.pid: item for item in self.leaked}
        tree.kill_procs(found, killed)
        self.leaked = list(killed.values())

    def leaked_section(self) -> tuple[str, str] | None:
        """The report section naming the processes killed with the child."""
        if not self.leaked:
            return None
        return tree.SECTION, tree.describe(self.leaked, "when the subprocess ended")

    # -- what it left ----------------------------------------------------------

    def read_output(self, name: str, limit: int) -> str:
        """The tail (at most *limit* bytes) of the child's stdout or stderr file."""
        return read_tail(self.workdir / name, limit)

    @property
    def seconds(self) -> float:
        """How long the child has had its group (its waits for turns too, but
        not for its first: made ahead, it had nothing to run yet)."""
        now = time.monotonic()
        ahead = self._waited_ahead
        if not self._granted and self._waiting_since is not None:
            ahead += now - self._waiting_since
        return now - (self.started_at or self.spawned_at) - ahead

    # -- the process: each kind of child says how ------------------------------

    def start(self, spec: ChildSpec) -> None:
        raise NotImplementedError

    def alive(self) -> bool:
        raise NotImplementedError

    def kill(self) -> None:
        """Kill the child and everything it started."""
        raise NotImplementedError

    def reap_group(self) -> None:
        """After the child exited: kill what it left running in its session."""
        raise NotImplementedError

    def reaper(self) -> int | None:
        """The process that adopts what the child leaves (its subreaper)."""
        raise NotImplementedError

    def close(self) -> None:
        """After the exit: end what the child left running, remove its files."""
        raise NotImplementedError


def make_workdir() -> Path:
    """A private directory for one child: dumps, capture files, its cache."""
    return Path(tempfile.mkdtemp(prefix="pytest-isolated-"))
