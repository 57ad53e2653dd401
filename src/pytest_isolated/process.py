"""Start a child interpreter, stream its events, and kill its process tree.

The child is a plain ``subprocess`` running this interpreter (never
``multiprocessing``, never ``fork``), in a new session (POSIX) or process group
(Windows) so that its whole tree can be killed and a Ctrl-C in the terminal
reaches only pytest.  Events arrive on a pipe of their own, read by a thread
into a queue; a second thread waits for the exit.  The child's stdout and
stderr are files (or the terminal under ``-s``), so a child that floods its
output, closes its stdout or leaves a grandchild holding the pipe can neither
block nor bloat the parent.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pytest_isolated import _compat
from pytest_isolated.protocol import (
    EV_COLLECTED,
    EV_FORK_EXITED,
    EV_FORKED,
    EVENTS_FIFO,
    STDERR_FILE,
    STDOUT_FILE,
    ChildSpec,
    ProtocolError,
    decode_event,
    read_tail,
)

#: Longest event line accepted; a longer one is treated as corrupt.
MAX_LINE = 512 * 1024 * 1024


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


@dataclass(frozen=True)
class Garbled:
    """A line that is not a valid event (a torn last write, stray output)."""

    line: bytes
    problem: str


Message = Event | Exited | Garbled


class Watchdog:
    """One thread for all the session's deadlines: calls each action at its time.

    A timer thread per child would cost a thread start per group, which is a
    noticeable share of a forked group's few milliseconds.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, list[Callable[[], None] | None]]] = []
        self._cond = threading.Condition()
        self._count = itertools.count()
        self._thread: threading.Thread | None = None

    def at(self, when: float, action: Callable[[], None]) -> Callable[[], None]:
        """Call *action* at time.time() *when*; returns a function that cancels."""
        slot: list[Callable[[], None] | None] = [action]
        with self._cond:
            heapq.heappush(self._heap, (when, next(self._count), slot))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="pytest-isolated-watchdog", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        return lambda: slot.__setitem__(0, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._heap and self._heap[0][2][0] is None:
                    heapq.heappop(self._heap)  # cancelled
                if not self._heap:
                    self._cond.wait()
                    continue
                delay = self._heap[0][0] - time.time()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                _, _, slot = heapq.heappop(self._heap)
            action = slot[0]
            if action is not None:
                action()


WATCHDOG = Watchdog()


def _never() -> None:
    """The cancel function of a deadline that was never set."""


class Child:
    """One child interpreter: started at once, given its group later.

    The interpreter starts and imports pytest as soon as the object is made;
    it then waits for its :class:`ChildSpec` on stdin (:meth:`start`), so it can
    be started ahead of time.  Everything it reports is put on *inbox*, shared
    by all children, as ``(child, message)``.
    """

    def __init__(
        self,
        inbox: queue.Queue[tuple[Child, Message]],
        capture: bool,
        env: dict[str, str],
        path0: str,
    ) -> None:
        self._init_state(inbox, capture, env)
        workdir = self.workdir
        outputs: list[IO[bytes]] = []
        if capture:
            outputs = [
                open(workdir / name, "ab")  # noqa: SIM115 - closed below
                for name in (STDOUT_FILE, STDERR_FILE)
            ]
        read_fd, write_fd = os.pipe()
        popen_kwargs: dict[str, Any]
        if sys.platform == "win32":
            import msvcrt

            handle = msvcrt.get_osfhandle(write_fd)
            os.set_handle_inheritable(handle, True)
            startupinfo = subprocess.STARTUPINFO()
            startupinfo.lpAttributeList = {"handle_list": [handle]}
            popen_kwargs = {
                "startupinfo": startupinfo,
                "creationflags": subprocess.CREATE_NEW_PROCESS_GROUP,
            }
            channel = f"handle:{handle}"
        else:
            popen_kwargs = {"pass_fds": (write_fd,), "start_new_session": True}
            channel = f"fd:{write_fd}"
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    *_compat.interpreter_flags(),
                    "-c",
                    _bootstrap(path0),
                    channel,
                    str(workdir),
                ],
                stdin=subprocess.PIPE,
                stdout=outputs[0] if outputs else None,
                stderr=outputs[1] if outputs else None,
                env=env,
                **popen_kwargs,
            )
        finally:
            os.close(write_fd)
            for f in outputs:
                f.close()
        self._reader = threading.Thread(
            target=self._read,
            args=(read_fd,),
            name="pytest-isolated-reader",
            daemon=True,
        )
        self._reader.start()
        self._waiter = threading.Thread(
            target=self._wait, name="pytest-isolated-waiter", daemon=True
        )
        self._waiter.start()

    def _init_state(
        self,
        inbox: queue.Queue[tuple[Child, Message]],
        capture: bool,
        env: dict[str, str],
    ) -> None:
        """What every kind of child keeps: its folder, its outbox, its state."""
        self.workdir = make_workdir()
        self.capture = capture
        self.inbox = inbox
        self.env = env
        self.spawned_at = time.time()
        self.started_at: float | None = None
        self.returncode: int | None = None
        self.timed_out = False
        self._cancel_deadline: Callable[[], None] = _never
        self._reader_done = threading.Event()

    def start(self, spec: ChildSpec) -> None:
        """Give the child its work (one line on stdin); arm the deadline."""
        self.started_at = time.time()
        assert self.proc.stdin is not None
        # stdin stays open: the child takes its end closing for the parent's death.
        with contextlib.suppress(OSError):  # a child that died at start-up
            self.proc.stdin.write(spec.to_json())
            self.proc.stdin.flush()
        if spec.deadline is not None:
            self._cancel_deadline = WATCHDOG.at(spec.deadline, self._expire)

    def _expire(self) -> None:
        if self.returncode is None:
            self.timed_out = True
            self.kill()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait(self, timeout: float) -> bool:
        """Wait up to *timeout* seconds for the exit; whether it happened."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def _read(self, fd: int) -> None:
        buffer = bytearray()
        try:
            while True:
                try:
                    chunk = os.read(fd, 1 << 20)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
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
                    self.inbox.put(
                        (self, Garbled(bytes(buffer[:200]), "line too long"))
                    )
                    buffer = bytearray()
            if buffer:
                self._decode(bytes(buffer), torn=True)
        finally:
            os.close(fd)
            self._reader_finished()

    def _reader_finished(self) -> None:
        self._reader_done.set()

    def _decode(self, line: bytes, torn: bool = False) -> None:
        if not line.strip():
            return
        try:
            name, fields = decode_event(line)
        except ProtocolError as exc:
            problem = "torn last event" if torn else str(exc)
            self.inbox.put((self, Garbled(line[:200], problem)))
        else:
            self.inbox.put((self, Event(name, fields, time.time())))

    def _wait(self) -> None:
        returncode = self.proc.wait()
        # Events written before the exit are in the pipe: let the reader drain
        # it.  A grandchild may hold the pipe open, so do not wait for EOF
        # forever: the reader keeps up with the pipe, a short grace suffices.
        self._reader_done.wait(timeout=2.0)
        self.returncode = returncode
        self._cancel_deadline()
        self.inbox.put((self, Exited(returncode)))

    def kill(self) -> None:
        """Kill the child and everything it started."""
        if sys.platform == "win32":
            # /T takes the whole tree; ask before the child itself is gone.
            subprocess.run(
                ["taskkill", "/F", "/T", "/PID", str(self.proc.pid)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            with contextlib.suppress(OSError):
                self.proc.kill()
            return
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.proc.kill()

    def reap_group(self) -> None:
        """After the child exited: kill grandchildren left in its session.

        The session id stays reserved while any member lives, so the id cannot
        have been reused by an unrelated process.
        """
        if sys.platform != "win32":
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)

    def read_output(self, name: str, limit: int) -> str:
        """The tail (at most *limit* bytes) of the child's stdout or stderr file."""
        return read_tail(self.workdir / name, limit)

    def close(self) -> None:
        """After the exit: end what the child left running, remove its files."""
        self._cancel_deadline()
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        self._waiter.join(timeout=5.0)
        self.reap_group()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _bootstrap(path0: str) -> str:
    """The child's ``-c`` program.

    It gives the child the parent's ``sys.path[0]`` before anything else is
    imported: ``python -m pytest`` has the working directory there, the
    ``pytest`` script its own directory, and imports must resolve alike.
    """
    package_parent = str(Path(__file__).resolve().parent.parent)
    return (
        f"import sys; sys.path[0] = {path0!r}; sys.path.append({package_parent!r}); "
        "from pytest_isolated.child import main; sys.exit(main())"
    )


