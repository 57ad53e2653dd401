"""Parent side of the fork server: the template process and the forks it makes.

The template (:class:`ForkTemplate`) is a spawned child that configured pytest
and collected every test that may be forked, then waits for one command per
group on its stdin.  Each command makes it hand a ready fork the group's spec;
the fork reports like a spawned child, on a FIFO of its own
(:class:`ForkedHandle`).  The template's own events (collected; spare: a
fork stands ready; forked; fork_exited) are passed here by the pool.  The
template side is :mod:`pytest_isolated.child.forkserver`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time

from pytest_isolated.parent.events import DRAIN_SECONDS, Event, Exited, Inbox, Message
from pytest_isolated.parent.handle import ChildHandle
from pytest_isolated.parent.spawned import SpawnedHandle
from pytest_isolated.parent.tee import OutputTee
from pytest_isolated.parent.watchdog import Watchdog
from pytest_isolated.platform.resources import Usage
from pytest_isolated.protocol import (
    EV_COLLECTED,
    EV_FORK_EXITED,
    EV_FORKED,
    EV_SPARE,
    EVENTS_FIFO,
    GO_FIFO,
    STDERR_FIFO,
    STDERR_FILE,
    STDOUT_FIFO,
    STDOUT_FILE,
    ChildSpec,
)

#: The longest the fork template may take to collect.
TEMPLATE_LIMIT = 300.0


def template_limit(limits: list[float | None]) -> float:
    """How long the template may collect: as long as the longest time limit
    of the groups it serves (*limits*), at most :data:`TEMPLATE_LIMIT`."""
    known = (s for s in limits if s is not None)
    return min(TEMPLATE_LIMIT, max(known, default=TEMPLATE_LIMIT))


class ForkedHandle(ChildHandle):
    """A group's child forked from a :class:`ForkTemplate` (POSIX only).

    It reports like a spawned child: events on a FIFO of its own, output in
    its own capture files.  Its pid and exit status come from the template.
    """

    def __init__(
        self,
        inbox: Inbox,
        watchdog: Watchdog,
        template: ForkTemplate,
        env: dict[str, str],
    ) -> None:
        super().__init__(inbox, watchdog, template.capture)
        self.env = env
        self.template = template
        #: Why the fork is gone when the template's death took it along.
        self.lost: str | None = None
        self._exited = threading.Event()
        self._exit_lock = threading.Lock()
        self._exit_sent = False
        self._kill_requested = False
        self.usage: Usage | None = None
        self.events_path = self.workdir / EVENTS_FIFO
        os.mkfifo(self.events_path)
        # The tests' turns.  Opened for reading and writing, which never
        # blocks, so the fork's open for reading does not either.
        os.mkfifo(self.workdir / GO_FIFO)
        self._go = os.open(self.workdir / GO_FIFO, os.O_RDWR | os.O_NONBLOCK)
        # Captured, the fork makes its own capture files (a missing one
        # reads as empty).
        if not self.capture and template.tee:
            # Under -s: the fork's fds 1 and 2.  Opened for reading and
            # writing, which never blocks: the fork may die before it opens
            # them.  So they never end by themselves; they end with the
            # fork's events (EventReader.tees_end_with_events).
            for name, fifo, target in (
                (STDOUT_FILE, STDOUT_FIFO, 1),
                (STDERR_FILE, STDERR_FIFO, 2),
            ):
                os.mkfifo(self.workdir / fifo)
                source = os.open(self.workdir / fifo, os.O_RDWR | os.O_NONBLOCK)
                self.tees.append(OutputTee(name, source, target))
            self.events.tees_end_with_events = True
        self._reader = threading.Thread(
            target=self._open_and_read, name="pytest-isolated-reader", daemon=True
        )
        self._reader.start()

    def _open_and_read(self) -> None:
        # Blocks until the fork opens its end (or close() opens it to give up).
        self.events.read(os.open(self.events_path, os.O_RDONLY))

    def start(self, spec: ChildSpec) -> None:
        """Ask the template to fork; the deadline starts when the fork exists."""
        self.started_at = time.monotonic()
        self._spec = spec
        self.template.fork(self, spec)

    def forked(self, pid: int) -> None:
        """The template reports the fork's pid."""
        self.pid = pid
        if self._kill_requested:
            self.kill()
        else:
            self.arm_deadline(self._spec)

    def exited(self, returncode: int, usage: Usage | None = None) -> None:
        """The template reports the fork's exit.

        ``Exited`` follows the fork's last event: it is sent now if the event
        reader is done, else by the reader when it is (at most a short grace
        later: a grandchild may hold the FIFO open).
        """
        self.returncode = returncode
        self.usage = usage
        self._cancel_deadline()
        self._exited.set()
        if self.events.done.is_set():
            self._send_exit()
        else:
            self._unblock_reader()
            self.watchdog.after(DRAIN_SECONDS, self._send_exit)

    def _events_finished(self) -> None:
        if self._exited.is_set():
            self._send_exit()

    def _send_exit(self) -> None:
        with self._exit_lock:
            if self._exit_sent:
                return
            self._exit_sent = True
        assert self.returncode is not None
        self.inbox.put((self, Exited(self.returncode, self.usage)))

    def _unblock_reader(self) -> None:
        """A fork that died before it opened its FIFO leaves the reader
        waiting in open(): opening the other end releases it."""
        with contextlib.suppress(OSError):
            os.close(os.open(self.events_path, os.O_WRONLY | os.O_NONBLOCK))

    def alive(self) -> bool:
        return not self._exited.is_set()

    def kill(self) -> None:
        self.killed = True
        if self.pid is None:
            self._kill_requested = True
            return
        self._kill_tree()  # the template, their subreaper, reaps them
        with contextlib.suppress(OSError):
            os.killpg(self.pid, signal.SIGKILL)

    def reap_group(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)

    def reaper(self) -> int | None:
        return self.template.child.pid

    def _send_go(self, line: bytes) -> None:
        with contextlib.suppress(OSError):  # gone, or never read: it is done
            os.write(self._go, line)

    def close(self) -> None:
        self._cancel_deadline()
        self.reap_group()
        self._unblock_reader()
        with contextlib.suppress(OSError):
            os.close(self._go)
        shutil.rmtree(self.workdir, ignore_errors=True)


