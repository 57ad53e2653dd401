"""Find the tests that change the state of pytest's own process.

With ``--isolated-check-state`` (ini ``isolated_check_state``), every test
that runs in pytest's process (all of them under ``--no-isolation``; isolated
tests are left out, as their state dies with their subprocess) is compared
before its setup and after its teardown with a snapshot of process-wide state:
the environment, the working directory, ``sys.path``, hooks, signal handlers,
threads, child processes, file descriptors, files left in the temporary
directory... Each change is reported once, naming the test, the kind of state
and a short before/after; ``fail`` also makes it an error at the test's
teardown.  Modelled on CPython's ``test.libregrtest.save_env``:
:class:`ProcessState` lists each kind of state as data, with a cheap get
function and a describer; checking one more kind is adding one line.

Both snapshots are taken in our ``pytest_runtest_setup`` and
``pytest_runtest_teardown`` wrappers (tryfirst): outside pytest's per-phase
capture and logging, which have put ``sys.stdout`` and the root logger's
handlers back by then, and inside what wraps the whole test protocol
(pytest's per-test warning filters, pytest-timeout's timer), which is still
in place at both points.  What pytest does and undoes around a test therefore
never counts, and a failure raised in the teardown wrapper is pytest's own
teardown error.

A fixture of a wider scope (class, module, package, session) is set up in
one test and torn down in another: a snapshot before and after its own
setup tells what it changed, so that no test is blamed for it; what it set up
and left after its teardown is reported then, as that fixture's change.

"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Hashable
from typing import Any

import pytest

from pytest_isolated import options
from pytest_isolated.finding.kinds import Change, ProcessState, Snapshot, compare
from pytest_isolated.settings import Settings, request_of

PLUGIN_NAME = "pytest-isolated-statecheck"  # as plugin.STATECHECK_NAME
FAIL = "fail"
#: The terminal reporter's stats key: the summary line shows "N changed state".
STAT_KEY = "changed state"
SECTION = "tests that changed the process state"
HINT = (
    "hint: mark such a test @pytest.mark.isolated (it then runs in a subprocess "
    "of its own), or restore the state it changes in a fixture"
)
#: The teardown report's attribute that carries its changes as
#: ``[who, kind, change]`` lists (plain data: it crosses pytest-xdist's wire).
REPORT_ATTR = "isolated_state_changes"


def register(config: pytest.Config, settings: Settings) -> None:
    """Register the check in pytest's process (isolated tests are not checked)."""
    mode = options.value(config, "isolated_check_state")
    config.pluginmanager.register(StateCheck(config, settings, mode), PLUGIN_NAME)


# -- the plugin ---------------------------------------------------------------


@dataclasses.dataclass
class _Fixture:
    """A wider-scoped fixture set up during a checked test, until its teardown."""

    label: str
    before: Snapshot
    after_setup: Snapshot
    #: The tick of the test that set it up: changes reported since are not
    #: reported again.
    tick: int


_BEFORE = pytest.StashKey[Snapshot]()
#: Changes to list on the teardown report, as [who, kind, change].
_CHANGES = pytest.StashKey[list[list[str]]]()


