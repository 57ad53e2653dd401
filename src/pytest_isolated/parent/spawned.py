"""Parent side: a child interpreter the parent spawns, and its process tree.

A spawned child is a plain ``subprocess`` running this interpreter (never
``multiprocessing``), in a new session (POSIX) or process group (Windows) so
that its whole tree can be killed and a Ctrl-C in the terminal reaches only
pytest.  Events arrive on a pipe of their own, read by a thread into the
session's inbox; a second thread waits for the exit.  The child's stdout and
stderr are files, so a child that floods its output, closes its stdout or
leaves a grandchild holding the pipe can neither block nor bloat the parent.
Under ``-s`` (POSIX) they are pipes that the event reader passes on to the
terminal (:mod:`pytest_isolated.parent.tee`).

Children forked from a template are in :mod:`pytest_isolated.parent.forks`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any

from pytest_isolated import _compat
from pytest_isolated.child import entry
from pytest_isolated.parent.events import DRAIN_SECONDS, Exited, Inbox
from pytest_isolated.parent.handle import ChildHandle
from pytest_isolated.parent.tee import OutputTee
from pytest_isolated.parent.watchdog import Watchdog
from pytest_isolated.platform import tree, winjob
from pytest_isolated.platform.resources import Usage, usage_of
from pytest_isolated.protocol import STDERR_FILE, STDOUT_FILE, ChildSpec

Outputs = list[IO[bytes] | int]


class SpawnedHandle(ChildHandle):
    """A child interpreter: started at once, given its group later.

    The interpreter starts and imports pytest as soon as the object is made;
    it then waits for its :class:`ChildSpec` on stdin (:meth:`start`), so it can
    be started ahead of time; meanwhile it imports *preload* (the modules of
    pytest's plugins that its pytest will import).  Everything it reports is
    put on *inbox*, shared by all children, as ``(handle, message)``.  With
    *tee* (``-s``, POSIX), its stdout and stderr are pipes that the event
    reader passes on (:class:`~pytest_isolated.parent.tee.OutputTee`).
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
        preload: Sequence[str] = (),
    ) -> None:
        super().__init__(inbox, watchdog, capture)
        self.env = env
        outputs = self._outputs(tee)
        read_fd, write_fd = os.pipe()
        popen_kwargs, channel = _inherit(write_fd)
        try:
            self.proc = subprocess.Popen(
                entry.command(path0, channel, self.workdir, preload),
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
        self._reader = _thread(self.events.read, "reader", read_fd)
        self._waiter = _thread(self._wait, "waiter")

    def _outputs(self, tee: bool) -> Outputs:
        """The child's fds 1 and 2: capture files, the tees' pipes (``-s``,
        POSIX), or none (this process's own)."""
        if self.capture:
            return [
                open(self.workdir / name, "ab")  # closed by the caller
                for name in (STDOUT_FILE, STDERR_FILE)
            ]
        if not tee:
            return []
        pipes = [os.pipe(), os.pipe()]
        self.tees.extend(
            OutputTee(name, read_end, target)
            for name, (read_end, _), target in zip(
                (STDOUT_FILE, STDERR_FILE), pipes, (1, 2), strict=True
            )
        )
        return [write_end for _, write_end in pipes]

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

    def _send_go(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):  # it died: its exit tells the rest
            self.proc.stdin.write(line)
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
        self.events.done.wait(timeout=DRAIN_SECONDS)
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


def _inherit(write_fd: int) -> tuple[dict[str, Any], str]:
    """How the child inherits the write end of its event pipe: the Popen
    arguments, and the channel it is told (``fd:N`` or ``handle:N``)."""
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
        return popen_kwargs, f"handle:{handle}"
    return {"pass_fds": (write_fd,), "start_new_session": True}, f"fd:{write_fd}"


def _thread(target: Any, name: str, *args: Any) -> threading.Thread:
    thread = threading.Thread(
        target=target, args=args, name=f"pytest-isolated-{name}", daemon=True
    )
    thread.start()
    return thread
