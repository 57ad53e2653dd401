"""The get functions of :mod:`pytest_isolated.finding.kinds`: each reads one
kind of process state, cheaply (a snapshot is taken twice per test).
The private reads that keep it cheap are in ``_compat``; ``/proc`` is read
through :mod:`pytest_isolated.platform.tree`.
"""

from __future__ import annotations

import locale
import logging
import os
import signal
import stat
import sys
import threading
import time
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pytest_isolated import _compat
from pytest_isolated.platform import tree

# -- get functions ---------------------------------------------------------------
#
# Private CPython APIs are only read, never changed: os.environ's own dict and
# _signal.getsignal save most of a snapshot's cost (the public ones are the
# fallback); asyncio has no public way to read the policy or the current loop
# that does not create them.

_SKIPPED_ENV = frozenset({"PYTEST_CURRENT_TEST", b"PYTEST_CURRENT_TEST"})


def _environ() -> dict[Any, Any]:
    # os.environ's own dict: copying it is 100 times faster than decoding
    # every variable through the os.environ mapping.
    env = _compat.environ_copy()
    for name in _SKIPPED_ENV:  # set by pytest during each phase, not a test's
        env.pop(name, None)
    return env


def _cwd() -> str:
    try:
        return os.getcwd()
    except OSError as exc:  # removed, or not ours to read
        return f"<unavailable: {exc.strerror}>"


def _sys_path() -> tuple[str, ...]:
    return tuple(sys.path)


def _meta_path() -> tuple[object, ...]:
    return tuple(sys.meta_path)


def _path_hooks() -> tuple[object, ...]:
    return tuple(sys.path_hooks)


def _thread_hook() -> object:
    return threading.excepthook


_getsignal = _compat.fast_getsignal()
_SIGNALS = tuple(sorted(signal.valid_signals()))


def _signals() -> dict[int, object]:
    return dict(zip(_SIGNALS, map(_getsignal, _SIGNALS), strict=True))


def _root_handlers() -> tuple[logging.Handler, ...]:
    return tuple(logging.root.handlers)


def _root_level() -> int:
    return logging.root.level


def _logging_disable() -> int:
    return logging.root.manager.disable


def _disabled_loggers() -> dict[str, bool]:
    disabled = {
        name: True
        for name, logger in list(logging.Logger.manager.loggerDict.items())
        if isinstance(logger, logging.Logger) and logger.disabled
    }
    if logging.root.disabled:
        disabled["root"] = True
    return disabled


def _umask() -> int:
    # The only way to read it is to set it: put it straight back.
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def _locale() -> str:
    try:
        return locale.setlocale(locale.LC_ALL)
    except locale.Error as exc:
        return f"<unavailable: {exc}>"


def _threads() -> frozenset[threading.Thread]:
    return frozenset(threading.enumerate())


def _asyncio() -> tuple[object, object]:
    """The event loop policy (``"default"`` for asyncio's own, also before
    it is first created) and the loop set as the current one, if any.

    Neither is read through asyncio's functions: ``get_event_loop_policy()``
    creates the policy, and is deprecated since Python 3.14.
    """
    policy, loop = _compat.asyncio_policy_and_loop()
    if policy is None:
        return "default", None
    return ("default" if _is_default_policy(policy) else policy), loop


def _is_default_policy(policy: object) -> bool:
    for module in ("asyncio.unix_events", "asyncio.windows_events"):
        names = vars(sys.modules[module]) if module in sys.modules else {}
        for name in ("_DefaultEventLoopPolicy", "DefaultEventLoopPolicy"):
            if names.get(name) is type(policy):
                return True
    return False


def _socket_timeout() -> float | None:
    socket = sys.modules.get("socket")
    if socket is None:  # not imported: the default
        return None
    timeout: float | None = socket.getdefaulttimeout()
    return timeout


#: decimal's default context (prec, rounding, Emin, Emax, capitals, clamp,
#: traps), what a thread sees before decimal is imported.
_DECIMAL_DEFAULT = (
    28,
    "ROUND_HALF_EVEN",
    -999999,
    999999,
    1,
    0,
    ("DivisionByZero", "InvalidOperation", "Overflow"),
)
_DECIMAL_FIELDS = ("prec", "rounding", "Emin", "Emax", "capitals", "clamp", "traps")


def _decimal() -> tuple[object, ...]:
    decimal = sys.modules.get("decimal")
    if decimal is None:
        return _DECIMAL_DEFAULT
    ctx = decimal.getcontext()
    traps = tuple(sorted(s.__name__ for s, on in ctx.traps.items() if on))
    return (ctx.prec, ctx.rounding, ctx.Emin, ctx.Emax, ctx.capitals, ctx.clamp, traps)


def _warning_filters() -> tuple[object, ...]:
    return tuple(warnings.filters)


def _showwarning() -> object:
    return warnings.showwarning


