"""Child side: the plugin that runs exactly one group's tests in the child.

Registered by :mod:`pytest_isolated.child.entry` in the child's ``pytest.main()``,
which runs with the parent's own command line, so that every plugin and
conftest hook behaves as in the parent.  What the child must not do, it is
stopped from doing here: it collects only the group's files, runs only the
group's tests in the parent's order, writes no session output (JUnit XML,
cache, terminal), starts no workers and no debugger.  Everything it learns
goes to the parent as events.  A fork template runs no test: it collects, then
serves forks (:mod:`pytest_isolated.child.forkserver`), each of which comes back
here to run its group like a spawned child.

Imports only the child-side modules of the package and ``protocol``.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Generator
from pathlib import Path
from typing import IO, Any

import pytest

from pytest_isolated import _compat
from pytest_isolated.child import passthrough, process
from pytest_isolated.child.capture import LogFileTail, PhaseCapture
from pytest_isolated.child.channel import Channel
from pytest_isolated.child.forkserver import ForkServer
from pytest_isolated.child.passthrough import TerminalTap
from pytest_isolated.child.relay import EventRelay
from pytest_isolated.child.stacks import Dumps
from pytest_isolated.child.turns import Turns
from pytest_isolated.platform.resources import (
    Usage,
    apply_limits,
    group_baseline,
    own_usage,
)
from pytest_isolated.protocol import (
    CACHE_DIR,
    EV_COLLECTED,
    EV_LOGFINISH,
    EV_STARTED,
    GO_FIFO,
    LOG_FILE,
    ChildSpec,
)
from pytest_isolated.roles import CHILD_PLUGIN_NAME

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
    "pastebin": None,
    "clean_alluredir": False,  # allure-pytest: the parent's session cleaned it
}

STDIO_PLUGIN_NAME = "pytest-isolated-stdio"
XDIST_NAME = "pytest-isolated-xdist-fixtures"


class ChildPlugin:
    """Registered in the child's pytest; runs exactly the group's tests."""

    def __init__(
        self,
        spec: ChildSpec,
        channel: Channel,
        stdout: IO[str],
        dumps: Dumps,
        tap: TerminalTap,
        commands: int | None = None,
    ) -> None:
        self.__name__ = CHILD_PLUGIN_NAME  # the name pluggy registers it under
        self.spec = spec
        self.channel = channel
        self.stdout = stdout
        self.dumps = dumps
        self.commands = commands
        self.tap = tap
        workdir = Path(spec.workdir)
        self.stdio = PhaseCapture(workdir, spec.capture, dumps, live=spec.tee)
        self.log_file = LogFileTail(workdir / LOG_FILE)
        #: Registered beside this plugin (see entry.py).
        self.relay = EventRelay(channel, tap)
        self.stdio.on_phase = self.relay.phase_starts
        self.collected: dict[str, pytest.Item] = {}
        self.config: pytest.Config | None = None
        #: When each test's turn comes (None: run the group straight through).
        self.turns: Turns | None = None

    # -- configuration -----------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_load_initial_conftests(
        self, early_config: pytest.Config
    ) -> Generator[None]:
        """Keep pytest-cov out: it would erase and report the parent's data
        before ``--cov`` is neutralised; coverage.py's subprocess support
        (``[run] patch = subprocess``) measures the child."""
        _compat.disable_early_option(early_config, "cov_source")
        return (yield)

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config
        _neutralise(config)
        _drop_repeated_entries(
            sys.path, self.spec.sys_path, [str(p) for p in config.getini("pythonpath")]
        )

    @pytest.hookimpl(trylast=True, specname="pytest_configure")
    def pytest_configure_late(self, config: pytest.Config) -> None:
        # The terminal reporter was created while sys.stdout was os.devnull, so
        # the child's own session output goes nowhere; tests get the real one.
        sys.stdout = self.stdout
        # pytest's faulthandler plugin pointed faulthandler at stderr; crashes
        # must go to the file the parent reads.
        self.dumps.enable()
        self.stdio.take_streams()
        config.pluginmanager.register(self.stdio, STDIO_PLUGIN_NAME)
        passthrough.take_terminal_and_junit(config, self.spec, self.channel.send)
        passthrough.show_disabled_capture_live(
            config, self.tap, self.stdio.passed_through
        )
        _drop_bookkeeping(config)
        if os.environ.get("PYTEST_XDIST_WORKER"):
            config.pluginmanager.register(passthrough, XDIST_NAME)

    @pytest.hookimpl(tryfirst=True)
    def pytest_unconfigure(self, config: pytest.Config) -> None:
        # pytest's JUnit plugin would unregister the stand-in as its writer.
        key = _compat.junit_key()
        if self.spec.junit_family is not None and key in config.stash:
            del config.stash[key]

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # Collect only the group's files (pytest_ignore_collect), from the
        # parent's arguments that lead to them: a node id outside the rootdir
        # is relative to the argument it was found under.
        if not self.spec.whole:
            towards = _arguments_towards(session.config, self.wanted_paths)
            session.config.args = towards or list(self.spec.files)
        if self.spec.cwd != self.spec.invocation_dir:
            os.chdir(self.spec.cwd)

    # -- collection --------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_ignore_collect(self, collection_path: Path) -> bool | None:
        """Walk only towards the group's files.

        Given a file, pytest still lists its directory and makes a node for
        every file there: a group would cost more in a larger suite.
        """
        if self.spec.whole or collection_path in self.wanted_paths:
            return None
        return True

    @functools.cached_property
    def wanted_paths(self) -> frozenset[Path]:
        """The group's files and every directory above them."""
        return frozenset(
            p for f in self.spec.files for p in (Path(f), *Path(f).parents)
        )

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        self.collected.setdefault(item.nodeid, item)

    # -- running -----------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        """Run the group's tests in the parent's order.

        Selection (-k, -m, --lf, --deselect) and ordering plugins already did
        their work in the parent; whatever they do in the child is overruled by
        running the parent's list of node ids, looked up among all collected
        items.  ``-x`` is the parent's business, so ``shouldfail`` is ignored.
        A fork template returns from here when the parent needs no more forks;
        each of its forks returns with its own group to run.
        """
        for nodeid in self.spec.nodeids:
            _adopt_xdist_group_id(self.collected, nodeid)
        if self.spec.template:
            assert self.commands is not None
            missing = [n for n in self.spec.nodeids if n not in self.collected]
            if self.spec.whole:  # the parent did not know what to ask for
                self.channel.send(EV_COLLECTED, missing=[], collected=[*self.collected])
            else:
                self.channel.send(EV_COLLECTED, missing=missing)
            server = ForkServer(self, self.commands, self.spec.workdir)
            if not server.serve():
                return True  # the template is done
        self._run_group()
        return True

    def _run_group(self) -> None:
        items = [self.collected[n] for n in self.spec.nodeids if n in self.collected]
        missing = [n for n in self.spec.nodeids if n not in self.collected]
        baseline = _start_group(self.spec, self.dumps)
        others = _other_ids(self.collected, missing)
        self.channel.send(
            EV_COLLECTED, missing=missing, baseline=_wire(baseline), others=others
        )
        self.relay.last_nodeid = items[-1].nodeid if items else None
        positions = [i for i, n in enumerate(self.spec.nodeids) if n in self.collected]
        for index, item in enumerate(items):
            if not _turn_comes(self.turns, self.dumps, positions[index]):
                break  # the parent stopped the session before this test
            nextitem = items[index + 1] if index + 1 < len(items) else None
            item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
            if not self.channel.ours:
                # A test forked and its child came back here: it is not ours
                # to run the group on.
                os._exit(0)
            # Sent only now: pytest's warnings plugin records a test's warnings
            # after its logfinish, when the whole protocol ends, and the parent
            # takes a test's events up to its logfinish only.
            self.channel.send(
                EV_LOGFINISH,
                nodeid=item.nodeid,
                log=self.log_file.read_new(),
                usage=_wire(own_usage(baseline)),
            )
        self.stdio.restore()

    # -- a fork of the template ---------------------------------------------------

    def send(self, event: str, **fields: Any) -> None:
        self.channel.send(event, **fields)

    def hold(self, event: str, **fields: Any) -> None:
        self.channel.hold(event, **fields)

    def enter_group(self, spec: ChildSpec) -> None:
        """In a new fork of the template: become the child that runs *spec*'s
        group, with files of its own where the template had its own."""
        config = self.config
        assert config is not None
        assert spec.events_path is not None
        self.channel.reopen(os.open(spec.events_path, os.O_WRONLY))
        process.become_child(spec, forked=True)
        self.spec = spec
        workdir = Path(spec.workdir)
        if spec.wait_for_turn:  # the parent holds the FIFO open: no blocking
            self.turns = Turns(os.open(workdir / GO_FIFO, os.O_RDONLY))
        self.dumps.open(workdir, spec.timeout, spec.dump_margin)
        self.stdio.workdir = workdir
        self.stdio.take_streams()
        _compat.redirect_faulthandler_plugin(config)
        handler = _compat.log_file_handler(config)
        if handler is not None and config.getoption("log_file", None):
            self.log_file.restart(workdir / LOG_FILE)
            stream = open(self.log_file.path, "w", encoding="UTF-8")  # noqa: SIM115
            handler.setStream(stream).close()  # the handler owns the new one
        _compat.set_basetemp(config, Path(spec.basetemp))
        _compat.set_cache_dir(config, workdir / CACHE_DIR)
        passthrough.take_terminal_and_junit(config, self.spec, self.channel.send)
        # Goes with the group's first event (collected), in one write.
        self.channel.hold(EV_STARTED, pid=os.getpid())


def _neutralise(config: pytest.Config) -> None:
    """Stop the child from writing the session's outputs (configure, first)."""
    for name, value in NEUTRAL_OPTIONS.items():
        if hasattr(config.option, name):
            setattr(config.option, name, value)


