"""Parent side: start a child interpreter, stream its events, kill its tree.

A spawned child is a plain ``subprocess`` running this interpreter (never
``multiprocessing``), in a new session (POSIX) or process group (Windows) so
that its whole tree can be killed and a Ctrl-C in the terminal reaches only
pytest.  Events arrive on a pipe of their own, read by a thread into the
session's inbox; a second thread waits for the exit.  The child's stdout and
stderr are files, so a child that floods its output, closes its stdout or
leaves a grandchild holding the pipe can neither block nor bloat the parent.
Under ``-s`` (POSIX) they are pipes that the event reader passes on to the
terminal, keeping the tail of the current phase (:class:`OutputTee`).
Deadlines are kept by one :class:`Watchdog`.

Children forked from a template are in :mod:`pytest_isolated.parent.forks`.
Imports :mod:`pytest_isolated.protocol` and :mod:`pytest_isolated._compat`.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import queue
import selectors
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
from pytest_isolated.platform import native, tree, winjob
from pytest_isolated.platform.resources import Usage, usage_of
from pytest_isolated.protocol import (
    PHASE_MARK,
    STDERR_FILE,
    STDOUT_FILE,
    ChildSpec,
    ProtocolError,
    decode_event,
    read_tail,
)

#: Longest event line accepted; a longer one is treated as corrupt.
MAX_LINE = 512 * 1024 * 1024

#: How long, at most, the events a child wrote before its exit are waited for
#: (a grandchild may hold the pipe open after the child is gone).
DRAIN_SECONDS = 2.0

#: Under ``-s``: how much of what a test printed in its current phase, per
#: stream, the report of a test whose process died shows (the tail is kept).
TEE_TAIL_BYTES = 64 * 1024


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
Inbox = queue.Queue[tuple["Child", Message]]


class Watchdog:
    """One thread for all of a session's deadlines: calls each action in time.

    A timer thread per child would cost a thread start per group, a noticeable
    share of a forked group's few milliseconds.  Times are ``time.monotonic()``;
    an action that raises is reported on stderr and the thread goes on.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, list[Callable[[], None] | None]]] = []
        self._cond = threading.Condition()
        self._count = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def stop(self) -> None:
        """End the thread (the session is over); pending actions are dropped."""
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def after(self, delay: float, action: Callable[[], None]) -> Callable[[], None]:
        """Call *action* in *delay* seconds; returns a function that cancels."""
        slot: list[Callable[[], None] | None] = [action]
        with self._cond:
            when = time.monotonic() + delay
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
                if self._stopped:
                    return
                while self._heap and self._heap[0][2][0] is None:
                    heapq.heappop(self._heap)  # cancelled
                if not self._heap:
                    self._cond.wait()
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                _, _, slot = heapq.heappop(self._heap)
            action = slot[0]
            if action is not None:
                try:
                    action()
                except Exception as exc:  # noqa: BLE001 - the thread must live on
                    print(f"pytest-isolated: watchdog action failed: {exc!r}")


def _never() -> None:
    """The cancel function of a deadline that was never set."""


