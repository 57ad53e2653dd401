"""Both sides: every process a group started, found, named and killed (Linux).

A group's subprocess is a *child subreaper* (``PR_SET_CHILD_SUBREAPER``): a
process it started, directly or not, that loses its parent (a daemon's double
fork after ``setsid()``) is re-parented to it, not to init.  So while the
subprocess lives, the kernel keeps every process the group started in its
tree, whatever sessions or process groups they moved to, and the tree read
from ``/proc`` (each process's parent) is the whole of it.  The subprocess
checks its tree after its last test (:func:`kill_tree`), the parent before it
kills a subprocess at a deadline or an interrupt.

A subprocess that dies unexpectedly (a crash) leaves its processes to the
next subreaper up: pytest's process, or the fork template.  Those orphans
carry the dead subprocess's :data:`COOKIE` in their environment, which tells
them apart from processes that pytest's own tests started
(:func:`adopted_orphans`).

Nothing here reaps more than the processes it found and killed
(:func:`reap`): pytest's process must never take the exit status of a child
that a ``subprocess.Popen`` in a test waits for.

Imports nothing of the package.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass

#: The environment variable that marks a group's subprocess and every process
#: it starts; its value names the subprocess (its work folder).
COOKIE = "PYTEST_ISOLATED_CHILD"

#: The title of the report section that names leaked processes.
SECTION = "isolated: leaked processes"

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_PR_GET_CHILD_SUBREAPER = 37
_PR_SET_PTRACER = 0x59616D61  # Yama: who may ptrace this process
LINUX = sys.platform.startswith("linux")
#: The pid of the pytest process that started this one (child side).
_parent: int | None = None


@dataclass(frozen=True)
class Proc:
    """One line of the process table."""

    pid: int
    ppid: int
    #: Clock ticks after boot: tells a pid reused by another process apart.
    start: int
    state: str
    #: The process group and the session it is in.
    group: int = 0
    session: int = 0


@dataclass(frozen=True)
class Leaked:
    """A process that was still running, and was killed."""

    pid: int
    start: int
    command: str


def _prctl(option: int, value: int) -> bool:
    if not LINUX:
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def become_subreaper() -> bool:
    """Make orphaned descendants of this process its children (Linux)."""
    return _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def stop_being_subreaper() -> None:
    _prctl(_PR_SET_CHILD_SUBREAPER, 0)


def set_death_signal(signum: int) -> bool:
    """Be sent *signum* when the parent dies (Linux, ``PR_SET_PDEATHSIG``)."""
    return _prctl(_PR_SET_PDEATHSIG, signum)


def is_subreaper() -> bool:
    if not LINUX:
        return False
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        flag = ctypes.c_int(0)
        libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0)
    except (OSError, AttributeError):
        return False
    return bool(flag.value)


def remember_parent() -> None:
    """Child side, at start-up: note pytest's pid, for :func:`allow_debugger`."""
    global _parent  # one value per process, inherited by its forks
    if _parent is None:
        _parent = os.getppid()


def allow_debugger() -> None:
    """Let pytest's process and its children (a debugger it runs) ptrace this
    one: under Yama's ``ptrace_scope=1`` only ancestors may, and a fork's
    debugger is no ancestor of it."""
    if _parent is not None:
        _prctl(_PR_SET_PTRACER, _parent)


def parse_stat(text: bytes) -> Proc | None:
    """A ``/proc/<pid>/stat`` line, or None if it is not one.

    The command name (field 2) is in parentheses and may hold spaces and
    parentheses itself: the fields after it follow the last ``)``.
    """
    open_at, close_at = text.find(b"("), text.rfind(b")")
    if open_at < 0 or close_at < open_at:
        return None
    fields = text[close_at + 2 :].split()
    try:
        return Proc(
            pid=int(text[:open_at]),
            ppid=int(fields[1]),
            start=int(fields[19]),
            state=fields[0].decode("ascii", "replace"),
            group=int(fields[2]),
            session=int(fields[3]),
        )
    except (IndexError, ValueError):
        return None


def read(path: str, size: int = -1) -> bytes | None:
    """The bytes of *path* (at most *size*, in one read), or None if it
    cannot be read (the ``/proc`` file of a process that is gone)."""
    try:
        with open(path, "rb", buffering=0) as f:
            return f.read(size)
    except OSError:
        return None


def proc(pid: int) -> Proc | None:
    """Linux: what ``/proc`` says of *pid* (None: gone, or no ``/proc``)."""
    text = read(f"/proc/{pid}/stat")
    return None if text is None else parse_stat(text)


def pids() -> list[int]:
    """Every pid ``/proc`` lists (none where there is no ``/proc``)."""
    with contextlib.suppress(OSError):
        return [int(name) for name in os.listdir("/proc") if name.isdigit()]
    return []


def process_table() -> list[Proc]:
    """Every process this one can see (empty where there is no ``/proc``)."""
    return [found for pid in pids() if (found := proc(pid)) is not None]


def descendants(roots: Iterable[int], table: list[Proc] | None = None) -> list[Proc]:
    """The processes below *roots* in *table*, parents before children."""
    children: dict[int, list[Proc]] = {}
    for p in process_table() if table is None else table:
        children.setdefault(p.ppid, []).append(p)
    found: list[Proc] = []
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child.pid)
    return found


def has_children() -> bool:
    """Whether this process has any child, living or a zombie (one syscall:
    the common case, a group that leaves nothing, costs no ``/proc`` scan)."""
    if not hasattr(os, "waitid"):
        return True
    flags = os.WEXITED | os.WSTOPPED | os.WCONTINUED | os.WNOHANG | os.WNOWAIT
    try:
        os.waitid(os.P_ALL, 0, flags)
    except ChildProcessError:
        return False
    return True