def _drop_bookkeeping(config: pytest.Config) -> None:
    """Unregister what the cache plugin registered (configure, last).

    The cache's last-failed and new-first bookkeeping is the parent's: in a
    child (a fork's template collected the whole session) it would only
    write files nobody reads.
    """
    for name in ("lfplugin", "nfplugin"):
        bookkeeper = config.pluginmanager.get_plugin(name)
        if bookkeeper is not None:
            config.pluginmanager.unregister(bookkeeper, name)


def _adopt_xdist_group_id(collected: dict[str, pytest.Item], nodeid: str) -> None:
    """Give an item the id an xdist worker gave it under ``--dist loadgroup``.

    There the worker appends ``@<xdist_group>`` to the ids of marked tests;
    the child, which is no worker, does not.
    """
    at = nodeid.rfind("@")
    if nodeid in collected or at <= nodeid.rfind("]"):
        return
    item = collected.get(nodeid[:at])
    if item is not None:
        _compat.set_nodeid(item, nodeid)
        if item.nodeid == nodeid:
            collected[nodeid] = item


def _start_group(spec: ChildSpec, dumps: Dumps) -> Usage | None:
    """As the group's first test comes: its environment, limits and baseline."""
    if not _compat.environ_is(spec.env):
        # The tests see the parent's environment as their group started,
        # whatever this child's own start-up did to it.
        os.environ.clear()
        os.environ.update(spec.env)
    # The group's usage and limits count from here: what the interpreter,
    # pytest, the collection (and, in a fork, the template) hold is not its.
    baseline = group_baseline()
    apply_limits(spec.mem_limit, spec.cpu_limit)
    if spec.cpu_limit is not None:
        dumps.on_cpu_limit()
    return baseline