class OutputTee:
    """Under ``-s``: one of a child's output streams, read from a pipe.

    What comes is written through to this process's own fd at once, so that
    it shows live as under plain ``-s``; the last *limit* bytes since the
    current phase of a test started are kept, for the report of a test whose
    process dies (the child cannot keep them: it is what dies).  The child
    writes :data:`~pytest_isolated.protocol.PHASE_MARK` into the stream as a
    phase starts, so that each byte is known to belong to the phase it was
    written in; the marks are taken out.
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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    with contextlib.suppress(OSError):  # our own stdout closed: nothing to show
        while view:
            view = view[os.write(fd, view) :]


def _pass(tee: OutputTee, rounds: int | None = 16) -> bool:
    """Pass on what the tee's pipe holds now, at most *rounds* reads of 64 KiB
    (None: all of it; a child that floods its output must not keep its
    events waiting); False at its end."""
    while rounds is None or rounds > 0:
        if rounds is not None:
            rounds -= 1
        try:
            data = os.read(tee.source, 1 << 16)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:  # the writers are gone
            tee.end()
            return False
        tee.feed(data)
    return True


class Child:
    """What every kind of child has: a work folder, an event stream, a deadline.

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
        self._cancel_deadline: Callable[[], None] = _never
        self._reader_done = threading.Event()
        #: Marks the child and every process it starts (``tree.COOKIE``).
        self.cookie = self.workdir.name
        #: Processes of its tree that were still running, killed.
        self.leaked: list[tree.Leaked] = []
        #: The native stacks at the deadline, or why there are none.
        self.native_stack: str | None = None
        #: time.time() of the deadline, once it passed.
        self.expired_at: float | None = None
        #: Under ``-s`` (POSIX): the child's stdout and stderr, read along
        #: with its events.
        self.tees: list[OutputTee] = []
        #: Whether the tees' pipes end with the event stream (a fork's FIFOs,
        #: which this process holds open for writing too) or at their EOF.
        self.tees_end_with_events = False

    # -- deadlines -------------------------------------------------------------

    def arm_deadline(self, spec: ChildSpec) -> None:
        """Ask for the stack dump shortly before the deadline, then kill."""
        if spec.timeout is None:
            return
        left = spec.timeout - (time.monotonic() - (self.started_at or 0.0))
        cancel_dump = self.watchdog.after(max(left - spec.dump_margin, 0), self._dump)
        cancel_kill = self.watchdog.after(max(left, 0), self._expire)

        def cancel() -> None:
            cancel_dump()
            cancel_kill()

        self._cancel_deadline = cancel

    def disarm(self) -> None:
        """Cancel the deadline (the child may live on, or is gone)."""
        self._cancel_deadline()

    def _dump(self) -> None:
        """Make the child write every thread's stack (POSIX: SIGUSR1, which
        faulthandler handles in the child; elsewhere its own timer does)."""
        usr1 = getattr(signal, "SIGUSR1", None)
        if usr1 is not None and self.pid is not None and self.returncode is None:
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

    # -- the event stream ------------------------------------------------------

    def _read(self, fd: int) -> None:
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
            self._reader_finished()

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
            self.inbox.put((self, Garbled(bytes(buffer[:200]), "line too long")))
            buffer = bytearray()
        return buffer

    def _read_with_tees(self, fd: int) -> None:
        """The events and, under ``-s``, the child's outputs, in one thread,
        so that all the child wrote before it ended has passed before the
        parent hears of its end."""
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
                    if not _pass(tees[source]):
                        close(source)
                if events_open and fd in ready:
                    buffer, events_open = self._read_events(fd, buffer)
                if events_open or self._reader_done.is_set():
                    continue
                # The child is gone (or closed its events): what it wrote
                # before is in the pipes by now.
                selector.unregister(fd)
                if buffer:
                    self._decode(bytes(buffer), torn=True)
                for source in list(tees):
                    if not _pass(tees[source], None) or self.tees_end_with_events:
                        close(source)
                self._reader_finished()
        finally:
            selector.close()
            for source in (fd, *tees):
                with contextlib.suppress(OSError):
                    os.close(source)
            if not self._reader_done.is_set():
                self._reader_finished()

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

    def read_output(self, name: str, limit: int) -> str:
        """The tail (at most *limit* bytes) of the child's stdout or stderr file."""
        return read_tail(self.workdir / name, limit)

    @property
    def seconds(self) -> float:
        """How long the child has had its group."""
        return time.monotonic() - (self.started_at or self.spawned_at)

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


