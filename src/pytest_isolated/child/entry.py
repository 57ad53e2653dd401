"""Child side: the entry point of every child interpreter, both halves of it.

The parent starts a child with :func:`command`, ``python -c <program> CHANNEL
WORKDIR [MODULE...]``, and the program calls :func:`main` here.  It imports
what its pytest will import before anything of the user's (so that a
pre-started interpreter does it while it waits), reads a
:class:`~pytest_isolated.protocol.ChildSpec` from stdin, takes the import
path and ``sys.argv`` of the parent, becomes the group's child
(:func:`~pytest_isolated.child.process.become_child`), points the crash and
timeout dumps at its work folder, and runs ``pytest.main()`` with the
parent's command line and the child plugin.  The parent starts the
interpreter with its own ``sys.path[0]``, so even the import of pytest below
resolves as it did in the parent.

Nothing of the parent side is loaded in a child.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from pytest_isolated import _compat
from pytest_isolated.child import process
from pytest_isolated.child.capture import flush_std_streams
from pytest_isolated.child.channel import Channel, open_channel
from pytest_isolated.child.passthrough import TerminalTap
from pytest_isolated.child.runner import ChildPlugin
from pytest_isolated.child.stacks import Dumps
from pytest_isolated.child.turns import Turns
from pytest_isolated.protocol import (
    EV_FINISHED,
    EV_INTERNAL_ERROR,
    EV_STARTED,
    ChildSpec,
)

#: Modules of ours that every child's pytest imports: the plugin (through its
#: entry point or ``-p``) and what its ``pytest_configure`` imports in a child.
PLUGIN_MODULES = (
    "pytest_isolated.plugin",
    "pytest_isolated.adapters.integrations",
    "pytest_isolated.child.sessiondata",
)

#: What this module's own steps import once the spec has come: ``ctypes``
#: for ``prctl()`` (Linux, ``platform/tree.py``).
_OWN_LIBRARIES = ("ctypes",) if sys.platform.startswith("linux") else ()


def command(
    path0: str, channel: str, workdir: Path, preload: Sequence[str] = ()
) -> list[str]:
    """The parent's half: the command line that starts a child interpreter.

    The ``-c`` program gives the child the parent's ``sys.path[0]`` before
    anything else is imported: ``python -m pytest`` has the working directory
    there, the ``pytest`` script its own directory, and imports must resolve
    alike.  This very copy of the package is imported (another one may come
    first on the child's ``PYTHONPATH``), from a path entry that is then
    removed.  Its arguments are read by :func:`main`: *channel* names the
    event pipe (:func:`~pytest_isolated.child.channel.open_channel`),
    *workdir* the child's work folder, *preload* the modules of pytest's own
    plugins that the child's pytest imports before it imports anything of
    the user's (those the command line does not block).
    """
    package_parent = str(Path(__file__).resolve().parents[2])
    program = (
        f"import sys; sys.path[0] = {path0!r}; sys.path.insert(0, {package_parent!r}); "
        "import pytest_isolated; del sys.path[0]; "
        "from pytest_isolated.child.entry import main; sys.exit(main())"
    )
    return [
        sys.executable,
        *_compat.interpreter_flags(),
        "-c",
        program,
        channel,
        str(workdir),
        *preload,
    ]


def main() -> int:
    """The child's half: ``sys.argv[1]`` names the event channel, ``[2]`` the
    work folder, the rest the modules to import ahead (see :func:`command`)."""
    channel = Channel(open_channel(sys.argv[1]))
    workdir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(os.devnull)
    process.remember_parent()
    _import_ahead([*sys.argv[3:], *PLUGIN_MODULES, *_OWN_LIBRARIES])
    # Read past Python's buffer: what follows the spec (the parent's first
    # ``go``) is the turns' own.
    line, rest = _read_line(0)
    if not line:  # a pre-started interpreter that was not needed
        shutil.rmtree(workdir, ignore_errors=True)
        return 0
    spec = ChildSpec.from_json(line)
    # The parent keeps stdin open while it lives: a fork template reads its
    # commands there; other children may look at it for the parent's death.
    lifeline = os.dup(0)
    os.set_inheritable(lifeline, False)
    # The parent's ``go`` lines come there too (turns.py).
    turns = None
    if spec.wait_for_turn and not spec.template:
        turns = Turns(lifeline, rest)
        process.share_lifeline(turns.feed)
    needed = process.die_with_parent(lifeline, workdir)
    if not (needed or spec.template or turns is not None):
        os.close(lifeline)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    _take_path(spec.sys_path)
    if spec.argv:
        sys.argv[:] = spec.argv
    process.become_child(spec, forked=False)
    dumps = Dumps(workdir, spec.timeout, spec.dump_margin)
    channel.send(EV_STARTED, pid=os.getpid())
    commands = lifeline if spec.template else None
    exitstatus, forked = _run_pytest(spec, channel, dumps, commands, turns)
    if forked:  # this process is a fork of the template
        # atexit handlers run (coverage.py saves its data there), but not the
        # interpreter's own teardown: freeing every object the template made
        # would write to, and so copy, nearly every page the fork shares.
        _compat.run_atexit()
        flush_std_streams()
        os._exit(exitstatus)
    return exitstatus


def _run_pytest(
    spec: ChildSpec,
    channel: Channel,
    dumps: Dumps,
    commands: int | None,
    turns: Turns | None,
) -> tuple[int, bool]:
    """``pytest.main()`` with the parent's arguments and the child plugin:
    its exit status, and whether this process is a fork of the template (the
    template's ``pytest.main()`` returns in each fork, with the fork's own
    exit status)."""
    stdout = sys.stdout
    # pytest's terminal reporter writes to the tap (see passthrough.py).
    tap = TerminalTap()
    plugin = ChildPlugin(spec, channel, stdout, dumps, tap, commands)
    plugin.turns = turns
    sys.stdout = tap
    try:
        exitstatus = int(pytest.main(spec.args, plugins=[plugin, plugin.relay]))
    except BaseException as exc:  # noqa: BLE001 - reported, then the child ends
        plugin.channel.send(EV_INTERNAL_ERROR, text=f"{type(exc).__name__}: {exc}")
        exitstatus = 3
    finally:
        sys.stdout = stdout
    flush_std_streams()
    plugin.channel.send(EV_FINISHED, exitstatus=exitstatus)
    return exitstatus, plugin.spec.events_path is not None


def _import_ahead(names: list[str]) -> None:
    """Import what this child's pytest imports anyway before it imports
    anything of the user's (neither reads the environment or the working
    directory as it is imported): a pre-started interpreter does it while
    it waits for its spec, off the group's critical path."""
    for name in names:
        with contextlib.suppress(ImportError):  # its pytest says why, if it must
            importlib.import_module(name)


def _read_line(fd: int) -> tuple[bytes, bytes]:
    """The first line on *fd* (b"" if it ends first), and what came after it."""
    data = b""
    while b"\n" not in data:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"", b""
        data += chunk
    line, _, rest = data.partition(b"\n")
    return line + b"\n", rest


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