def command_line(pid: int, limit: int = 300) -> str:
    """What *pid* runs, as ``ps`` would show it."""
    raw = b""
    for attempt in range(3):
        # Empty for a moment while a process is being made (an exec under
        # heavy load): a short wait names it by what it runs.
        raw = read(f"/proc/{pid}/cmdline") or b""
        if raw or attempt == 2:
            break
        time.sleep(0.01)
    text = raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", "replace")
    if not text:
        comm = (read(f"/proc/{pid}/comm") or b"?").strip()
        text = f"[{comm.decode('utf-8', 'replace')}]"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def kill_procs(procs: Iterable[Proc], killed: dict[int, Leaked]) -> bool:
    """SIGKILL each living process of *procs* not in *killed*; add it there."""
    any_new = False
    for p in procs:
        if p.pid in killed or p.state in ("Z", "X"):
            continue
        command = command_line(p.pid)  # before it is gone
        with contextlib.suppress(OSError):
            os.kill(p.pid, signal.SIGKILL)
        killed[p.pid] = Leaked(p.pid, p.start, command)
        any_new = True
    return any_new


def kill_tree(root: int, spare: Iterable[int] = ()) -> list[Leaked]:
    """Kill every living descendant of *root* but *spare* (and theirs).

    A process may fork while its tree is killed: its new child appears
    below it, or below *root* once it is gone; the tree is read again until
    no new process shows up.
    """
    if not LINUX:
        return []
    spared = set(spare)
    killed: dict[int, Leaked] = {}
    for _ in range(5):
        found = [
            p
            for p in descendants([root])
            if p.pid not in spared and p.ppid not in spared
        ]
        if not kill_procs(found, killed):
            break
    return list(killed.values())


def cookie(pid: int) -> str | None:
    """The :data:`COOKIE` in *pid*'s initial environment, if it has one."""
    raw = read(f"/proc/{pid}/environ")
    if raw is None:
        return None
    key = COOKIE.encode() + b"="
    for entry in raw.split(b"\0"):
        if entry.startswith(key):
            return entry[len(key) :].decode("utf-8", "replace")
    return None


def adopted_orphans(reaper: int, leader: int, value: str) -> list[Proc]:
    """What a dead subprocess left running, and their descendants.

    Its children, orphans now, are children of *reaper* (its subreaper):
    those still in its session (*leader* is its pid), and those that carry
    its :data:`COOKIE` *value* (they left the session with ``setsid()``).
    """
    if not LINUX:
        return []
    table = process_table()
    orphans = [
        p
        for p in table
        if p.pid != leader
        and (
            p.session == leader
            or p.group == leader
            or (p.ppid == reaper and cookie(p.pid) == value)
        )
    ]
    return [*orphans, *descendants([p.pid for p in orphans], table)]


def reap(leaked: Iterable[Leaked], timeout: float = 1.0) -> None:
    """Wait for the killed processes that are this process's children.

    Only those pids, and only while each is the very process that was killed
    (same start time): never another child's exit status.  One that belongs
    to another process (a template, init) is left to it.
    """
    me = os.getpid()
    left = {item.pid: item for item in leaked}
    deadline = time.monotonic() + timeout
    while left:
        for pid, item in list(left.items()):
            now = proc(pid)
            if now is None or now.start != item.start:
                del left[pid]  # gone, reaped by its own parent
                continue
            if now.ppid != me:
                if now.state in ("Z", "X"):
                    del left[pid]  # a zombie of another: its parent reaps it
                continue  # dying, or its dead parent's orphan on the way here
            with contextlib.suppress(ChildProcessError):
                done, _ = os.waitpid(pid, os.WNOHANG)
                if not done:
                    continue
            del left[pid]
        if not left or time.monotonic() > deadline:
            return
        time.sleep(0.005)


def describe(leaked: Iterable[Leaked], when: str) -> str:
    """The text of the :data:`SECTION`."""
    named = lines(leaked)
    return "\n".join(
        [f"{len(named)} process(es) still running {when}, killed:", *named]
    )


def lines(leaked: Iterable[Leaked]) -> list[str]:
    """One line per process, by pid: ``pid 123: sleep 60``."""
    items = sorted(leaked, key=lambda item: item.pid)
    return [f"pid {item.pid}: {item.command}" for item in items]


def lines_of(text: str) -> list[str]:
    """The lines of a :data:`SECTION` text (:func:`describe`) that name a
    process."""
    return [line for line in text.splitlines() if line.startswith("pid ")]


def interpreter_helpers() -> list[int]:
    """Processes the standard library keeps for the interpreter's lifetime
    and stops at its exit (multiprocessing's resource tracker and fork
    server): not a test's leak."""
    pids: list[int] = []
    tracker = getattr(
        sys.modules.get("multiprocessing.resource_tracker"), "_resource_tracker", None
    )
    server = getattr(sys.modules.get("multiprocessing.forkserver"), "_forkserver", None)
    for value in (
        getattr(tracker, "_pid", None),
        getattr(server, "_forkserver_pid", None),
    ):
        if isinstance(value, int):
            pids.append(value)
    return pids


def zombie_children() -> list[Leaked]:
    """This process's children that have exited and wait to be reaped."""
    me = os.getpid()
    return [
        Leaked(p.pid, p.start, "")
        for p in process_table()
        if p.ppid == me and p.state == "Z"
    ]
