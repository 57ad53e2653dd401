"""Child side: the entry point of every child interpreter.

Started by the parent as ``python -c <bootstrap> CHANNEL WORKDIR`` (see
``process._bootstrap``).  It reads a :class:`~pytest_isolated.protocol.ChildSpec`
from stdin, takes the import environment, ``sys.argv``, environment and
directory of the parent, points the crash and timeout dumps at its work
folder, and runs ``pytest.main()`` with the parent's command line and the
child plugin.  The parent starts the interpreter with its own ``sys.path[0]``,
so even the import of pytest below resolves as it did in the parent.

Imports only the child-side modules of the package and ``protocol``: nothing
of the parent side is loaded in a child.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

import pytest

from pytest_isolated import _compat
from pytest_isolated.child.capture import flush_std_streams
from pytest_isolated.child.channel import Channel, open_channel
from pytest_isolated.child.passthrough import TerminalTap
from pytest_isolated.child.runner import ChildPlugin
from pytest_isolated.child.stacks import Dumps
from pytest_isolated.platform import tree
from pytest_isolated.protocol import (
    EV_FINISHED,
    EV_INTERNAL_ERROR,
    EV_STARTED,
    ChildSpec,
)


def main() -> int:
    """Entry point: ``sys.argv[1]`` names the event channel, ``[2]`` the folder."""
    channel = Channel(open_channel(sys.argv[1]))
    workdir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(os.devnull)
    line = sys.stdin.buffer.readline()
    if not line:  # a pre-started interpreter that was not needed
        shutil.rmtree(workdir, ignore_errors=True)
        return 0
    spec = ChildSpec.from_json(line)
    _keep_the_tree()
    # The parent keeps stdin open while it lives: a fork template reads its
    # commands there, other children watch it for the parent's death.
    commands: int | None = os.dup(0)
    if spec.template:
        # No thread may watch (the template must stay single-threaded to
        # fork): where the kernel can, it stops the template with the parent,
        # and the fork server then ends its forks' process trees.
        signal.signal(signal.SIGTERM, _end_with_parent)
        _die_with_parent()
    else:
        assert commands is not None
        _watch_parent(commands, workdir)
        commands = None
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    _take_path(spec.sys_path)
    if spec.argv:
        sys.argv[:] = spec.argv
    # The interpreter may have been started before the group: take the
    # environment as it is now, as a freshly started one would have, less what
    # the parent's start-up did to it (its conftests and plugins do it again
    # here); the tests get the parent's as it is now (runner.py).
    os.environ.clear()
    os.environ.update(spec.env if spec.startup_env is None else spec.startup_env)
    os.chdir(spec.invocation_dir)
    dumps = Dumps(workdir, spec.timeout, spec.dump_margin)
    channel.send(EV_STARTED, pid=os.getpid())
    stdout = sys.stdout
    # pytest's terminal reporter writes to the tap (see passthrough.py).
    tap = TerminalTap()
    plugin = ChildPlugin(spec, channel, stdout, dumps, tap, commands)
    sys.stdout = tap
    try:
        exitstatus = int(pytest.main(spec.args, plugins=[plugin]))
    except BaseException as exc:  # noqa: BLE001 - reported, then the child ends
        channel.send(EV_INTERNAL_ERROR, text=f"{type(exc).__name__}: {exc}")
        exitstatus = 3
    finally:
        sys.stdout = stdout
    flush_std_streams()
    channel.send(EV_FINISHED, exitstatus=exitstatus)
    if plugin.spec.events_path is not None:  # a fork of the template
        # atexit handlers run (coverage.py saves its data there), but not the
        # interpreter's own teardown: freeing every object the template made
        # would write to, and so copy, nearly every page the fork shares.
        _compat.run_atexit()
        flush_std_streams()
        os._exit(exitstatus)
    return exitstatus


def _take_path(parent: list[str]) -> None:
    """The import path of a fresh interpreter, as the parent's started.

    This interpreter computed its own (the parent's ``sys.path[0]``,
    ``PYTHONPATH``, site-packages and ``.pth`` files); entries the parent had
    when its pytest started and this one lacks (added by a ``sitecustomize``
    or by the code that called ``pytest.main()``) are appended.  Conftest and
    rootdir entries are added again by this child's own pytest.
    """
    own = set(sys.path)
    sys.path.extend(entry for entry in parent if entry not in own)


def _keep_the_tree() -> None:
    """Keep every process this one starts in its tree, and end them at exit.

    A subreaper adopts the orphans of its descendants (see ``tree.py``).  The
    handler registered first runs last, after every other ``atexit`` handler.
    A template's forks take the same steps in ``forkserver.enter_fork``.
    """
    tree.remember_parent()
    tree.become_subreaper()
    tree.allow_debugger()  # for the native stacks of a timeout (native.py)
    atexit.register(end_descendants)


def end_descendants() -> None:
    """Kill what this process's tree still runs (a process a session hook
    or an atexit handler left), and reap it."""
    if tree.LINUX and tree.has_children():
        killed = tree.kill_tree(os.getpid(), spare=tree.interpreter_helpers())
        tree.reap([*killed, *tree.zombie_children()])


def _end_with_parent(*_: object) -> None:
    """SIGTERM (the parent died) before the fork server runs: end the tree."""
    tree.kill_tree(os.getpid())
    os._exit(1)


def _die_with_parent() -> None:
    """Linux: be sent SIGTERM when the parent dies (``PR_SET_PDEATHSIG``)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _watch_parent(fd: int, workdir: Path) -> None:
    """End this process tree if the parent dies (its end of stdin closes).

    A parent killed with SIGKILL or SIGTERM cannot clean up: without this its
    children, in sessions of their own, would run on unobserved.
    """

    def watch() -> None:
        with contextlib.suppress(OSError):
            while os.read(fd, 4096):
                pass
        shutil.rmtree(workdir, ignore_errors=True)
        if sys.platform != "win32":
            tree.kill_tree(os.getpid())
            with contextlib.suppress(OSError):
                os.killpg(0, signal.SIGKILL)  # this child is its group's leader
        os._exit(1)

    threading.Thread(target=watch, name="pytest-isolated-lifeline", daemon=True).start()
