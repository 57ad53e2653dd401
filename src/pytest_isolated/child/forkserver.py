"""Child side: the fork template's loop, and what a fork does to become a child.

The template is a spawned child whose spec says ``template``: it configured
pytest and collected every test that may be forked, but runs none.  Then
:meth:`ForkServer.serve` reads one command (a group's spec) per line on its
stdin and hands each to a fork made ahead of time, so that ``fork()`` itself
is off the critical path.  The template reaps its forks on ``SIGCHLD`` and
reports each one's pid and exit status.  It stays single-threaded: before it
makes a fork it checks that no other thread runs (``fork()`` copies only the
calling thread, and a lock another one holds stays locked for ever) and that
no GPU runtime was initialised; otherwise it says why and forks no more.

A fork shares the template's import-time state and nothing the template opened
for its own use: the template's pytest (:class:`Template`, the child plugin)
gives it a session, a FIFO, capture files, dump files, a basetemp and a cache
folder of its own, the environment and working directory of its group's
start, and a fresh ``random`` seed.  It then returns into pytest's run loop,
runs its group like a spawned child, and ends like one: the hooks a child
runs at the end of its session and ``atexit`` handlers run.
"""

from __future__ import annotations

import contextlib
import gc
import os
import selectors
import shutil
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import pytest

from pytest_isolated.child import process
from pytest_isolated.platform import tree
from pytest_isolated.platform.resources import usage_of
from pytest_isolated.protocol import (
    EV_FORK_EXITED,
    EV_FORKED,
    EV_SPARE,
    ChildSpec,
)

#: What ``next()`` gives once :func:`warm_up` is done.
_DONE = object()


class Template(Protocol):
    """What the fork server needs of the template's pytest."""

    #: The tests it collected, by node id.
    collected: dict[str, Any]

    def send(self, event: str, **fields: Any) -> None:
        """Send an event to the parent (from the template or a fork)."""

    def hold(self, event: str, **fields: Any) -> None:
        """Send an event with the next one, in one write."""

    def enter_group(self, spec: ChildSpec) -> None:
        """In a new fork: become the child that runs *spec*'s group."""