class _Children:
    """Child processes of this process, by pid.

    Linux: ``/proc``, scanned in full only once.  Later snapshots read the
    last pid the kernel handed out (``/proc/loadavg``) and look only at the
    pids handed out since, as no child can appear without one; and with no
    child at all (``waitid`` says so without reaping anything), nothing is
    read.  Elsewhere: multiprocessing's children, if it was imported.
    """

    #: More new pids than this since the last look: scan /proc in full.
    MAX_STEP = 256

    def __init__(self) -> None:
        self.linux = sys.platform.startswith("linux") and os.path.isdir("/proc/self")
        self.last_pid: int | None = None
        self.known: frozenset[int] = frozenset()

    def get(self) -> frozenset[int]:
        if not self.linux:
            return self._multiprocessing()
        if hasattr(os, "waitid"):
            try:  # WNOWAIT: nothing is reaped
                os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:  # no child at all
                self.known = frozenset()
                return self.known
            except OSError:
                pass
        last = _last_pid()
        if last is not None and last == self.last_pid:
            return self.known
        previous, self.last_pid = self.last_pid, last
        if last is None or previous is None or not 0 < last - previous <= self.MAX_STEP:
            candidates: Iterable[int] = tree.pids()
        else:
            candidates = [*self.known, *range(previous + 1, last + 1)]
        self.known = frozenset(pid for pid in candidates if self._is_child(pid))
        return self.known

    def _is_child(self, pid: int) -> bool:
        found = tree.proc(pid)
        if found is None or found.ppid != os.getpid():
            return False
        # A thread of a child has the child's parent too: keep the leaders.
        status = tree.read(f"/proc/{pid}/status", 4096) or b""
        for line in status.splitlines():
            if line.startswith(b"Tgid:"):
                return line.split()[1:2] == [str(pid).encode()]
        return True

    def _multiprocessing(self) -> frozenset[int]:
        if "multiprocessing" not in sys.modules:
            return frozenset()
        import multiprocessing

        return frozenset(
            p.pid for p in multiprocessing.active_children() if p.pid is not None
        )

    def alive(self, pid: int) -> bool:
        """Whether child *pid* still runs (a zombie has exited)."""
        if not self.linux:
            return True  # multiprocessing listed it alive
        found = tree.proc(pid)
        return found is not None and found.state != "Z"

    def show(self, pid: int, before: object, after: object) -> str:
        raw = tree.read(f"/proc/{pid}/cmdline", 200) if self.linux else None
        command = (
            raw.replace(b"\0", b" ").decode(errors="replace").strip() if raw else ""
        )
        return f"pid {pid} still running" + (f": {_short(command)}" if command else "")


def _last_pid() -> int | None:
    data = tree.read("/proc/loadavg", 200)
    try:
        return int(data.split()[-1]) if data else None
    except ValueError:
        return None


def _fd_dir() -> str | None:
    for path in ("/proc/self/fd", "/dev/fd"):
        if os.name == "posix" and os.path.isdir(path):
            return path
    return None


class _FileDescriptors:
    """Open file descriptors, each as (number, device, inode): a number that
    was closed and reused for another file counts as new."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def get(self) -> frozenset[tuple[int, int, int]]:
        fds = []
        # The listing's own descriptor is listed too, and closed by the time
        # it is looked at: fstat() fails on it and it is left out.
        for name in os.listdir(self.directory):
            try:
                info = os.fstat(int(name))
            except (OSError, ValueError):
                continue
            fds.append((int(name), info.st_dev, info.st_ino))
        return frozenset(fds)

    def show(self, member: tuple[int, int, int], before: object, after: object) -> str:
        fd = member[0]
        try:
            what = os.readlink(f"{self.directory}/{fd}")
        except OSError:
            what = _fd_type(fd)
        return f"fd {fd} still open ({_short(what)})"


def _fd_type(fd: int) -> str:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return "closed since"
    for test, name in ((stat.S_ISFIFO, "pipe"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "directory" if stat.S_ISDIR(mode) else "file"


class _TempDir:
    """The names in the temporary directory, except pytest's own folders.

    The directory is listed again only when its modification time changed,
    or was too recent to trust (a coarse file system clock gives two changes
    in a row the same time).
    """

    EXCLUDED = ("pytest-of-", "pytest-isolated-")
    RACY_NS = 2_000_000_000

    def __init__(self, path: str, basetemp: object) -> None:
        self.path = path
        self.excluded: set[str] = set()
        if basetemp:  # --basetemp inside the temporary directory: pytest's too
            given = Path(os.path.realpath(str(basetemp)))
            root = Path(os.path.realpath(path))
            if root in given.parents:
                self.excluded.add(given.relative_to(root).parts[0])
        self._cache: tuple[int, int, frozenset[str]] | None = None

    def get(self) -> frozenset[str]:
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            return frozenset()
        cache = self._cache
        if cache is not None and cache[0] == mtime and cache[1] - mtime > self.RACY_NS:
            return cache[2]
        listed_at = time.time_ns()
        try:
            names = os.listdir(self.path)
        except OSError:
            return frozenset()
        kept = frozenset(
            n
            for n in names
            if not n.startswith(self.EXCLUDED) and n not in self.excluded
        )
        self._cache = (mtime, listed_at, kept)
        return kept

    def show(self, name: str, before: object, after: object) -> str:
        path = os.path.join(self.path, name)
        return f"left {path}{os.sep if os.path.isdir(path) else ''}"


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
