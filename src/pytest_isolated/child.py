"""Child side: run exactly one group's tests and stream events to the parent.

Started by the parent as ``python -c <bootstrap> CHANNEL WORKDIR`` (see
``process._bootstrap``).  It reads a :class:`~pytest_isolated.protocol.ChildSpec`
from stdin, restores the
parent's import environment, and runs pytest's normal protocol with the
parent's own command line, so every plugin and conftest hook behaves as in the
parent.  What the child must not do, it is stopped from doing here: it
collects only the group's files, runs only the group's tests in the parent's
order, writes no session output (JUnit XML, cache, terminal), starts no
workers and no debugger.  Everything it learns goes to the parent as events.

Only :mod:`pytest_isolated.protocol` is imported from the package.  The parent
starts the interpreter with its own ``sys.path[0]``, so even the import of
pytest below resolves as it did in the parent.
"""

from __future__ import annotations

import contextlib
import faulthandler
import functools
import io
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Generator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pytest

from pytest_isolated.protocol import (
    CHILD_PLUGIN_NAME,
    CRASH_FILE,
    EV_COLLECT_ERROR,
    EV_COLLECTED,
    EV_EXIT,
    EV_FINISHED,
    EV_FORK_EXITED,
    EV_FORKED,
    EV_INTERNAL_ERROR,
    EV_LOGFINISH,
    EV_LOGSTART,
    EV_REPORT,
    EV_STARTED,
    EV_WARNING,
    STDERR_FILE,
    STDOUT_FILE,
    TIMEOUT_FILE,
    ChildSpec,
    encode_event,
    read_tail,
    warning_to_wire,
)

if TYPE_CHECKING:
    import warnings

#: The largest captured section a phase reports (the tail is kept).
MAX_SECTION_BYTES = 16 * 1024 * 1024

#: Options that would make the child write the parent's session outputs, run
#: tests elsewhere, stop early or wait for a debugger; set as shown in the child.
NEUTRAL_OPTIONS: dict[str, Any] = {
    "xmlpath": None,  # --junitxml
    "resultlog": None,
    "report_log": None,  # pytest-reportlog
    "htmlpath": None,  # pytest-html
    "json_report": False,  # pytest-json-report
    "usepdb": False,
    "trace": False,
    "maxfail": 0,
    "stepwise": False,
    "stepwise_skip": False,
    "numprocesses": None,  # pytest-xdist
    "maxprocesses": None,
    "dist": "no",
    "tx": [],
    "looponfail": False,
}