class ForkServer:
    """The template's command loop."""

    def __init__(self, template: Template, commands: int, workdir: str) -> None:
        self.template = template
        self.commands = commands
        self.workdir = workdir  # the template's own
        self.forks: dict[int, str] = {}  # running forks: pid -> workdir
        self.spare: tuple[int, int] | None = None  # (pid, pipe to its spec)
        self.pid = os.getpid()
        #: Steps of work that save each fork its share, done while the
        #: template waits for a command.
        self.warm_up = warm_up(template.collected.values())

    def serve(self) -> bool:
        """Serve forks until stdin closes: False in the template, when done;
        True in a fork, whose plugin then holds the group's spec."""
        wake_read, wake_write = os.pipe()
        for fd in (wake_read, wake_write):
            os.set_blocking(fd, False)
        self._wake = (wake_read, wake_write)
        old_handler = signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(process.PARENT_DIED, self._parent_died)
        signal.set_wakeup_fd(wake_write)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.commands, selectors.EVENT_READ)
        self.selector.register(wake_read, selectors.EVENT_READ)
        # Everything the template made stays out of the forks' garbage
        # collections: a collection would visit, and so copy, every page.
        gc.freeze()
        try:
            if self._prefork():
                return True
            pending = b""
            warm_up: Iterator[None] | None = self.warm_up
            while True:
                ready = self.selector.select(None if warm_up is None else 0)
                if not ready and warm_up is not None and next(warm_up, _DONE) is _DONE:
                    warm_up = None
                    gc.freeze()  # what it made, too
                for key, _ in ready:
                    if key.fd == wake_read:
                        with contextlib.suppress(OSError):
                            os.read(wake_read, 4096)
                        if self._reap():
                            return True
                        continue
                    data = os.read(self.commands, 1 << 20)
                    if not data:
                        self._finish()
                        return False
                    pending += data
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if line.strip() and self._hand_over(line + b"\n"):
                            return True
        finally:
            if os.getpid() == self.pid:  # the template, done
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, old_handler)
                self.selector.close()
                for fd in self._wake:
                    os.close(fd)

    def _hand_over(self, line: bytes) -> bool:
        """Give one group's spec to the spare fork; make the next spare.
        True in the new spare fork."""
        spec = ChildSpec.from_json(line)
        if self.spare is None and self._prefork():  # the last one died waiting
            return True
        if self.spare is None:  # unsafe: the parent was told, yet asked
            self.template.send(EV_FORKED, workdir=spec.workdir, pid=-1)
            return False
        pid, to_fork = self.spare
        self.spare = None
        with contextlib.suppress(OSError):
            os.write(to_fork, line)
        os.close(to_fork)
        self.forks[pid] = spec.workdir
        # With the news of the next spare (one write): the template runs
        # nothing but fork() in between.
        self.template.hold(EV_FORKED, workdir=spec.workdir, pid=pid)
        return self._prefork()

    def _prefork(self) -> bool:
        """Fork a child that waits for its spec, if forking is safe.

        True in the fork, once it has its spec and is set up as the group's
        child; in the template, False, after telling the parent the outcome.
        """
        reason = unsafe_reason()
        if reason is not None:
            self.template.send(EV_SPARE, ok=False, reason=reason)
            return False
        read_end, write_end = os.pipe()
        _flush()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(write_end)
                self._leave_template()
                process.become_fork()
                with os.fdopen(read_end, "rb") as pipe:
                    line = pipe.readline()
                if not line:  # not needed after all
                    os._exit(0)
                self.template.enter_group(ChildSpec.from_json(line))
            except BaseException:  # noqa: BLE001 - never run on as the template
                os._exit(70)
            return True
        os.close(read_end)
        self.spare = (pid, write_end)
        self.template.send(EV_SPARE, ok=True, reason=None)
        return False

    def _parent_died(self, *_: object) -> None:
        """The parent died (:data:`~pytest_isolated.child.process.PARENT_DIED`):
        end every fork's tree, leave."""
        tree.kill_tree(os.getpid())  # the forks and all they started
        for pid, workdir in self.forks.items():
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(self.workdir, ignore_errors=True)
        os._exit(1)

    def _leave_template(self) -> None:
        """In a new fork: drop what belongs to the template's loop."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        self.selector.close()
        for fd in (*self._wake, self.commands):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self.spare is not None:
            with contextlib.suppress(OSError):
                os.close(self.spare[1])
        self.forks.clear()

    def _reap(self) -> bool:
        """Report the forks that exited; True in a new spare fork."""
        while True:
            try:
                pid, status, rusage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                return False
            if self.forks.pop(pid, None) is not None:
                returncode = os.waitstatus_to_exitcode(status)
                usage = usage_of(rusage).to_wire()
                self.template.send(
                    EV_FORK_EXITED, pid=pid, returncode=returncode, usage=usage
                )
            elif self.spare is not None and self.spare[0] == pid:
                os.close(self.spare[1])  # the spare died waiting: make another
                self.spare = None
                if self._prefork():
                    return True

    def _finish(self) -> None:
        """The parent needs no more forks, or is gone: none may outlive it."""
        if self.spare is not None:
            os.close(self.spare[1])  # the unneeded fork reads nothing and leaves
            with contextlib.suppress(OSError):
                os.waitpid(self.spare[0], 0)
        for pid, workdir in list(self.forks.items()):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            shutil.rmtree(workdir, ignore_errors=True)
        if os.getppid() == 1:  # the parent is gone: nobody else removes it
            shutil.rmtree(self.workdir, ignore_errors=True)


def warm_up(items: Iterable[Any]) -> Iterator[None]:
    """What each fork would compute for its test and pytest keeps on the
    item, computed once in the template for all of them, an item a step:
    the location the test's logstart needs (paths, source lines), of the
    tests whose location depends on nothing a fork changes (pytest's own
    ``reportinfo()`` gives absolute paths; another one may not)."""
    for item in list(items):
        if getattr(type(item), "reportinfo", None) is pytest.Function.reportinfo:
            with contextlib.suppress(Exception):  # the fork raises it, as pytest
                _ = item.location
        yield


def unsafe_reason() -> str | None:
    """Why this process must not fork now, or None."""
    current = threading.current_thread()
    others = [t.name for t in threading.enumerate() if t is not current]
    if others:
        return (
            f"the fork template runs {len(others)} other thread(s) "
            f"({', '.join(sorted(others))}), which a fork would not have"
        )
    gpu = _gpu_runtime()
    if gpu is not None:
        return f"{gpu} in the fork template, and a GPU runtime does not survive fork()"
    return None


def _gpu_runtime() -> str | None:
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    with contextlib.suppress(Exception):
        if cuda is not None and cuda.is_initialized():
            return "torch.cuda was initialised"
    if "cupy" in sys.modules:
        return "cupy was imported"
    bridge = sys.modules.get("jax._src.xla_bridge")
    backends = getattr(bridge, "_backends", None) or {}
    with contextlib.suppress(Exception):
        if any(name != "cpu" for name in backends):
            return f"jax initialised the {', '.join(sorted(backends))} backend(s)"
    return None


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