def make_workdir() -> Path:
    """A private directory for one child: dumps, capture files, its cache."""
    return Path(tempfile.mkdtemp(prefix="pytest-isolated-"))


class ForkedChild(Child):
    """A group's child forked from a :class:`ForkTemplate` (POSIX only).

    It reports like a spawned child: events on a FIFO of its own, output in
    its own capture files.  Its pid and exit status come from the template.
    """

    def __init__(
        self,
        inbox: queue.Queue[tuple[Child, Message]],
        template: ForkTemplate,
        env: dict[str, str],
    ) -> None:
        self._init_state(inbox, template.capture, env)
        self.template = template
        self._exited = threading.Event()
        self._exit_lock = threading.Lock()
        self._exit_sent = False
        self._kill_requested = False
        self.fork_pid: int | None = None
        self.events_path = self.workdir / EVENTS_FIFO
        os.mkfifo(self.events_path)
        if self.capture:
            for name in (STDOUT_FILE, STDERR_FILE):
                (self.workdir / name).touch()
        self._reader = threading.Thread(
            target=self._open_and_read, name="pytest-isolated-reader", daemon=True
        )
        self._reader.start()

    def _open_and_read(self) -> None:
        # Blocks until the fork opens its end (or close() opens it to give up).
        self._read(os.open(self.events_path, os.O_RDONLY))

    def start(self, spec: ChildSpec) -> None:
        """Ask the template to fork; the deadline starts when the fork exists."""
        self.started_at = time.time()
        self._deadline = spec.deadline
        self.template.fork(self, spec)

    def forked(self, pid: int) -> None:
        """The template reports the fork's pid."""
        self.fork_pid = pid
        if self._kill_requested:
            self.kill()
        elif self._deadline is not None:
            self._cancel_deadline = WATCHDOG.at(self._deadline, self._expire)

    def exited(self, returncode: int) -> None:
        """The template reports the fork's exit.

        ``Exited`` follows the fork's last event: it is sent now if the event
        reader is done, else by the reader when it is (at most two seconds
        later: a grandchild may hold the FIFO open).
        """
        self.returncode = returncode
        self._cancel_deadline()
        self._exited.set()
        if self._reader_done.is_set():
            self._send_exit()
        else:
            self._unblock_reader()
            WATCHDOG.at(time.time() + 2.0, self._send_exit)

    def _reader_finished(self) -> None:
        self._reader_done.set()
        if self._exited.is_set():
            self._send_exit()

    def _send_exit(self) -> None:
        with self._exit_lock:
            if self._exit_sent:
                return
            self._exit_sent = True
        assert self.returncode is not None
        self.inbox.put((self, Exited(self.returncode)))

    def _unblock_reader(self) -> None:
        """A fork that died before it opened its FIFO leaves the reader
        waiting in open(): opening the other end releases it."""
        with contextlib.suppress(OSError):
            os.close(os.open(self.events_path, os.O_WRONLY | os.O_NONBLOCK))

    def alive(self) -> bool:
        return not self._exited.is_set()

    def wait(self, timeout: float) -> bool:
        return self._exited.wait(timeout)

    def kill(self) -> None:
        if self.fork_pid is None:
            self._kill_requested = True
            return
        with contextlib.suppress(OSError):
            os.killpg(self.fork_pid, signal.SIGKILL)

    def reap_group(self) -> None:
        if self.fork_pid is not None:
            with contextlib.suppress(OSError):
                os.killpg(self.fork_pid, signal.SIGKILL)

    def close(self) -> None:
        self._cancel_deadline()
        self.reap_group()
        self._unblock_reader()
        shutil.rmtree(self.workdir, ignore_errors=True)