class Channel:
    """The write end of the event pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.lock = threading.Lock()

    def send(self, event: str, **fields: Any) -> None:
        data = encode_event(event, **fields)
        with self.lock:
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                view = view[written:]


class ChildPlugin:
    """Registered in the child's pytest; turns hooks into events."""

    def __init__(
        self,
        spec: ChildSpec,
        channel: Channel,
        stdout: IO[str],
        crash_file: IO[str],
        commands: int | None = None,
    ) -> None:
        self.commands = commands
        self.__name__ = CHILD_PLUGIN_NAME  # the name pluggy registers it under
        self.spec = spec
        self.channel = channel
        self.stdout = stdout
        self.crash_file = crash_file
        self.workdir = Path(spec.workdir)
        self.timeout_file = open(self.workdir / TIMEOUT_FILE, "w")  # noqa: SIM115
        self.collected: dict[str, pytest.Item] = {}
        self.config: pytest.Config | None = None

    # -- configuration -----------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_load_initial_conftests(
        self, early_config: pytest.Config
    ) -> Generator[None]:
        """Keep pytest-cov out of the child: it would start a second
        measurement and write, erase and report the parent's data file before
        pytest_configure could neutralise ``--cov``.  The child is measured by
        coverage.py's own subprocess support (``[run] patch = subprocess``),
        whose data the parent's pytest-cov combines."""
        namespace = early_config.known_args_namespace
        if getattr(namespace, "cov_source", None):
            namespace.cov_source = None
        return (yield)

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config
        for name, value in NEUTRAL_OPTIONS.items():
            if hasattr(config.option, name):
                setattr(config.option, name, value)
        _drop_repeated_entries(
            sys.path, self.spec.sys_path, [str(p) for p in config.getini("pythonpath")]
        )

    @pytest.hookimpl(trylast=True, specname="pytest_configure")
    def pytest_configure_late(self, config: pytest.Config) -> None:
        # The terminal reporter was created while sys.stdout was os.devnull, so
        # the child's own session output goes nowhere; tests get the real one.
        sys.stdout = self.stdout
        if self.spec.capture:
            # Into the capture files at once: what a test prints just before
            # its process dies must not die in a buffer with it.
            sys.stdout = _unbuffered(1, sys.stdout)
            sys.stderr = _unbuffered(2, sys.stderr)
        # pytest's faulthandler plugin pointed faulthandler at stderr; crashes
        # must go to the file the parent reads.
        faulthandler.enable(file=self.crash_file, all_threads=True)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # Collect only the group's files, whatever paths the command line gave.
        session.config.args = list(self.spec.files)
        if self.spec.cwd != self.spec.invocation_dir:
            os.chdir(self.spec.cwd)

    # -- collection --------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        """Walk only towards the group's files.

        Given a file, pytest still lists its directory and makes a node for
        every file there: a group would cost more in a larger suite.
        """
        if collection_path in self.wanted_paths:
            return None
        return True

    @functools.cached_property
    def wanted_paths(self) -> frozenset[Path]:
        """The group's files and every directory above them."""
        wanted: set[Path] = set()
        for name in self.spec.files:
            path = Path(name)
            wanted.add(path)
            wanted.update(path.parents)
        return frozenset(wanted)

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        self.collected.setdefault(item.nodeid, item)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self._send_report(EV_COLLECT_ERROR, report)

    # -- running -----------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        """Run the group's tests in the parent's order.

        Selection (-k, -m, --lf, --deselect) and ordering plugins already did
        their work in the parent; whatever they do in the child is overruled by
        running the parent's list of node ids, looked up among all collected
        items.  ``-x`` is the parent's business, so ``shouldfail`` is ignored.
        """
        for nodeid in self.spec.nodeids:
            self._adopt_xdist_group_id(nodeid)
        if self.commands is not None:
            self._serve_forks()
        else:
            self._run_group()
        return True

    def _run_group(self) -> None:
        items = [self.collected[n] for n in self.spec.nodeids if n in self.collected]
        missing = [n for n in self.spec.nodeids if n not in self.collected]
        self.channel.send(EV_COLLECTED, missing=missing)
        for index, item in enumerate(items):
            nextitem = items[index + 1] if index + 1 < len(items) else None
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            # Sent only now: pytest's warnings plugin records a test's warnings
            # after its logfinish, when the whole protocol ends, and the parent
            # takes a test's events up to its logfinish only.
            self.channel.send(EV_LOGFINISH, nodeid=item.nodeid)

    # -- the fork template ---------------------------------------------------------

    def _serve_forks(self) -> None:
        """Fork one child per command line on stdin, until stdin closes.

        The template has configured pytest and collected every isolated test,
        but never runs one: each fork starts from that state, runs its group
        and exits.  The fork for the next group is made ahead of its command
        and waits for its spec on a pipe, so that the fork itself is off the
        critical path.  The template reports each fork's pid and exit status.
        """
        assert self.commands is not None
        missing = [n for n in self.spec.nodeids if n not in self.collected]
        self.channel.send(EV_COLLECTED, missing=missing)
        forks: dict[int, str] = {}  # running forks: pid -> workdir
        parent = os.getppid()
        spare = self._prefork()
        with os.fdopen(self.commands, "rb") as commands:
            for line in commands:
                spec = ChildSpec.from_json(line)
                pid, to_fork = spare
                os.write(to_fork, line)
                os.close(to_fork)
                forks[pid] = spec.workdir
                self.channel.send(EV_FORKED, workdir=spec.workdir, pid=pid)
                threading.Thread(
                    target=self._wait_fork, args=(pid, forks), daemon=True
                ).start()
                spare = self._prefork()
        os.close(spare[1])  # the unneeded fork reads nothing and leaves
        with contextlib.suppress(OSError):
            os.waitpid(spare[0], 0)
        # The parent is done, or gone: no fork may outlive it, and a gone
        # parent cannot remove their folders, nor this one.
        for pid, workdir in list(forks.items()):
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            shutil.rmtree(workdir, ignore_errors=True)
        if os.getppid() != parent:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _prefork(self) -> tuple[int, int]:
        """Fork a child that waits for its spec; return its pid and its pipe."""
        read_end, write_end = os.pipe()
        _flush_std_streams()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the fork
            try:
                os.close(write_end)
                with os.fdopen(read_end, "rb") as pipe:
                    line = pipe.readline()
                if not line:  # not needed after all
                    os._exit(0)
                self._become_fork(ChildSpec.from_json(line))  # exits
            finally:
                os._exit(70)
        os.close(read_end)
        return pid, write_end

    def _wait_fork(self, pid: int, forks: dict[int, str]) -> None:
        _, status = os.waitpid(pid, 0)
        forks.pop(pid, None)
        self.channel.send(
            EV_FORK_EXITED, pid=pid, returncode=os.waitstatus_to_exitcode(status)
        )

    def _become_fork(self, spec: ChildSpec) -> None:
        """In the fork: become a child that runs *spec*'s group, then exit."""
        os.setsid()  # a session of its own, so that its whole tree can be killed
        assert spec.events_path is not None
        self.channel = Channel(os.open(spec.events_path, os.O_WRONLY))
        self.commands = None
        workdir = Path(spec.workdir)
        if spec.capture:
            for fd, name in ((1, STDOUT_FILE), (2, STDERR_FILE)):
                target = os.open(workdir / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
                os.dup2(target, fd)
                os.close(target)
        os.environ.clear()
        os.environ.update(spec.env)
        os.chdir(spec.cwd)
        self.spec, self.workdir = spec, workdir
        self.crash_file = open(workdir / CRASH_FILE, "w")  # noqa: SIM115
        faulthandler.enable(file=self.crash_file, all_threads=True)
        self.timeout_file = open(workdir / TIMEOUT_FILE, "w")  # noqa: SIM115
        self.channel.send(EV_STARTED, pid=os.getpid())
        self._arm_timeout_dump()
        self._run_group()
        faulthandler.cancel_dump_traceback_later()
        _flush_std_streams()
        self.channel.send(EV_FINISHED, exitstatus=0)
        os._exit(0)

    def _adopt_xdist_group_id(self, nodeid: str) -> None:
        """Give an item the id an xdist worker gave it under ``--dist loadgroup``.

        There the worker appends ``@<xdist_group>`` to the ids of marked tests
        (on pytest < 9.2, by setting ``item._nodeid``); the child, which is no
        worker, does not.  The same private attribute makes the reports match.
        """
        at = nodeid.rfind("@")
        if nodeid in self.collected or at <= nodeid.rfind("]"):
            return
        item = self.collected.get(nodeid[:at])
        if item is not None:
            item._nodeid = nodeid  # type: ignore[attr-defined]
            if item.nodeid == nodeid:
                self.collected[nodeid] = item

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        self.channel.send(EV_LOGSTART, nodeid=nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._send_report(EV_REPORT, report)

    def pytest_warning_recorded(
        self, warning_message: warnings.WarningMessage, when: str, nodeid: str
    ) -> None:
        self.channel.send(
            EV_WARNING,
            when=when,
            nodeid=nodeid,
            warning=warning_to_wire(warning_message),
        )

    def pytest_keyboard_interrupt(
        self, excinfo: pytest.ExceptionInfo[BaseException]
    ) -> None:
        """A test called pytest.exit() or raised KeyboardInterrupt: the parent's
        session must end the same way."""
        exc = excinfo.value
        if isinstance(exc, pytest.exit.Exception):
            returncode = exc.returncode if exc.returncode is not None else 2
            self.channel.send(EV_EXIT, reason=exc.msg, returncode=int(returncode))
        else:
            self.channel.send(EV_EXIT, reason=None, returncode=2)

    def pytest_internalerror(self, excrepr: object) -> None:
        self.channel.send(EV_INTERNAL_ERROR, text=str(excrepr))

    def _send_report(
        self, event: str, report: pytest.TestReport | pytest.CollectReport
    ) -> None:
        assert self.config is not None
        hook = self.config.hook
        data = hook.pytest_report_to_serializable(config=self.config, report=report)
        self.channel.send(event, report=data)

    # -- per-phase capture and the timeout dump ----------------------------------

    # trylast: the innermost wrapper, so that stdout and stderr sections come
    # before the logging plugin's, in pytest's usual order.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None]:
        return (yield from self._phase(item, "setup"))

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None]:
        return (yield from self._phase(item, "call"))

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None]:
        return (yield from self._phase(item, "teardown"))

    def _phase(self, item: pytest.Item, when: str) -> Generator[None]:
        if self._shared_timer(item.config):
            self._arm_timeout_dump()
        if not self.spec.capture:
            return (yield)
        _flush_std_streams()
        for fd in (1, 2):
            with contextlib.suppress(OSError):  # the test may have closed it
                os.ftruncate(fd, 0)
                os.lseek(fd, 0, os.SEEK_SET)
        try:
            return (yield)
        finally:
            _flush_std_streams()
            for fd, key, name in (
                (1, "stdout", STDOUT_FILE),
                (2, "stderr", STDERR_FILE),
            ):
                try:
                    written = os.fstat(fd).st_size
                except OSError:  # closed by the test: read the file by name
                    written = 1
                if written:
                    text = read_tail(self.workdir / name, MAX_SECTION_BYTES)
                    item.add_report_section(when, key, text)

    @staticmethod
    @functools.cache
    def _shared_timer(config: pytest.Config) -> bool:
        """Whether pytest's faulthandler_timeout uses (and cancels, after each
        test) faulthandler's one timer, which then needs re-arming per phase."""
        try:
            return float(config.getini("faulthandler_timeout") or 0) > 0
        except (ValueError, TypeError):
            return False

    def _arm_timeout_dump(self) -> None:
        """Dump every thread's stack shortly before the parent's deadline.

        Armed when the group starts; re-armed at each phase only when pytest's
        own ``faulthandler_timeout`` shares faulthandler's single timer.
        """
        if self.spec.deadline is None:
            return
        delay = self.spec.deadline - self.spec.dump_margin - time.time()
        faulthandler.dump_traceback_later(
            max(delay, 0.001), file=self.timeout_file, exit=False
        )