class SpawnedChild(Child):
    """A child interpreter: started at once, given its group later.

    The interpreter starts and imports pytest as soon as the object is made;
    it then waits for its :class:`ChildSpec` on stdin (:meth:`start`), so it can
    be started ahead of time.  Everything it reports is put on *inbox*, shared
    by all children, as ``(child, message)``.  With *tee* (``-s``, POSIX), its
    stdout and stderr are pipes that the event reader passes on
    (:class:`OutputTee`).
    """

    def __init__(
        self,
        inbox: Inbox,
        watchdog: Watchdog,
        capture: bool,
        env: dict[str, str],
        path0: str,
        *,
        tee: bool = False,
    ) -> None:
        super().__init__(inbox, watchdog, capture)
        self.env = env
        workdir = self.workdir
        outputs: list[IO[bytes] | int] = []
        if capture:
            outputs = [
                open(workdir / name, "ab")  # noqa: SIM115 - closed below
                for name in (STDOUT_FILE, STDERR_FILE)
            ]
        elif tee:
            pipes = [os.pipe(), os.pipe()]
            self.tees = [
                OutputTee(name, read_end, target)
                for name, (read_end, _), target in zip(
                    (STDOUT_FILE, STDERR_FILE), pipes, (1, 2), strict=True
                )
            ]
            outputs = [write_end for _, write_end in pipes]
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
                env={**env, tree.COOKIE: self.cookie},
                **popen_kwargs,
            )
        except BaseException:
            for t in self.tees:
                os.close(t.source)
            raise
        finally:
            os.close(write_fd)
            for output in outputs:
                if isinstance(output, int):
                    os.close(output)
                else:
                    output.close()
        self.pid = self.proc.pid
        #: Windows: the job that ends the child's whole tree (winjob.py).
        self.job = winjob.Job.for_process(self.pid) if sys.platform == "win32" else None
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

    def start(self, spec: ChildSpec) -> None:
        """Give the child its work (one line on stdin); arm the deadline."""
        self.started_at = time.monotonic()
        if self.job is not None:  # Windows: the job holds the group's limits
            self.job.limit(spec.mem_limit, spec.cpu_limit)
        self.send(spec)
        self.arm_deadline(spec)

    def send(self, spec: ChildSpec) -> None:
        """Write one spec line on the child's stdin."""
        assert self.proc.stdin is not None
        # stdin stays open: the child takes its end closing for the parent's death.
        with contextlib.suppress(OSError):  # a child that died at start-up
            self.proc.stdin.write(spec.to_json())
            self.proc.stdin.flush()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _wait(self) -> None:
        returncode, rusage = _compat.wait_with_rusage(self.proc)
        usage = None if rusage is None else usage_of(rusage)
        if self.job is not None:  # Windows: what the whole tree used
            peak_cpu = self.job.usage()
            usage = None if peak_cpu is None else Usage(*peak_cpu)
        # Known at once, so that a crash just before the deadline is not
        # taken for a timeout while the events drain.
        self.returncode = returncode
        self._cancel_deadline()
        # Events written before the exit are in the pipe: let the reader drain
        # it.  A grandchild may hold the pipe open, so do not wait for EOF
        # forever: the reader keeps up with the pipe, a short grace suffices.
        self._reader_done.wait(timeout=DRAIN_SECONDS)
        self.inbox.put((self, Exited(returncode, usage)))

    def kill(self) -> None:
        self.killed = True
        if sys.platform == "win32":
            if self.job is not None:
                self.job.terminate()  # the child and everything it started
            else:
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
        self._kill_tree()
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.proc.kill()

    def reap_group(self) -> None:
        # The session id stays reserved while any member lives, so the id
        # cannot have been reused by an unrelated process.
        if self.job is not None:
            self.job.terminate()
        if sys.platform != "win32":
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            # Killed, they became this process's children (a subreaper).
            tree.reap(self.leaked)

    def reaper(self) -> int | None:
        return os.getpid()

    def close(self) -> None:
        self._cancel_deadline()
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        self._waiter.join(timeout=5.0)
        self.reap_group()
        if self.job is not None:
            self.job.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _bootstrap(path0: str) -> str:
    """The child's ``-c`` program.

    It gives the child the parent's ``sys.path[0]`` before anything else is
    imported: ``python -m pytest`` has the working directory there, the
    ``pytest`` script its own directory, and imports must resolve alike.
    This very copy of the package is imported (another one may come first
    on the child's ``PYTHONPATH``), from a path entry that is then removed.
    """
    package_parent = str(Path(__file__).resolve().parent.parent)
    return (
        f"import sys; sys.path[0] = {path0!r}; sys.path.insert(0, {package_parent!r}); "
        "import pytest_isolated; del sys.path[0]; "
        "from pytest_isolated.child.entry import main; sys.exit(main())"
    )


def make_workdir() -> Path:
    """A private directory for one child: dumps, capture files, its cache."""
    return Path(tempfile.mkdtemp(prefix="pytest-isolated-"))
