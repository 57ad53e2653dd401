"""Parent side: one group's run, from the events of its subprocesses.

A :class:`GroupRun` takes the messages of the group's current child, one
``on_<event>`` method per event of :mod:`pytest_isolated.protocol`, and turns
them into one :class:`~pytest_isolated.parent.outcome.Outcome` per test: the
reports and warnings the parent re-emits.  When the child dies, times out or
breaks the protocol, the test it was running gets a report that says why
(:mod:`pytest_isolated.parent.attempt`); the tests it never reached wait for
a fresh child.  The run holds no reference to
the scheduler: :meth:`GroupRun.handle` returns what happened, and the
scheduler decides what follows.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from pytest_isolated import _compat
from pytest_isolated.parent import usage
from pytest_isolated.parent.attempt import Attempt
from pytest_isolated.parent.events import Event, Exited, Garbled, Message
from pytest_isolated.parent.grouping import Group
from pytest_isolated.parent.handle import ChildHandle
from pytest_isolated.parent.lost import (
    Cause,
    not_run_reports,
)
from pytest_isolated.parent.outcome import (
    Action,
    Outcome,
    TerminalText,
    XmlRecord,
)
from pytest_isolated.parent.turns import Turns
from pytest_isolated.platform.resources import Usage, oom_kills
from pytest_isolated.protocol import (
    ChildSpec,
)


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
    release: ChildHandle | None = None
    incident: Incident | None = None


@dataclasses.dataclass(frozen=True)
class ExitRequest:
    """A test called pytest.exit() in the child, or raised KeyboardInterrupt
    (*reason* None): the parent's session ends the same way."""

    reason: str | None
    returncode: int
    #: Where the test raised its KeyboardInterrupt: (path, line, message).
    where: tuple[str, int, str] | None = None

    @classmethod
    def read(cls, fields: dict[str, Any], earlier: ExitRequest | None) -> ExitRequest:
        """From an ``exit`` event's *fields* (a place named *earlier* stays)."""
        where = fields.get("where")
        place = (str(where[0]), int(where[1]), str(where[2])) if where else None
        if place is None and earlier is not None:
            place = earlier.where
        return cls(fields["reason"], fields["returncode"], place)