def _drop_repeated_entries(
    path: list[str], parents: list[str], entries: list[str]
) -> None:
    """Undo this pytest's second insertion of the ``pythonpath`` ini entries.

    pytest 9.2 applies ``pythonpath`` before it imports plugins, so the
    parent's ``sys.path`` that the child starts from already holds them, and
    the child's pytest inserts them again.  Each entry keeps as many copies as
    the parent had (at least one), the first ones, as in the parent.
    """
    for entry in entries:
        keep = max(parents.count(entry), 1)
        while path.count(entry) > keep:
            first = path.index(entry)
            del path[path.index(entry, first + 1)]


def _unbuffered(fd: int, like: IO[str]) -> IO[str]:
    """A text stream on *fd* that writes through to the file at every call."""
    raw = io.FileIO(fd, "w", closefd=False)
    encoding = getattr(like, "encoding", None) or "utf-8"
    errors = getattr(like, "errors", None) or "strict"
    return io.TextIOWrapper(raw, encoding=encoding, errors=errors, write_through=True)


def _flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()


def _own_workdir() -> Path:
    """The workdir the parent made for this interpreter (named in argv)."""
    return Path(sys.argv[2]) if len(sys.argv) > 2 else Path(os.devnull)


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
            with contextlib.suppress(OSError):
                os.killpg(0, signal.SIGKILL)  # this child is its group's leader
        os._exit(1)

    threading.Thread(target=watch, name="pytest-isolated-lifeline", daemon=True).start()