def _turn_comes(turns: Turns | None, dumps: Dumps, position: int) -> bool:
    """Wait until the parent lets the spec's test at *position* run (see
    turns.py); False if it never will."""
    if turns is None:
        return True
    dumps.hold()
    waited = turns.wait(position)
    if waited is None:
        return False
    dumps.waited(waited)  # the group's time limit counts no waiting
    return True


def _wire(used: Usage | None) -> dict[str, float] | None:
    return None if used is None else used.to_wire()


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


def _arguments_towards(config: pytest.Config, wanted: frozenset[Path]) -> list[str]:
    """The command line's own arguments (or ``testpaths``) that name one of
    the group's files or a folder above one (in *wanted*)."""
    kept = []
    for arg in config.args:
        path = _compat.collection_argument_path(config, arg)
        if path is not None and path in wanted:
            kept.append(arg)
    return kept


def _other_ids(
    collected: dict[str, pytest.Item], missing: list[str]
) -> dict[str, list[str]]:
    """For each missing id, the ids collected for the same function under
    other parameters (ids built from random values or a set's order differ
    from one process to the next)."""
    others: dict[str, list[str]] = {}
    for nodeid in missing:
        base, bracket, _ = nodeid.partition("[")
        if bracket:
            found = [n for n in collected if n.startswith(base + "[")]
            if found:
                others[nodeid] = found[:10]
    return others