class GroupRun:
    """One group: its subprocess, and fresh ones for what a crash left unrun."""

    def __init__(
        self,
        config: pytest.Config,
        group: Group[pytest.Item],
        basetemp_prefix: str = "isolated-",
    ) -> None:
        """*basetemp_prefix*: what each child's basetemp folder is named."""
        self.config = config
        self.group = group
        self.basetemp_prefix = basetemp_prefix
        self.pending: list[pytest.Item] = list(group.items)
        self.done: dict[pytest.Item, Outcome] = {}
        self.child: ChildHandle | None = None
        #: Each child's attempt at the group, the current one last.
        self.attempts: list[Attempt] = []
        self.exit_request: ExitRequest | None = None
        self.reruns = CrashReruns(config)
        #: The current child's attempt (set by :meth:`attach`).
        self.now: Attempt
        self.usage_properties = usage.wants_properties(config)

    @property
    def needs_child(self) -> bool:
        """Tests are left and no subprocess runs them (not started, or crashed)."""
        return self.child is None and bool(self.pending)

    @property
    def basetemp(self) -> str:
        """The name of the next child's basetemp folder."""
        count = len(self.attempts)
        suffix = "" if count == 0 else f"-{count + 1}"
        return f"{self.basetemp_prefix}{self.group.index}{suffix}"  # e.g. isolated-3

    def attach(self, child: ChildHandle, spec: ChildSpec) -> None:
        """Give *child* the group's remaining tests (named in *spec*)."""
        self.child = child
        self.now = Attempt(child, self.group, oom_before=oom_kills())
        self.attempts.append(self.now)
        if spec.wait_for_turn:
            self.now.turns = Turns(child, self.pending)
        child.start(spec)

    def let_run(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """*item*'s turn has come: let the child run it (and *nextitem*, if
        the group's next test: the child goes on while the parent reports)."""
        if self.child is not None and self.now.turns is not None:
            self.now.turns.let_run(item, nextitem)

    @property
    def used(self) -> Usage | None:
        """What the group used, over all its children so far."""
        return usage.combine(attempt.used for attempt in self.attempts)

    def handle(self, message: Message) -> Step:
        """Take one message from the group's current child."""
        if isinstance(message, Exited):
            return self.on_exited(message.returncode, message.usage)
        if self.now.broken is not None or _past_deadline(self.now.child, message):
            return Step()  # the child is being killed; its exit tells the rest
        if isinstance(message, Garbled):
            self.now.problems.append(f"{message.problem}: {message.line!r}")
            return Step()
        try:
            step: Step | None = getattr(self, f"on_{message.name}")(message)
            return step or Step()
        except Exception as exc:  # noqa: BLE001 - the parent loop must go on
            what = f"the {message.name!r} event could not be handled"
            self.now.broken = f"protocol error: {what} ({type(exc).__name__}: {exc})"
            self.now.child.kill()
            return Step()

    # -- the events, in the order a healthy child sends them -------------------

    def on_started(self, event: Event) -> None:
        """The interpreter is up and has read its spec."""

    def on_collect_error(self, event: Event) -> None:
        """A file of the group could not be collected."""
        self.now.collect_errors.append(_rebuild(self.config, event.fields))

    def on_collect_skip(self, event: Event) -> None:
        """A file of the group skipped itself as the child collected it."""
        self.now.collect_skips.append(_rebuild(self.config, event.fields))

    def on_collected(self, event: Event) -> None:
        """The child collected the group; tests it could not find are lost,
        but for those of a file that skipped itself there: skipped."""
        self.now.collected = True
        self.now.baseline = Usage.from_wire(event.fields.get("baseline"))
        others = event.fields.get("others") or {}
        for nodeid in event.fields["missing"]:
            item = _first(self.pending, nodeid)
            if item is not None:
                near = others.get(nodeid)
                self._finish(item, self.now.not_collected(item, near, event.at))

    def on_logstart(self, event: Event) -> None:
        # pytest-rerunfailures logs a start for each attempt of a test: its
        # earlier attempts' reports stay (as do those of an attempt whose
        # subprocess crashed, carried over to this one).
        nodeid = event.fields["nodeid"]
        if self.now.running_item is not None and self.now.running_item.nodeid == nodeid:
            return
        item = _first(self.pending, nodeid)
        if item is None:
            raise ValueError(f"{nodeid!r} is not a test of this subprocess")
        self.now.start_test(item, Outcome(self.reruns.carried_over(item), event.at))

    def on_phase(self, event: Event) -> None:
        """A phase of the running test starts: a crash now happened in it."""
        self.now.phase = event.fields["when"]

    def on_terminal(self, event: Event) -> None:
        for raw, text in event.fields["runs"]:
            self.now.record(TerminalText(str(text), bool(raw)))

    def on_xml_attribute(self, event: Event) -> None:
        fields = event.fields
        self.now.record(XmlRecord(fields["name"], fields["value"], fields["nodeid"]))

    def on_xml_property(self, event: Event) -> None:
        self.now.record(XmlRecord(event.fields["name"], event.fields["value"]))

    def on_report(self, event: Event) -> None:
        self.now.take_report(_rebuild(self.config, event.fields))

    def on_warning(self, event: Event) -> None:
        self.now.take_warning(event.fields)

    def on_logfinish(self, event: Event) -> Step:
        ended = self.now.end_test(event.fields, self.usage_properties)
        if ended is None:
            return Step()  # a hook ran the test without reporting it
        self._finish(*ended)
        if not self.pending:
            return Step(release=self.release())  # no need to wait for the exit
        if self.now.turns is not None:
            self.now.turns.ran(ended[0])
        return Step()

    def on_internal_error(self, event: Event) -> None:
        self.now.problems.append(event.fields["text"])

    def on_plugin_timeout(self, event: Event) -> None:
        """A plugin's own timer (pytest-timeout's thread method) ends the child."""
        self.now.plugin_timeout = event.fields["summary"]

    def on_exit(self, event: Event) -> None:
        """A test called pytest.exit() or raised KeyboardInterrupt."""
        self.exit_request = ExitRequest.read(event.fields, self.exit_request)

    def on_finished(self, event: Event) -> Step:
        """The child's session ended: what it did not report, it never will."""
        cause, headline = self.now.session_ended(event.fields["exitstatus"])
        self._give_up(self.pending, cause, headline)
        return Step(release=self.release())

    def on_exited(self, returncode: int, whole_life: Usage | None = None) -> Step:
        """The child is gone; before the end of its session if tests are left."""
        if self.child is None:
            return Step()
        self.now.exited(whole_life, tests_left=bool(self.pending))
        if not self.pending:
            return Step(release=self.release())
        cause = self.now.exit_cause(returncode)
        if not self.now.collected:
            # It died before running anything: every test gets the real error.
            headline = f"could not run: the subprocess {cause.summary}"
            self._give_up(self.pending, self.now.startup_cause(cause), headline)
            return Step(release=self.release())
        item = self.now.running_item or self.pending[0]
        outcome, reports = self.now.lost_test(item, cause, self.usage_properties)
        if not self.reruns.rerun(item, cause, outcome, reports):
            outcome.actions.extend(reports)
            self._finish(item, outcome)
        return Step(self.release(), Incident(self.group.name, item.nodeid, cause))

    def _finish(self, item: pytest.Item, outcome: Outcome) -> None:
        self.done[item] = outcome
        self.pending.remove(item)

    def _give_up(self, items: list[pytest.Item], cause: Cause, headline: str) -> None:
        """*items* are not run: each gets an error that says why."""
        for item in list(items):
            reports = not_run_reports(item, cause, f"the test {headline}")
            self._finish(item, Outcome(list(reports), time.time()))

    def release(self) -> ChildHandle | None:
        child, self.child = self.child, None
        return child

    def stop(self) -> ChildHandle | None:
        """Kill the subprocess (the session is ending early)."""
        if self.child is not None:
            self.child.kill()
        return self.release()


class CrashReruns:
    """The tests of a group whose subprocess died, run again in a fresh one
    where a plugin says so (``pytest_isolated_crash``)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        #: Lost attempts per test, for pytest_isolated_crash.
        self.crashes: dict[pytest.Item, int] = {}
        #: Actions of lost attempts, carried to the test's next attempt.
        self.carried: dict[pytest.Item, list[Action]] = {}

    def rerun(
        self,
        item: pytest.Item,
        cause: Cause,
        outcome: Outcome,
        reports: list[pytest.TestReport],
    ) -> bool:
        """Whether *item*, which lost its subprocess after *outcome* and gets
        *reports* for it, runs again."""
        attempt = self.crashes[item] = self.crashes.get(item, 0) + 1
        failed = next((r for r in reports if r.failed), None)  # None: xfail
        hook = self.config.hook
        if failed is None or not hook.pytest_isolated_crash(
            item=item, cause=cause, report=failed, attempt=attempt
        ):
            return False
        # The failed report of the attempt becomes a rerun, and the test
        # runs again, in a fresh subprocess.
        failed.outcome = "rerun"  # type: ignore[assignment]
        self.carried[item] = [*outcome.actions, failed]
        return True

    def carried_over(self, item: pytest.Item) -> list[Action]:
        """What *item*'s lost attempts reported, for its next attempt."""
        return self.carried.pop(item, [])


def _first(items: list[pytest.Item], nodeid: str) -> pytest.Item | None:
    """The first of *items* with that id (ids repeat under
    ``--keep-duplicates``; each selection is one item)."""
    return next((i for i in items if i.nodeid == nodeid), None)


def _rebuild(config: pytest.Config, fields: dict[str, Any]) -> Any:
    """A report, from what the child's pytest_report_to_serializable made."""
    data = fields["report"]
    report = config.hook.pytest_report_from_serializable(config=config, data=data)
    if fields.get("text_repr") and isinstance(report.longrepr, str):
        report.longrepr = TextRepr(report.longrepr)
    _compat.rebuilt_subtest(config, report, data)
    _compat.set_failed_subtests(config, report, int(fields.get("failed_subtests", 0)))
    return report


class TextRepr:
    """The text of a failure whose repr has no crash line (a doctest's, which
    pytest serialises as text): shown whole, with no message in the short
    summary, as pytest shows the original."""

    def __init__(self, text: str) -> None:
        self.text = text

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


def _past_deadline(child: ChildHandle, message: Message) -> bool:
    """Whether *message* came after *child*'s deadline (a debugger may take
    seconds to show where it hung): what the child does then does not
    count, and the test it runs has timed out."""
    expired = child.expired_at
    return expired is not None and isinstance(message, Event) and message.at >= expired