def _open_channel(arg: str) -> int:
    kind, _, value = arg.partition(":")
    if kind == "handle" and sys.platform == "win32":  # an inherited pipe handle
        import msvcrt

        return msvcrt.open_osfhandle(int(value), os.O_WRONLY)
    return int(value)


def main() -> int:
    """Entry point: ``sys.argv[1]`` names the event channel."""
    channel = Channel(_open_channel(sys.argv[1]))
    line = sys.stdin.buffer.readline()
    if not line:  # a pre-started interpreter that was not needed
        shutil.rmtree(_own_workdir(), ignore_errors=True)
        return 0
    spec = ChildSpec.from_json(line)
    # The parent keeps stdin open while it lives: a fork template reads its
    # commands there, other children watch it for the parent's death.  Tests
    # read an empty stdin, as under pytest's capture.
    commands: int | None = os.dup(0)
    if not spec.template:
        assert commands is not None
        _watch_parent(commands, Path(spec.workdir))
        commands = None
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.path[:] = spec.sys_path
    # The interpreter may have been started before the group: take the
    # environment as it is now, as a freshly started one would have.
    os.environ.clear()
    os.environ.update(spec.env)
    os.chdir(spec.invocation_dir)
    crash_file = open(Path(spec.workdir) / CRASH_FILE, "w")  # noqa: SIM115
    faulthandler.enable(file=crash_file, all_threads=True)
    channel.send(EV_STARTED, pid=os.getpid())
    stdout = sys.stdout
    plugin = ChildPlugin(spec, channel, stdout, crash_file, commands)
    plugin._arm_timeout_dump()
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - see ChildPlugin.pytest_configure_late
    try:
        exitstatus = int(pytest.main(spec.args, plugins=[plugin]))
    except BaseException as exc:  # noqa: BLE001 - reported, then the child ends
        channel.send(EV_INTERNAL_ERROR, text=f"{type(exc).__name__}: {exc}")
        exitstatus = 3
    finally:
        sys.stdout = stdout
    faulthandler.cancel_dump_traceback_later()
    _flush_std_streams()
    channel.send(EV_FINISHED, exitstatus=exitstatus)
    return exitstatus
