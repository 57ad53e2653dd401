"""Child side: what the child's pytest reports, sent to the parent as events.

Registered beside the child plugin (:mod:`pytest_isolated.child.runner`) in
the child's ``pytest.main()``: each hook that tells of a test's progress, its
reports, warnings, an exit or an internal error becomes one event, in the
order pytest calls them, and the parent replays them into its own hooks.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import pytest

from pytest_isolated import _compat
from pytest_isolated.child import process
from pytest_isolated.child.channel import Channel
from pytest_isolated.child.passthrough import TerminalTap
from pytest_isolated.child.sessiondata import is_own
from pytest_isolated.platform import tree
from pytest_isolated.protocol import (
    EV_COLLECT_ERROR,
    EV_COLLECT_SKIP,
    EV_EXIT,
    EV_INTERNAL_ERROR,
    EV_LOGSTART,
    EV_PHASE,
    EV_REPORT,
    EV_TERMINAL,
    EV_WARNING,
    warning_to_wire,
)

if TYPE_CHECKING:
    import warnings

RELAY_PLUGIN_NAME = "pytest-isolated-relay"

#: What pytest calls between a test's phases, from its logstart to its
#: logfinish.  While pytest and this plugin are all that implement them,
#: nothing of the user's runs between a test's report and its next phase (or
#: its logfinish): the report goes with that event, in one write (one
#: wake-up of the parent), and a crash in between cannot happen or lose it.
BETWEEN_PHASES = (
    "pytest_runtest_protocol",
    "pytest_runtest_logstart",
    "pytest_runtest_setup",
    "pytest_runtest_call",
    "pytest_runtest_teardown",
    "pytest_runtest_logreport",
    "pytest_report_teststatus",
    "pytest_exception_interact",
    "pytest_warning_recorded",
    "pytest_runtest_logfinish",
)


class EventRelay:
    """Registered in the child's pytest; turns hooks into events."""

    def __init__(self, channel: Channel, tap: TerminalTap) -> None:
        self.__name__ = RELAY_PLUGIN_NAME
        self.channel = channel
        self.tap = tap
        self.config: pytest.Config | None = None
        #: The group's last test: what runs after its teardown is a leak.
        self.last_nodeid: str | None = None
        #: Whether this test's logstart and reports wait for its next event.
        self.hold = False

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.send_report(EV_COLLECT_ERROR, report)
        elif report.skipped:  # ``pytest.skip(allow_module_level=True)``
            self.send_report(EV_COLLECT_SKIP, report)

    def phase_starts(self, item: pytest.Item, when: str) -> None:
        process.check_parent()
        self.channel.send(EV_PHASE, nodeid=item.nodeid, when=when)
        if when == "setup":
            # From here to the teardown's report, what reaches the terminal
            # (but for the terminal reporter's own report lines) is the test's.
            self.tap.recording = True

    def pytest_runtest_logstart(self, nodeid: str) -> None:
        assert self.config is not None
        self.hold = _only_own_between_phases(self.config)
        self._send(EV_LOGSTART, nodeid=nodeid)

    def _send(self, event: str, **fields: object) -> None:
        """Send *event* now, or with the next one if nothing of the user's
        can come between (see :data:`BETWEEN_PHASES`)."""
        (self.channel.hold if self.hold else self.channel.send)(event, **fields)

    # A wrapper: the report as pytest made it, before any logreport hook runs;
    # what those add to it (a conftest's extra section), they add again in the
    # parent.  What the terminal got since the last report comes first.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None]:
        self.tap.recording = False
        runs = self.tap.take()
        if runs:
            self.channel.send(EV_TERMINAL, runs=runs)
        if report.when == "teardown" and report.nodeid == self.last_nodeid:
            _end_leaked_processes(report)
        self.send_report(EV_REPORT, report, self._send)
        try:
            return (yield)
        finally:
            self.tap.recording = report.when != "teardown"

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
            # Where the test raised it: the parent's interrupt line names it.
            crash = excinfo.getrepr(style="short").reprcrash
            where = None if crash is None else [crash.path, crash.lineno, crash.message]
            self.channel.send(EV_EXIT, reason=None, returncode=2, where=where)

    def pytest_internalerror(self, excrepr: object) -> None:
        self.channel.send(EV_INTERNAL_ERROR, text=str(excrepr))

    def send_report(
        self,
        event: str,
        report: pytest.TestReport | pytest.CollectReport,
        send: Callable[..., None] | None = None,
    ) -> None:
        assert self.config is not None
        hook = self.config.hook
        data = hook.pytest_report_to_serializable(config=self.config, report=report)
        longrepr = report.longrepr
        (send or self.channel.send)(
            event,
            report=data,
            # A repr without a crash line (a doctest's) travels as its text:
            # the parent must not read that text as the short summary's message.
            text_repr=hasattr(longrepr, "toterminal")
            and getattr(longrepr, "reprcrash", None) is None,
            failed_subtests=_compat.failed_subtests(self.config, report),
        )


def _only_own_between_phases(config: pytest.Config) -> bool:
    """Whether only pytest and this plugin implement :data:`BETWEEN_PHASES`."""
    hook = config.hook
    return all(
        is_own(impl.plugin)
        for name in BETWEEN_PHASES
        for impl in getattr(hook, name).get_hookimpls()
    )


def _end_leaked_processes(report: pytest.TestReport) -> None:
    """After the group's last teardown (session fixtures included), kill what
    the group's tests left running and name it in *report*."""
    if not tree.LINUX or not tree.has_children():
        return
    leaked = tree.kill_tree(os.getpid(), spare=tree.interpreter_helpers())
    if leaked:
        tree.reap(leaked)
        text = tree.describe(leaked, "after the group's last test")
        report.sections.append((f"{tree.SECTION} at teardown", text))