class ForkTemplate:
    """A spawned child that collected the tests to fork and forks on demand."""

    def __init__(self, child: SpawnedHandle, spec: ChildSpec) -> None:
        self.child = child
        self.capture = child.capture
        self.tee = bool(child.tees)
        self.ready = False
        #: Why the template cannot fork (dead, unsafe), once it cannot.
        self.refusal: str | None = None
        #: Whether a fork stands ready for the next command (None: not known yet).
        self.fork_ready: bool | None = None
        self.collected: set[str] = set()
        self.by_workdir: dict[str, ForkedHandle] = {}
        self.by_pid: dict[int, ForkedHandle] = {}
        self._nodeids = spec.nodeids
        #: The deadline of its collection, in seconds.
        self.limit = spec.timeout or 0.0
        child.start(spec)  # its deadline bounds the collection
        assert child.proc.stdin is not None
        self.stdin = child.proc.stdin

    @property
    def settled(self) -> bool:
        """Whether the template has said if it can fork the next group."""
        return self.refusal is not None or (self.ready and self.fork_ready is not None)

    def fork(self, forked: ForkedHandle, spec: ChildSpec) -> None:
        self.by_workdir[str(forked.workdir)] = forked
        self.fork_ready = None  # the template makes the next one and says so
        try:
            self.stdin.write(spec.to_json())
            self.stdin.flush()
        except OSError:  # the template died: its exit is on its way
            pass

    def handle(self, message: Message) -> None:
        """Take one of the template's own messages."""
        if isinstance(message, Event):
            fields = message.fields
            if message.name == EV_COLLECTED:
                if "collected" in fields:  # started before the collection ended
                    self.collected = set(fields["collected"])
                else:
                    missing = set(fields["missing"])
                    self.collected = {n for n in self._nodeids if n not in missing}
                self.ready = True
                self.child.disarm()  # collected in time: it may live on
            elif message.name == EV_SPARE:
                self.fork_ready = bool(fields["ok"])
                if not self.fork_ready and self.refusal is None:
                    self.refusal = str(fields["reason"])
            elif message.name == EV_FORKED:
                forked = self.by_workdir.pop(fields["workdir"], None)
                if forked is not None and fields["pid"] < 0:
                    forked.lost = f"the fork template could not fork: {self.refusal}"
                    forked.exited(-signal.SIGKILL)
                elif forked is not None:
                    self.by_pid[fields["pid"]] = forked
                    forked.forked(fields["pid"])
            elif message.name == EV_FORK_EXITED:
                forked = self.by_pid.pop(fields["pid"], None)
                if forked is not None:
                    usage = Usage.from_wire(fields.get("usage"))
                    forked.exited(fields["returncode"], usage)
        elif isinstance(message, Exited):
            self._died(message.returncode)

    def _died(self, returncode: int) -> None:
        if self.child.timed_out and not self.ready:
            self.refusal = (
                f"the fork template did not finish collecting within {self.limit:g}s"
            )
        elif self.refusal is None or self.ready:
            how = (
                f"was killed by signal {-returncode}"
                if returncode < 0
                else f"exited with status {returncode}"
            )
            self.refusal = f"the fork template {how}"
        for forked in [*self.by_workdir.values(), *self.by_pid.values()]:
            forked.lost = f"{self.refusal} while this group ran"
            forked.kill()
            forked.exited(-signal.SIGKILL)
        self.by_workdir.clear()
        self.by_pid.clear()

    def can_run(self, nodeids: list[str]) -> bool:
        return (
            self.refusal is None
            and bool(self.fork_ready)
            and all(n in self.collected for n in nodeids)
        )

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.stdin.close()
