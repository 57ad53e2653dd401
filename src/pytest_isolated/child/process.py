"""Child side: the steps that make a process a group's child, spawned or forked.

A spawned child (:mod:`pytest_isolated.child.entry`) and a fork of the
template (:meth:`pytest_isolated.child.runner.ChildPlugin.enter_group`) both
call :func:`become_child` before their group's pytest work starts: the process
tree it owns, its death with pytest's process, the environment and working
directory of the group's start, and, in a fork, its own session, output files
and random seed.

No thread watches for pytest's death (a test would see it: in
``threading.active_count()``, in the warning Python 3.12+ gives a test that
forks a multi-threaded process, in every crash dump).  On Linux the kernel
sends :data:`PARENT_DIED` when pytest's process dies (``PR_SET_PDEATHSIG``)
and its handler ends the child's whole tree.  On Windows the child's job
ends the tree when pytest's process dies (``winjob.py``).  On other systems
the child looks at its end of the parent's pipe each time a test's phase
starts (:func:`check_parent`): a test that hangs there outlives a killed
pytest until it returns.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import select
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from pytest_isolated import _compat
from pytest_isolated.platform import tree
from pytest_isolated.protocol import (
    STDERR_FIFO,
    STDERR_FILE,
    STDOUT_FIFO,
    STDOUT_FILE,
    ChildSpec,
)

#: The signal the kernel sends a child when pytest's process dies (Linux): a
#: real-time one, that no test expects to mean anything (SIGTERM may be a
#: test's own business).
PARENT_DIED = getattr(signal, "SIGRTMAX", 64) - 2

#: pytest's pid, as this interpreter started (see :func:`remember_parent`).
_parent: int | None = None
#: Outside Linux and Windows: the child's end of the pipe the parent keeps
#: open while it lives.
_lifeline: int | None = None
#: What the parent writes on the lifeline besides its end (turns.py).
_more: Callable[[bytes], None] | None = None
#: The work folder that nobody else removes once pytest's process is gone.
_workdir: Path | None = None


def remember_parent() -> None:
    """At start-up, before anything blocks: note pytest's pid."""
    global _parent
    _parent = os.getppid()
    tree.remember_parent()


def become_fork() -> None:
    """In a new fork of the template, before its spec comes: what needs no
    spec (done ahead, off the critical path)."""
    os.setsid()  # a session of its own, so that its whole tree can be killed
    random.seed()  # not the template's sequence, shared by every fork
    forget_parent()
    _own_tree()


def become_child(spec: ChildSpec, *, forked: bool) -> None:
    """Make this process the child that runs *spec*'s group (a fork:
    after :func:`become_fork`)."""
    if forked:
        _take_output_files(spec)
    else:
        _own_tree()
    # The interpreter may have been started before the group: a spawned one
    # takes the environment as a fresh one started now would have, less what
    # pytest's start-up in the parent did to it (its conftests and plugins do
    # it again here); the tests get the parent's as it is now (runner.py).
    _take_environment(
        spec.env if forked or spec.startup_env is None else spec.startup_env
    )
    # pytest's capture makes temporary files as its process starts, which
    # resolves (and caches) tempfile's directory there before any test runs;
    # a test can tell (an extra os.unlink() probe in its first tempfile).
    tempfile.gettempdir()
    # A spawned child starts where pytest was started (the rootdir and the
    # relative arguments depend on it); its session start moves it on.
    os.chdir(spec.cwd if forked else spec.invocation_dir)


def _own_tree() -> None:
    """This process is the reaper of its tree, which a debugger may read."""
    tree.become_subreaper()  # not inherited by a fork
    tree.allow_debugger()  # for the native stacks of a timeout (native.py)
    # The handler registered first runs last, after every other atexit
    # handler (a fork inherits the template's registration).
    atexit.unregister(end_descendants)
    atexit.register(end_descendants)


def _take_environment(env: dict[str, str]) -> None:
    """Make ``os.environ`` *env*, setting and removing only what differs
    (a fork's is nearly always the template's already)."""
    if _compat.environ_is(env):
        return
    environ = os.environ
    for name in [name for name in environ if name not in env]:
        del environ[name]
    for name, value in env.items():
        if environ.get(name) != value:
            environ[name] = value


def die_with_parent(lifeline: int, workdir: Path) -> bool:
    """Spawned: end this process's tree if pytest's process dies.

    *lifeline* is the child's end of a pipe that the parent keeps open while
    it lives (its stdin).  True if it is still needed for that (see
    :func:`check_parent`); a fork template keeps it anyway, to read commands.
    """
    global _lifeline, _workdir
    _workdir = workdir
    if sys.platform == "win32":
        return False  # the job ends the tree (winjob.py)
    signal.signal(PARENT_DIED, _parent_died)
    if tree.set_death_signal(PARENT_DIED):
        if os.getppid() != _parent:  # died before the signal was asked for
            _parent_died()
        return False
    _lifeline = lifeline
    return True


def forget_parent() -> None:
    """In a fork: the template's parent is not its own (the template ends the
    forks' trees when it dies)."""
    global _lifeline
    _lifeline = None
    if sys.platform != "win32":
        signal.signal(PARENT_DIED, signal.SIG_DFL)


def share_lifeline(take: Callable[[bytes], None]) -> None:
    """The parent writes on the lifeline (its tests' turns): what
    :func:`check_parent` reads goes to *take*."""
    global _more
    _more = take


def check_parent() -> None:
    """Outside Linux: end the tree if the parent's end of the pipe closed."""
    if _lifeline is None:
        return
    with contextlib.suppress(OSError, ValueError):
        ready, _, _ = select.select([_lifeline], [], [], 0)
        data = os.read(_lifeline, 4096) if ready else None
        if data == b"":
            _parent_died()
        if data and _more is not None:
            _more(data)


def end_descendants() -> None:
    """Kill what this process's tree still runs (a process a session hook
    or an atexit handler left), and reap it."""
    if tree.LINUX and tree.has_children():
        killed = tree.kill_tree(os.getpid(), spare=tree.interpreter_helpers())
        tree.reap([*killed, *tree.zombie_children()])


def _parent_died(*_: object) -> None:
    """pytest's process is gone: nobody will kill, or observe, this tree."""
    if _workdir is not None:
        shutil.rmtree(_workdir, ignore_errors=True)
    if sys.platform != "win32":
        tree.kill_tree(os.getpid())
        with contextlib.suppress(OSError):
            os.killpg(0, signal.SIGKILL)  # a child leads its own group
    os._exit(1)


def _take_output_files(spec: ChildSpec) -> None:
    """A fork's fds 1 and 2: its capture files, or under ``-s`` its FIFOs
    to the parent, which shows them live."""
    if spec.capture:
        names, flags = (STDOUT_FILE, STDERR_FILE), os.O_WRONLY | os.O_APPEND
    elif spec.tee:
        names, flags = (STDOUT_FIFO, STDERR_FIFO), os.O_WRONLY
    else:
        return
    for fd, name in zip((1, 2), names, strict=True):
        target = os.open(Path(spec.workdir) / name, flags | os.O_CREAT)
        os.dup2(target, fd)
        os.close(target)