class StateCheck:
    """The plugin object, registered in pytest's process when the check is on.

    A fixture of a wider scope than the function is set up in one test's
    setup and torn down in another's teardown (or several modules later).
    Its own snapshots, around its setup, tell what it changed: a test is
    not blamed for a value such a live fixture set up, nor for one put back
    as it was before such a fixture that its teardown tore down.  What the
    fixture set up and is still there after its own teardown is reported
    then, as the fixture's change.
    """

    def __init__(self, config: pytest.Config, settings: Settings, mode: str) -> None:
        self.settings = settings
        self.mode = mode
        self.state = ProcessState(
            basetemp=config.getoption("basetemp", None),
            warnings_kept=config.pluginmanager.has_plugin("warnings"),
        )
        #: The checked test between its setup and the end of its teardown.
        self.current: pytest.Item | None = None
        self.tick = 0  # one per checked test
        #: Live wider-scoped fixtures, by fixture definition.
        self.fixtures: dict[object, _Fixture] = {}
        #: Wider-scoped fixtures torn down since the last comparison.
        self.finished: list[_Fixture] = []
        #: (kind, key) -> the tick it was last reported at.
        self.reported: dict[tuple[str, Hashable], int] = {}
        #: Every change the session's teardown reports carried: (who, kind, change).
        self.changed: list[tuple[str, str, str]] = []

    def _checked(self, item: pytest.Item) -> bool:
        # An isolated test's state dies with its subprocess.
        settings = self.settings
        return settings.disabled or request_of(item, settings.isolate_all) is None

    # -- taking the snapshots --------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None]:
        if not self._checked(item):
            return (yield)
        self.tick += 1
        self.current = item
        before = item.stash[_BEFORE] = self.state.snapshot()
        if self.finished:  # torn down in an isolated test's slot
            found = self._fixture_changes(before)
            item.stash[_CHANGES] = [[who, c.kind, c.text] for who, c in found]
        return (yield)

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> Generator[None]:
        before = item.stash.get(_BEFORE, None)
        if before is None:
            return (yield)
        del item.stash[_BEFORE]
        try:
            result = yield
        except BaseException:
            self._check(item, before)  # listed; the teardown's own error stands
            raise
        finally:
            self.current = None
        changes = self._check(item, before)
        if changes and self.mode == FAIL:
            pytest.fail(_failure(item.nodeid, changes), pytrace=False)
        return result

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None, object, object]:
        if self.current is None or fixturedef.scope == "function":
            return (yield)
        before = self.state.snapshot()
        result = yield  # a fixture whose setup raised is the test's business
        label = (
            f"{fixturedef.scope}-scoped fixture {fixturedef.argname!r} "
            f"(set up with {self.current.nodeid})"
        )
        self.fixtures[fixturedef] = _Fixture(
            label, before, self.state.snapshot(), self.tick
        )
        return result

    def pytest_fixture_post_finalizer(self, fixturedef: pytest.FixtureDef[Any]) -> None:
        fixture = self.fixtures.pop(fixturedef, None)
        if fixture is not None:
            self.finished.append(fixture)

    # -- comparing -------------------------------------------------------------

    def _check(self, item: pytest.Item, before: Snapshot) -> list[list[str]]:
        """After the teardown: the test's own changes (returned) and those of
        the fixtures its teardown tore down, kept for the report."""
        after = self.state.snapshot()
        allowed = [fixture.after_setup for fixture in self.fixtures.values()]
        allowed += [fixture.before for fixture in self.finished]
        own = compare(self.state.kinds, before, after, allowed)
        for change in own:
            self.reported[(change.kind, change.key)] = self.tick
        found = [(item.nodeid, change) for change in own] + self._fixture_changes(after)
        lines = [[who, change.kind, change.text] for who, change in found]
        if lines:
            item.stash[_CHANGES] = item.stash.get(_CHANGES, []) + lines
        return lines

    def _fixture_changes(self, now: Snapshot) -> list[tuple[str, Change]]:
        """What the fixtures torn down since the last look set up and left."""
        found = []
        for fixture in self.finished:
            for change in compare(
                self.state.kinds, fixture.before, now, (), fixture.after_setup
            ):
                key = (change.kind, change.key)
                if self.reported.get(key, -1) < fixture.tick:
                    self.reported[key] = self.tick
                    found.append((fixture.label, change))
        self.finished = []
        return found

    def pytest_sessionfinish(self) -> None:
        """Fixtures torn down after the last checked test (in an isolated
        test's slot): listed, with no test to carry them."""
        if self.finished:
            for who, change in self._fixture_changes(self.state.snapshot()):
                self.changed.append((who, change.kind, change.text))

    # -- reporting -------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        if call.when == "teardown" and _CHANGES in item.stash:
            setattr(report, REPORT_ATTR, item.stash[_CHANGES])
            del item.stash[_CHANGES]
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for who, kind, text in getattr(report, REPORT_ATTR, None) or ():
            self.changed.append((who, kind, text))

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(
        self, report: pytest.TestReport
    ) -> tuple[str, str, str] | None:
        """Count the tests whose changes were only listed (``warn``), in the
        summary line; under ``fail`` they are errors."""
        changes = getattr(report, REPORT_ATTR, None)
        if report.when == "teardown" and report.passed and changes:
            return STAT_KEY, "", ""
        return None

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter
    ) -> None:
        if not self.changed:
            return
        tr = terminalreporter
        markup = {"red": True} if self.mode == FAIL else {"yellow": True}
        tr.section(SECTION, sep="=", **markup)
        for who, kind, text in self.changed:
            tr.line(f"{who}: {kind}: {text}")
        tr.line(HINT)


def _failure(nodeid: str, changes: list[list[str]]) -> str:
    """The teardown error: one change a line, the first one in the short summary."""
    head = "changed the process state: "
    shown = [
        f"{kind}: {text}" if who == nodeid else f"{who}: {kind}: {text}"
        for who, kind, text in changes
    ]
    return "\n".join([head + shown[0], *(" " * len(head) + s for s in shown[1:])])
