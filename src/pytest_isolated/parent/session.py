"""Parent side: the pytest hooks that run isolated tests, in the session's order.

``pytest_runtest_protocol`` is taken over for isolated tests only.  When the
first test of a group comes up, the group's subprocess starts with the whole
group (:mod:`pytest_isolated.parent.pool`); each test's reports are then re-emitted,
in the session's run order, through the normal ``logstart`` / ``logreport`` /
``logfinish`` hooks, so that the terminal, JUnit XML, ``--lf``, ``-x`` and
third-party reporters see a normal test.  If the subprocess crashes or times
out, the test it was running fails with the cause
(:mod:`pytest_isolated.parent.grouprun`), and the group's remaining tests continue in
a fresh subprocess: every test gets exactly one real outcome.
"""

from __future__ import annotations

import faulthandler
from collections.abc import Generator
from typing import NoReturn

import pytest

from pytest_isolated import _compat
from pytest_isolated.parent.ahead import Ahead
from pytest_isolated.parent.driver import Driver
from pytest_isolated.parent.emit import emit
from pytest_isolated.parent.grouping import Group, plan_groups
from pytest_isolated.parent.grouprun import GroupRun, Incident
from pytest_isolated.parent.outcome import Outcome
from pytest_isolated.parent.pool import Pool
from pytest_isolated.parent.usage import UsageLedger
from pytest_isolated.protocol import LEAKED_ATTRIBUTE
from pytest_isolated.settings import Settings, request_of