class ForkTemplate:
    """A spawned child that collected every isolated test and forks on demand.

    Its own events (``collected``, ``forked``, ``fork_exited``) reach the
    parent through the common inbox like any child's; the scheduler passes
    them to :meth:`handle`.
    """

    def __init__(self, child: Child, spec: ChildSpec) -> None:
        self.child = child
        self.capture = child.capture
        self.ready = False
        self.dead = False
        self.collected: set[str] = set()
        self.by_workdir: dict[str, ForkedChild] = {}
        self.by_pid: dict[int, ForkedChild] = {}
        self._nodeids = spec.nodeids
        child.started_at = time.time()
        assert child.proc.stdin is not None
        self.stdin = child.proc.stdin
        self.stdin.write(spec.to_json())
        self.stdin.flush()

    def fork(self, forked: ForkedChild, spec: ChildSpec) -> None:
        self.by_workdir[str(forked.workdir)] = forked
        try:
            self.stdin.write(spec.to_json())
            self.stdin.flush()
        except OSError:  # the template died: the scheduler reports it
            forked.exited(-1)

    def handle(self, message: Message) -> None:
        if isinstance(message, Event):
            fields = message.fields
            if message.name == EV_COLLECTED:
                missing = set(fields["missing"])
                self.collected = {n for n in self._nodeids if n not in missing}
                self.ready = True
            elif message.name == EV_FORKED:
                forked = self.by_workdir.pop(fields["workdir"], None)
                if forked is not None:
                    self.by_pid[fields["pid"]] = forked
                    forked.forked(fields["pid"])
            elif message.name == EV_FORK_EXITED:
                forked = self.by_pid.pop(fields["pid"], None)
                if forked is not None:
                    forked.exited(fields["returncode"])
        elif isinstance(message, Exited):
            self.dead = True
            for forked in [*self.by_workdir.values(), *self.by_pid.values()]:
                forked.kill()
                forked.exited(-signal.SIGKILL)
            self.by_workdir.clear()
            self.by_pid.clear()

    def can_run(self, nodeids: list[str]) -> bool:
        return not self.dead and all(n in self.collected for n in nodeids)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.stdin.close()
