"""Parent side: one group's run, from the events of its subprocesses.

A :class:`GroupRun` takes the messages of the group's current child, one
``on_<event>`` method per event of :mod:`pytest_isolated.protocol`, and turns
them into one :class:`Outcome` per test: the reports and warnings the parent
re-emits.  When the child dies, times out or breaks the protocol, the test it
was running gets a report that says why (:mod:`pytest_isolated.crash`); the
tests it never reached wait for a fresh child.  The run holds no reference to
the scheduler: :meth:`GroupRun.handle` returns what happened, and the
scheduler decides what follows.

Imports the parent-side modules ``crash``, ``grouping``, ``process`` and
``protocol``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import pytest

from pytest_isolated.crash import (
    Cause,
    describe_exit,
    lost_test_reports,
    not_run_reports,
    trim_stack_dump,
)
from pytest_isolated.grouping import Group
from pytest_isolated.process import Child, Event, Exited, Garbled, Message
from pytest_isolated.protocol import (
    CRASH_FILE,
    STDERR_FILE,
    STDOUT_FILE,
    TIMEOUT_FILE,
    ChildSpec,
    read_tail,
    warning_from_wire,
)

#: How much of a crashed child's stdout/stderr the report shows.
CRASH_OUTPUT_BYTES = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class RecordedWarning:
    warning: object  # warnings.WarningMessage
    when: str


Action = pytest.TestReport | RecordedWarning


@dataclasses.dataclass
class Outcome:
    """What the parent re-emits for one test."""

    actions: list[Action]
    started: float

    @property
    def reports(self) -> list[pytest.TestReport]:
        return [a for a in self.actions if isinstance(a, pytest.TestReport)]


@dataclasses.dataclass(frozen=True)
class Incident:
    """A subprocess that crashed or timed out, for the terminal summary."""

    group: str
    nodeid: str
    cause: Cause


@dataclasses.dataclass
class Step:
    """What handling one message led to."""

    #: The child is done with the group (every result is in, or it is gone).
    release: Child | None = None
    incident: Incident | None = None


class GroupRun:
    """One group: its subprocess, and fresh ones for what a crash left unrun."""

    def __init__(self, config: pytest.Config, group: Group[pytest.Item]) -> None:
        self.config = config
        self.group = group
        self.pending: list[pytest.Item] = list(group.items)
        self.done: dict[pytest.Item, Outcome] = {}
        self.child: Child | None = None
        self.attempt = 0
        #: (reason, returncode) of a pytest.exit() in the child (reason None:
        #: KeyboardInterrupt): the parent's session ends the same way.
        self.exit_request: tuple[str | None, int] | None = None
        #: Lost attempts per test, for pytest_isolated_crash.
        self.crashes: dict[pytest.Item, int] = {}
        #: Actions of lost attempts, carried to the test's next attempt.
        self.carried: dict[pytest.Item, list[Action]] = {}
        self._fresh()

    def _fresh(self) -> None:
        """The state of one child's attempt at the group."""
        self.collected = False
        self.running: Outcome | None = None
        self.running_item: pytest.Item | None = None
        self.collect_errors: list[pytest.CollectReport] = []
        self.problems: list[str] = []
        #: Why the parent stopped listening (a message it could not handle).
        self.broken: str | None = None
        #: The summary of a plugin's own timeout that ended the child.
        self.plugin_timeout: str | None = None

    @property
    def needs_child(self) -> bool:
        """Tests are left and no subprocess runs them (not started, or crashed)."""
        return self.child is None and bool(self.pending)

    @property
    def basetemp(self) -> str:
        """The name of the next child's basetemp folder."""
        suffix = "" if self.attempt == 0 else f"-{self.attempt + 1}"
        return f"isolated-{self.group.index}{suffix}"

    def attach(self, child: Child, spec: ChildSpec) -> None:
        """Give *child* the group's remaining tests (named in *spec*)."""
        self.attempt += 1
        self.child = child
        self._fresh()
        child.start(spec)

    def handle(self, message: Message) -> Step:
        """Take one message from the group's current child."""
        if isinstance(message, Exited):
            return self.on_exited(message.returncode)
        if self.broken is not None:
            return Step()  # the child is being killed; its exit tells the rest
        if isinstance(message, Garbled):
            self.problems.append(f"{message.problem}: {message.line!r}")
            return Step()
        handler: Callable[[Event], Step | None] | None = getattr(
            self, f"on_{message.name}", None
        )
        try:
            if handler is None:
                raise ValueError("no such event")
            return handler(message) or Step()
        except Exception as exc:  # noqa: BLE001 - the parent loop must go on
            self.broken = (
                f"protocol error: the {message.name!r} event could not be "
                f"handled ({type(exc).__name__}: {exc})"
            )
            if self.child is not None:
                self.child.kill()
            return Step()

    # -- the events, in the order a healthy child sends them -------------------

    def on_started(self, event: Event) -> None:
        """The interpreter is up and has read its spec."""

    def on_collect_error(self, event: Event) -> None:
        """A file of the group could not be collected."""
        self.collect_errors.append(self._rebuild(event.fields["report"]))

    def on_collected(self, event: Event) -> None:
        """The child collected the group; tests it could not find are lost."""
        self.collected = True
        for nodeid in event.fields["missing"]:
            item = self._item(nodeid)
            if item is not None:
                self._give_up(item, self._missing_cause(), "was not collected")

    def on_logstart(self, event: Event) -> None:
        # pytest-rerunfailures logs a start for each attempt of a test: its
        # earlier attempts' reports stay (as do those of an attempt whose
        # subprocess crashed, carried over to this one).
        nodeid = event.fields["nodeid"]
        if self.running_item is not None and self.running_item.nodeid == nodeid:
            return
        item = self._item(nodeid)
        if item is None:
            raise ValueError(f"{nodeid!r} is not a test of this subprocess")
        self.running_item = item
        self.running = Outcome(self.carried.pop(item, []), event.at)

    def on_report(self, event: Event) -> None:
        report = self._rebuild(event.fields["report"])
        if self.running is None or self.running_item is None:
            raise ValueError(f"a report for {report.nodeid!r} outside a test")
        if report.nodeid != self.running_item.nodeid:
            raise ValueError(
                f"a report for {report.nodeid!r} while "
                f"{self.running_item.nodeid!r} runs"
            )
        self.running.actions.append(report)

    def on_warning(self, event: Event) -> None:
        # Collection and configuration warnings were already recorded by the
        # parent's own collection of the same files.
        fields = event.fields
        if self.running is not None and fields["when"] == "runtest":
            warning = warning_from_wire(fields["warning"])
            self.running.actions.append(RecordedWarning(warning, fields["when"]))

    def on_logfinish(self, event: Event) -> Step:
        if self.running is None or self.running_item is None:
            return Step()  # a hook ran the test without reporting it
        self._finish(self.running_item, self.running)
        self.running = self.running_item = None
        if not self.pending:
            return Step(release=self.release())  # no need to wait for the exit
        return Step()

    def on_internal_error(self, event: Event) -> None:
        self.problems.append(event.fields["text"])

    def on_plugin_timeout(self, event: Event) -> None:
        """A plugin's own timer (pytest-timeout's thread method) ends the child."""
        self.plugin_timeout = event.fields["summary"]

    def on_exit(self, event: Event) -> None:
        """A test called pytest.exit() or raised KeyboardInterrupt."""
        self.exit_request = (event.fields["reason"], event.fields["returncode"])

    def on_finished(self, event: Event) -> Step:
        """The child's session ended: what it did not report, it never will."""
        status = event.fields["exitstatus"]
        if not self.collected:
            ended = f"pytest in the subprocess ended with exit status {status}"
            cause = self._startup_cause(Cause("exit", ended))
            for item in list(self.pending):
                self._give_up(item, cause, f"could not run: {ended}")
        else:
            cause = Cause(
                "protocol", "not reported by its subprocess", self._diagnosis()
            )
            for item in list(self.pending):
                self._give_up(item, cause, "was not reported by its subprocess")
        return Step(release=self.release())

    def on_exited(self, returncode: int) -> Step:
        """The child is gone; before the end of its session if tests are left."""
        child = self.child
        if child is None:
            return Step()
        child.reap_group()
        if not self.pending:
            return Step(release=self.release())
        cause = self._exit_cause(returncode)
        if not self.collected:
            # It died before running anything: every test gets the real error.
            headline = f"could not run: the subprocess {cause.summary}"
            cause = self._startup_cause(cause)
            for item in list(self.pending):
                self._give_up(item, cause, headline)
            return Step(release=self.release())
        item = self.running_item or self.pending[0]
        outcome = self.running or Outcome([], time.time())
        sections = (
            [
                ("stdout", child.read_output(STDOUT_FILE, CRASH_OUTPUT_BYTES)),
                ("stderr", child.read_output(STDERR_FILE, CRASH_OUTPUT_BYTES)),
            ]
            if child.capture
            else []
        )
        reports = lost_test_reports(
            item,
            outcome.reports,
            cause,
            sections=sections,
            duration=time.time() - outcome.started,
        )
        attempt = self.crashes[item] = self.crashes.get(item, 0) + 1
        failed = next((r for r in reports if r.failed), None)  # None: xfail
        hook = self.config.hook
        if failed is not None and hook.pytest_isolated_crash(
            item=item, cause=cause, report=failed, attempt=attempt
        ):
            # The failed report of the attempt becomes a rerun, and the test
            # runs again, in a fresh subprocess.
            failed.outcome = "rerun"  # type: ignore[assignment]
            self.carried[item] = [*outcome.actions, failed]
        else:
            outcome.actions.extend(reports)
            self._finish(item, outcome)
        incident = Incident(self.group.name, item.nodeid, cause)
        return Step(release=self.release(), incident=incident)

    # -- bookkeeping ------------------------------------------------------------

    def _rebuild(self, data: dict[str, Any]) -> Any:
        return self.config.hook.pytest_report_from_serializable(
            config=self.config, data=data
        )

    def _item(self, nodeid: str) -> pytest.Item | None:
        """The first pending test with that id (ids repeat under
        ``--keep-duplicates``; each selection is one item)."""
        return next((i for i in self.pending if i.nodeid == nodeid), None)

    def _finish(self, item: pytest.Item, outcome: Outcome) -> None:
        self.done[item] = outcome
        self.pending.remove(item)

    def _give_up(self, item: pytest.Item, cause: Cause, headline: str) -> None:
        reports = not_run_reports(item, cause, f"the test {headline}")
        self._finish(item, Outcome(list(reports), time.time()))

    def release(self) -> Child | None:
        child, self.child = self.child, None
        return child

    def stop(self) -> Child | None:
        """Kill the subprocess (the session is ending early)."""
        if self.child is not None:
            self.child.kill()
        return self.release()

    # -- explaining an early end ------------------------------------------------

    def _startup_cause(self, cause: Cause) -> Cause:
        """*cause*, for a child that ended before it collected the group: the
        details are everything it left, the summary its error if it named one."""
        details = self._diagnosis()
        summary = cause.summary
        if cause.kind == "exit":
            summary = _error_line(details) or summary
        return Cause(cause.kind, summary, details)

    def _exit_cause(self, returncode: int) -> Cause:
        assert self.child is not None
        lost = getattr(self.child, "lost", None)
        if self.broken is not None:
            return Cause("protocol", self.broken, self._diagnosis())
        if self.child.timed_out:
            return self._timeout_cause()
        if lost is not None:
            return Cause("crash", lost, self._diagnosis())
        if self.plugin_timeout is not None:
            return Cause("timeout", self.plugin_timeout, self._diagnosis())
        kind, summary = describe_exit(returncode)
        return Cause(kind, summary, self._diagnosis())

    def _timeout_cause(self) -> Cause:
        assert self.child is not None
        group, limit = self.group, self.group.timeout
        seconds = f"{limit.seconds:g}s"
        named = (
            "" if group.items[0].nodeid == group.name else f" (group {group.name!r})"
        )
        details = (
            f"The time limit of group {group.name!r} is {seconds}, "
            f"from {limit.source}, measured from the start of its subprocess."
        )
        dump = read_tail(self.child.workdir / TIMEOUT_FILE, CRASH_OUTPUT_BYTES)
        if dump.strip():
            details += "\n\nStack of every thread shortly before the deadline:\n"
            details += trim_stack_dump(dump.rstrip())
        if not self.collected:
            details += "\n\n" + self._diagnosis()
        return Cause("timeout", f"TIMED OUT after {seconds}{named}", details.rstrip())

    def _diagnosis(self) -> str:
        """Everything the child left that explains its end."""
        assert self.child is not None
        parts = []
        crash = read_tail(self.child.workdir / CRASH_FILE, CRASH_OUTPUT_BYTES)
        if crash.strip():
            parts.append(trim_stack_dump(crash.rstrip()))
        parts.extend(self.problems)
        if not self.collected:
            parts.extend(_collect_error_text(r) for r in self.collect_errors)
            if self.child.capture:
                stderr = self.child.read_output(STDERR_FILE, 64 * 1024)
                if stderr.strip():
                    parts.append("subprocess stderr:\n" + stderr.rstrip())
        return "\n\n".join(parts)

    def _missing_cause(self) -> Cause:
        text = "\n\n".join(_collect_error_text(r) for r in self.collect_errors)
        summary = "not collected in its subprocess"
        error = _error_line(text)
        return Cause("protocol", f"{summary}: {error}" if error else summary, text)


def _error_line(text: str) -> str | None:
    """The error a pytest run printed last ("E   ..." or "ERROR: ..."), if any."""
    for line in reversed(text.splitlines()):
        if line.startswith("E   "):
            return line[4:].strip()
        if line.startswith("ERROR: "):
            return line[7:].strip()
    return None


def _collect_error_text(report: pytest.CollectReport) -> str:
    return f"{report.nodeid}: collection failed\n{report.longreprtext}"