class IsolationScheduler:
    """The parent-side plugin object, registered when isolation is on.

    All children report to one inbox.  While the main thread waits for one
    test's outcome it handles every child's messages, so that under
    ``--isolated-parallel`` finished groups free their slot at once.
    """

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.pool = Pool(config, settings)
        self.driver = Driver(self.pool)
        self.groups: dict[pytest.Item, Group[pytest.Item]] = {}
        self.order: list[Group[pytest.Item]] = []
        self.runs: dict[int, GroupRun] = {}
        # Groups run straight through when they may run beside each other;
        # with one at a time, each test waits for its turn.
        self.lookahead = settings.parallel > 1
        self.started: set[int] = set()  # indexes of the groups ever started
        self.ahead = Ahead(self)
        #: Each crash or timeout, in order.
        self.incidents: list[Incident] = []
        #: (nodeid, "pid N: command") of each process a group left running.
        self.leaks: list[tuple[str, str]] = []
        self.faulthandler_timeout = _faulthandler_timeout(config)
        #: What each group used; it also bounds `auto` parallelism by memory.
        self.ledger = UsageLedger(config, memory_aware=settings.parallel_auto)
        #: Where a test raised the KeyboardInterrupt that ends the session.
        self.interrupted_at: tuple[str, int, str] | None = None
        #: Whether the fork template starts before the collection (every
        #: test is forked, and this is no pytest-xdist run).
        self.fork_early = False

    # trylast: after other plugins' start-up, which the template does again.
    @pytest.hookimpl(trylast=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.fork_early:
            self.pool.start_template_early()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        requests = [
            (item, request_of(item, self.settings.isolate_all))
            for item in session.items
        ]
        settings = self.settings
        self.groups = plan_groups(
            requests, settings.timeout, settings.mem_limit, settings.cpu_limit
        )
        unique = {group.index: group for group in self.groups.values()}
        self.order = [unique[index] for index in sorted(unique)]
        self.pool.specs.collection_done()
        self.pool.start_template(self.order)
        if self.order and (
            self.config.getoption("usepdb", False)
            or self.config.getoption("trace", False)
        ):
            self.pool.tell_once(
                "pytest-isolated: --pdb and --trace do not reach into the "
                "subprocesses of isolated tests; run with --no-isolation to "
                "debug them"
            )

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> bool | None:
        group = self.groups.get(item)
        if group is None:
            return None
        if self.faulthandler_timeout:
            # pytest's faulthandler plugin armed its timer around this test;
            # a dump of the parent's threads would tell nothing about it.
            faulthandler.cancel_dump_traceback_later()
        outcome = self._outcome(item, group, nextitem)
        emit(item, nextitem, outcome)
        return True

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Remember the processes a group left running, for the summary (under
        pytest-xdist, the controller sees its workers' reports here)."""
        named: list[str] = getattr(report, LEAKED_ATTRIBUTE, None) or []
        self.leaks.extend((report.nodeid, line) for line in named)

    # -- running groups --------------------------------------------------------

    def _outcome(
        self, item: pytest.Item, group: Group[pytest.Item], nextitem: pytest.Item | None
    ) -> Outcome:
        """Let *item* run (and *nextitem*, if the group's next test); block
        until its outcome is known (reported, crashed, timed out)."""
        run = self.runs.get(group.index)
        if run is not None and not self.ahead.still_fits(run):
            self.driver.stop(run)  # the group gets a fork of this moment
            run = None
        if run is None:
            run = self.runs[group.index] = GroupRun(self.config, group)
        while item not in run.done:
            if run.exit_request is not None:
                if run.exit_request.reason is None:  # a KeyboardInterrupt
                    self.interrupted_at = run.exit_request.where
                _exit_like_the_child(item, run)
            if run.needs_child and self.may_start(run.group):
                self.launch(run)
            run.let_run(item, nextitem)
            self.ahead.fill()
            self.ahead.fork_next(group, nextitem)
            delivered = self.driver.deliver()
            if delivered is not None and delivered.step.incident is not None:
                if not self.ahead.lost_unused(delivered.run):
                    self.incidents.append(delivered.step.incident)
                elif delivered.run is run:  # its group starts anew
                    run = self.runs[group.index] = GroupRun(self.config, group)
        outcome = run.done.pop(item)
        if not run.pending and not run.done:  # every result was reported
            self.driver.release(run.release())
            self.ledger.record(group, run.used)
            del self.runs[group.index]
        return outcome

    def may_start(self, group: Group[pytest.Item]) -> bool:
        """Whether memory allows *group* to start beside the groups running."""
        others = any(r.child is not None for r in self.runs.values())
        return self.ledger.may_start(group, others_running=others)

    @pytest.hookimpl(trylast=True)
    def pytest_keyboard_interrupt(self) -> None:
        """A KeyboardInterrupt a test raised in a child is shown where the
        test raised it, as without isolation."""
        if self.interrupted_at is not None:
            _compat.locate_interrupt(self.config, *self.interrupted_at)

    def launch(self, run: GroupRun) -> None:
        self.started.add(run.group.index)
        more_to_come = len(self.started) < len(self.order)
        # One test at a time, in the run order, unless groups may run ahead
        # (--isolated-parallel): then the group runs straight through.
        self.driver.launch(
            run, prestart_next=more_to_come, wait_for_turn=not self.lookahead
        )
        if not more_to_come:
            self.pool.no_more_groups()

    # -- the end ---------------------------------------------------------------

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter
    ) -> None:
        """List the groups whose subprocess crashed or timed out; with
        --isolated-usage, also how many subprocesses ran and for how long."""
        tr = terminalreporter
        _list_incidents_and_leaks(tr, self.incidents, self.leaks)
        seconds = self.pool.reaper.child_seconds
        # A fork made ahead of a turn that never came (-x, a discarded one)
        # is not counted: the run is described as if none had been.
        children = self.pool.children_started - self.ahead.unused
        groups = len(self.started - self.ahead.never_ran)
        ran = (
            f"pytest-isolated: {children} subprocess(es) for "
            f"{groups} group(s), {seconds:.2f}s in total"
        )
        self.ledger.table(tr, ran if groups else "")

    # trylast: inside the other plugins' wrappers (pytest-cov combines after).
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtestloop(
        self, session: pytest.Session
    ) -> Generator[None, object, object]:
        """Every child has ended, and handed over its output, before any
        plugin's pytest_sessionfinish: a child's last files are written and
        its data is in (``pytest_isolated_child_output``)."""
        try:
            return (yield)
        finally:
            self.pytest_sessionfinish()

    def pytest_sessionfinish(self) -> None:
        """Stop what still runs (-x, Ctrl-C) and reap every child."""
        for run in list(self.runs.values()):
            self.driver.stop(run)
        self.runs.clear()
        self.ahead.end()
        self.pool.shutdown()
        self.ledger.save()


def _list_incidents_and_leaks(
    tr: pytest.TerminalReporter,
    incidents: list[Incident],
    leaks: list[tuple[str, str]],
) -> None:
    """The summary's sections: each crash or timeout, each process killed."""
    if incidents:
        tr.section("isolated subprocesses that crashed or timed out", sep="=")
        for incident in incidents:
            group, nodeid, cause = incident.group, incident.nodeid, incident.cause
            named = group != nodeid and repr(group) not in cause.summary
            where = f"{nodeid} (group {group!r})" if named else nodeid
            tr.line(f"{where}: {cause.summary}", red=True)
    if leaks:
        tr.section("isolated processes left running, killed", sep="=")
        for nodeid, line in leaks:
            tr.line(f"{nodeid}: {line}", yellow=True)


def _exit_like_the_child(item: pytest.Item, run: GroupRun) -> NoReturn:
    """A test called pytest.exit() (or raised KeyboardInterrupt) in the
    child: report what it reported, then end the session as pytest would."""
    assert run.exit_request is not None
    reason, returncode = run.exit_request.reason, run.exit_request.returncode
    ihook = item.ihook
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    now = run.now
    if now.running is not None and now.running_item is item:
        for report in now.running.reports:
            ihook.pytest_runtest_logreport(report=report)
    __tracebackhide__ = True
    if reason is None:
        raise KeyboardInterrupt
    pytest.exit(reason, returncode)


def _faulthandler_timeout(config: pytest.Config) -> bool:
    try:
        return float(config.getini("faulthandler_timeout") or 0) > 0
    except (ValueError, TypeError):  # not ours to report
        return False
