"""Parent side: one group's run, from the events of its subprocesses.

A :class:`GroupRun` takes the messages of the group's current child, one
``on_<event>`` method per event of :mod:`pytest_isolated.protocol`, and turns
them into one :class:`Outcome` per test: the reports and warnings the parent
re-emits.  When the child dies, times out or breaks the protocol, the test it
was running gets a report that says why (:mod:`pytest_isolated.parent.lost`); the
tests it never reached wait for a fresh child.  The run holds no reference to
the scheduler: :meth:`GroupRun.handle` returns what happened, and the
scheduler decides what follows.

Imports ``_compat``, ``protocol``, ``resources`` and the parent-side modules
``crash``, ``grouping``, ``process`` and ``usage``.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from pytest_isolated import _compat
from pytest_isolated.parent import usage
from pytest_isolated.parent.events import Event, Exited, Garbled, Message
from pytest_isolated.parent.grouping import Group
from pytest_isolated.parent.handle import ChildHandle
from pytest_isolated.parent.lost import (
    Cause,
    Phase,
    describe_exit,
    lost_test_reports,
    not_run_reports,
    passed_teardown,
    trim_stack_dump,
)
from pytest_isolated.platform.resources import Usage, format_bytes, oom_kills
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


@dataclasses.dataclass(frozen=True)
class LogLines:
    """What the test wrote to the child's ``--log-file``."""

    text: str


@dataclasses.dataclass(frozen=True)
class TerminalText:
    """What the test wrote to the terminal (live logs, ...); *raw*: past
    pytest's terminal writer, to the real stdout (``capsys.disabled()``)."""

    text: str
    raw: bool = False


@dataclasses.dataclass(frozen=True)
class XmlRecord:
    """A ``record_xml_attribute`` (nodeid set) or ``record_testsuite_property``."""

    name: str
    value: str
    nodeid: str | None = None


Action = pytest.TestReport | RecordedWarning | LogLines | TerminalText | XmlRecord


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
    release: ChildHandle | None = None
    incident: Incident | None = None


class GroupRun:
    """One group: its subprocess, and fresh ones for what a crash left unrun."""

    def __init__(self, config: pytest.Config, group: Group[pytest.Item]) -> None:
        self.config = config
        self.group = group
        self.pending: list[pytest.Item] = list(group.items)
        self.done: dict[pytest.Item, Outcome] = {}
        self.child: ChildHandle | None = None
        self.attempt = 0
        #: (reason, returncode) of a pytest.exit() in the child (reason None:
        #: KeyboardInterrupt): the parent's session ends the same way.
        self.exit_request: tuple[str | None, int] | None = None
        #: Where the test raised its KeyboardInterrupt: (path, line, message).
        self.interrupted_at: tuple[str, int, str] | None = None
        #: Lost attempts per test, for pytest_isolated_crash.
        self.crashes: dict[pytest.Item, int] = {}
        #: Actions of lost attempts, carried to the test's next attempt.
        self.carried: dict[pytest.Item, list[Action]] = {}
        #: The current child's attempt (set by :meth:`attach`).
        self.now: Attempt
        #: What the group's earlier children used.
        self.spent: list[Usage | None] = []
        self.usage_properties = usage.wants_properties(config)

    @property
    def needs_child(self) -> bool:
        """Tests are left and no subprocess runs them (not started, or crashed)."""
        return self.child is None and bool(self.pending)

    @property
    def basetemp(self) -> str:
        """The name of the next child's basetemp folder."""
        suffix = "" if self.attempt == 0 else f"-{self.attempt + 1}"
        return f"isolated-{self.group.index}{suffix}"

    def attach(self, child: ChildHandle, spec: ChildSpec) -> None:
        """Give *child* the group's remaining tests (named in *spec*)."""
        if self.attempt:
            self.spent.append(self.now.used)
        self.attempt += 1
        self.child = child
        self.now = Attempt(child, self.group, oom_before=oom_kills())
        if spec.wait_for_turn:
            self.now.order = {item: n for n, item in enumerate(self.pending)}
        child.start(spec)

    def let_run(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """*item*'s turn has come: let the child run it, and *nextitem* too
        if it is the group's next test (the child goes on while the parent
        reports).  A child that runs its group straight through needs no word."""
        now = self.now if self.child is not None else None
        if now is None or now.order is None or item not in now.order:
            return
        count = now.order[item] + 1
        if nextitem is not None and now.order.get(nextitem) == count:
            count += 1
        count = now.skip_missing(count)
        if count > now.granted:
            now.granted = count
            now.child.grant(count)

    @property
    def used(self) -> Usage | None:
        """What the group used, over all its children so far."""
        current = self.now.used if self.attempt else None
        return usage.combine([*self.spent, current])

    def handle(self, message: Message) -> Step:
        """Take one message from the group's current child."""
        if isinstance(message, Exited):
            return self.on_exited(message.returncode, message.usage)
        if self.now.broken is not None:
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
            item = self._item(nodeid)
            if item is None:
                continue
            if self.now.order is not None and item in self.now.order:
                self.now.missing.add(self.now.order[item])
            skip = self.now.skip_of(nodeid)
            if skip is not None:
                self._finish(item, Outcome(_skipped(item, skip), event.at))
                continue
            near = others.get(nodeid)
            cause = self.now.missing_cause(nodeid, near)
            headline = "was not collected"
            if near:
                headline += " in its subprocess under the same id"
            self._give_up(item, cause, headline)

    def on_logstart(self, event: Event) -> None:
        # pytest-rerunfailures logs a start for each attempt of a test: its
        # earlier attempts' reports stay (as do those of an attempt whose
        # subprocess crashed, carried over to this one).
        nodeid = event.fields["nodeid"]
        if self.now.running_item is not None and self.now.running_item.nodeid == nodeid:
            return
        item = self._item(nodeid)
        if item is None:
            raise ValueError(f"{nodeid!r} is not a test of this subprocess")
        self.now.running_item = item
        self.now.running = Outcome(self.carried.pop(item, []), event.at)
        self.now.phase = None

    def on_phase(self, event: Event) -> None:
        """A phase of the running test starts: a crash now happened in it."""
        self.now.phase = event.fields["when"]

    def on_terminal(self, event: Event) -> None:
        for raw, text in event.fields["runs"]:
            self._running().actions.append(TerminalText(str(text), bool(raw)))

    def on_xml_attribute(self, event: Event) -> None:
        fields = event.fields
        record = XmlRecord(fields["name"], fields["value"], fields["nodeid"])
        self._running().actions.append(record)

    def on_xml_property(self, event: Event) -> None:
        record = XmlRecord(event.fields["name"], event.fields["value"])
        self._running().actions.append(record)

    def _running(self) -> Outcome:
        if self.now.running is None:
            raise ValueError("outside a test")
        return self.now.running

    def on_report(self, event: Event) -> None:
        report = _rebuild(self.config, event.fields)
        if self.now.running is None or self.now.running_item is None:
            raise ValueError(f"a report for {report.nodeid!r} outside a test")
        if report.nodeid != self.now.running_item.nodeid:
            raise ValueError(
                f"a report for {report.nodeid!r} while "
                f"{self.now.running_item.nodeid!r} runs"
            )
        limit = self.group.mem_limit
        why = _memory_error(report) if report.failed else None
        if limit.value is not None and why is not None:
            report.sections.append(
                (
                    "isolated: memory limit",
                    f"The group's memory limit is {limit.memory()}, "
                    f"from {limit.source}.{why}",
                )
            )
        self.now.running.actions.append(report)

    def on_warning(self, event: Event) -> None:
        # Collection and configuration warnings were already recorded by the
        # parent's own collection of the same files.
        fields = event.fields
        if self.now.running is not None and fields["when"] == "runtest":
            warning = warning_from_wire(fields["warning"])
            self.now.running.actions.append(RecordedWarning(warning, fields["when"]))

    def on_logfinish(self, event: Event) -> Step:
        if self.now.running is None or self.now.running_item is None:
            return Step()  # a hook ran the test without reporting it
        item, outcome = self.now.running_item, self.now.running
        log = event.fields.get("log")
        if log:
            outcome.actions.insert(0, LogLines(log))
        if not any(r.when == "teardown" for r in outcome.reports):
            # Every test ends with a teardown report (JUnit XML waits for it).
            cause = Cause("protocol", "not every phase was reported by its subprocess")
            outcome.actions.extend(lost_test_reports(item, outcome.reports, cause))
        used = self.now.used = Usage.from_wire(event.fields.get("usage"))
        if used is not None and self.usage_properties:
            teardown = [r for r in outcome.reports if r.when == "teardown"][-1]
            teardown.user_properties.extend(usage.properties(used))
        self._finish(item, outcome)
        self.now.running = self.now.running_item = None
        if not self.pending:
            return Step(release=self.release())  # no need to wait for the exit
        if self._waits_for_turn(item):
            self.now.child.waits()
        return Step()

    def _waits_for_turn(self, item: pytest.Item) -> bool:
        """Whether the child, done with *item*, was let run nothing more."""
        order = self.now.order
        if order is None or item not in order:
            return False
        return self.now.skip_missing(order[item] + 1) >= self.now.granted

    def on_internal_error(self, event: Event) -> None:
        self.now.problems.append(event.fields["text"])

    def on_plugin_timeout(self, event: Event) -> None:
        """A plugin's own timer (pytest-timeout's thread method) ends the child."""
        self.now.plugin_timeout = event.fields["summary"]

    def on_exit(self, event: Event) -> None:
        """A test called pytest.exit() or raised KeyboardInterrupt."""
        self.exit_request = (event.fields["reason"], event.fields["returncode"])
        where = event.fields.get("where")
        if where:
            self.interrupted_at = (str(where[0]), int(where[1]), str(where[2]))

    def on_finished(self, event: Event) -> Step:
        """The child's session ended: what it did not report, it never will."""
        status = event.fields["exitstatus"]
        if not self.now.collected:
            ended = f"pytest in the subprocess ended with exit status {status}"
            cause = self.now.startup_cause(Cause("exit", ended))
            for item in list(self.pending):
                self._give_up(item, cause, f"could not run: {ended}")
        else:
            details = self.now.diagnosis()
            cause = Cause("protocol", "not reported by its subprocess", details)
            for item in list(self.pending):
                self._give_up(item, cause, "was not reported by its subprocess")
        return Step(release=self.release())

    def on_exited(self, returncode: int, whole_life: Usage | None = None) -> Step:
        """The child is gone; before the end of its session if tests are left."""
        child = self.child
        if child is None:
            return Step()
        if self.pending:  # it ended before its group: what did it leave?
            child.sweep()
        child.reap_group()
        self.now.used = usage.less(whole_life, self.now.baseline) or self.now.used
        if not self.pending:
            return Step(release=self.release())
        cause = self.now.exit_cause(returncode)
        if not self.now.collected:
            # It died before running anything: every test gets the real error.
            headline = f"could not run: the subprocess {cause.summary}"
            cause = self.now.startup_cause(cause)
            for item in list(self.pending):
                self._give_up(item, cause, headline)
            return Step(release=self.release())
        item = self.now.running_item or self.pending[0]
        outcome = self.now.running or Outcome([], time.time())
        phase = self.now.phase if self.now.running_item is item else None
        reports = _lost_reports(item, outcome, child, cause, phase)
        if self.now.used is not None and self.usage_properties:
            reports[-1].user_properties.extend(usage.properties(self.now.used))
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

    def release(self) -> ChildHandle | None:
        child, self.child = self.child, None
        return child

    def stop(self) -> ChildHandle | None:
        """Kill the subprocess (the session is ending early)."""
        if self.child is not None:
            self.child.kill()
        return self.release()


@dataclasses.dataclass
class Attempt:
    """One child's attempt at a group: its state, and what explains its end."""

    child: ChildHandle
    group: Group[pytest.Item]
    collected: bool = False
    running: Outcome | None = None
    running_item: pytest.Item | None = None
    #: The phase of the running test that started last.
    phase: Phase | None = None
    problems: list[str] = dataclasses.field(default_factory=list)
    collect_errors: list[pytest.CollectReport] = dataclasses.field(default_factory=list)
    collect_skips: list[pytest.CollectReport] = dataclasses.field(default_factory=list)
    #: Why the parent stopped listening (a message it could not handle).
    broken: str | None = None
    #: The summary of a plugin's own timeout that ended the child.
    plugin_timeout: str | None = None
    #: The kernel's count of out-of-memory kills when the child started.
    oom_before: int | None = None
    #: What the process held and had used when the group started.
    baseline: Usage | None = None
    #: What the group used in it: after each test, then at the exit.
    used: Usage | None = None
    #: The tests the child waits for each one's turn to run, in its order
    #: (None: it runs them straight through), and how many it may run.
    order: dict[pytest.Item, int] | None = None
    granted: int = 0
    #: The positions of the tests it did not collect (it skips them).
    missing: set[int] = dataclasses.field(default_factory=set)

    def skip_missing(self, position: int) -> int:
        """The first position from *position* on that the child runs."""
        while position in self.missing:
            position += 1
        return position

    def startup_cause(self, cause: Cause) -> Cause:
        """*cause*, for a child that ended before it collected the group: the
        details are everything it left, the summary its error if it named one."""
        if cause.kind == "timeout":
            return cause  # its details have the limit, the stack and the rest
        details = self.diagnosis()
        summary = cause.summary
        if cause.kind == "exit":
            summary = _error_line(details) or summary
        return Cause(cause.kind, summary, details)

    def exit_cause(self, returncode: int) -> Cause:
        lost = getattr(self.child, "lost", None)  # a fork the template took along
        if self.broken is not None:
            return Cause("protocol", self.broken, self.diagnosis())
        if self.child.timed_out:
            return self.timeout_cause()
        if lost is not None:
            return Cause("crash", lost, self.diagnosis())
        if self.plugin_timeout is not None:
            return Cause("timeout", self.plugin_timeout, self.diagnosis())
        kind, summary = describe_exit(returncode)
        oom_after = oom_kills() if self.oom_before is not None else None
        summary = usage.death_summary(
            self.group,
            returncode,
            self.used,
            summary,
            killed_by_us=self.child.killed,
            oom_killed=oom_after is not None and oom_after > (self.oom_before or 0),
        )
        return Cause(kind, summary, self.diagnosis())

    def timeout_cause(self) -> Cause:
        group, limit = self.group, self.group.timeout
        seconds = f"{limit.value:g}s"
        named = (
            "" if group.items[0].nodeid == group.name else f" (group {group.name!r})"
        )
        details = (
            f"The time limit of group {group.name!r} is {seconds}, "
            f"from {limit.source}, measured from the start of its subprocess "
            "(not counting the time it waited for its tests' turns)."
        )
        dump = read_tail(self.child.workdir / TIMEOUT_FILE, CRASH_OUTPUT_BYTES)
        if dump.strip():
            details += "\n\nStack of every thread shortly before the deadline:\n"
            details += trim_stack_dump(dump.rstrip())
        if self.child.native_stack:
            details += "\n\n" + self.child.native_stack
        if not self.collected:
            details += "\n\n" + self.diagnosis()
        return Cause("timeout", f"TIMED OUT after {seconds}{named}", details.rstrip())

    def diagnosis(self) -> str:
        """Everything the child left that explains its end."""
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

    def skip_of(self, nodeid: str) -> pytest.CollectReport | None:
        """The skip of the module (or directory) that holds test *nodeid*."""
        for report in self.collect_skips:
            if not report.nodeid or nodeid.startswith(
                (f"{report.nodeid}::", f"{report.nodeid}/")
            ):
                return report
        return None

    def missing_cause(self, nodeid: str = "", others: list[str] | None = None) -> Cause:
        if others:
            return unreproducible_id(nodeid, others)
        text = "\n\n".join(_collect_error_text(r) for r in self.collect_errors)
        summary = "not collected in its subprocess"
        error = _error_line(text)
        return Cause("protocol", f"{summary}: {error}" if error else summary, text)


def unreproducible_id(nodeid: str, others: list[str]) -> Cause:
    """A test whose id the subprocess did not make again: its parameters'."""
    shown = "\n".join(f"    {other}" for other in others)
    details = (
        f"pytest's process collected {nodeid}, and the subprocess, which "
        "collects the same file again, made other ids for the same function:\n"
        f"{shown}\n"
        "A parameter id is made from the parameter's value: a value that "
        "differs from one process to the next (a random value, an object whose "
        "repr holds its address, a time) or parameters taken from a set, whose "
        "order changes with hash randomisation, give ids that cannot be found "
        "again in a subprocess.  Give the parameters ids of their own "
        "(@pytest.mark.parametrize(..., ids=[...]) or pytest.param(value, "
        "id=...)), draw random values from a fixed seed, or parametrize over a "
        "sorted list instead of a set."
    )
    summary = (
        "its id is not reproducible in a subprocess: the subprocess collected "
        "this test's function with other parameter ids"
    )
    return Cause("protocol", summary, details)


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


def _lost_reports(
    item: pytest.Item,
    outcome: Outcome,
    child: ChildHandle,
    cause: Cause,
    phase: Phase | None,
) -> list[pytest.TestReport]:
    """The reports that end *item*, whose child died: with what it printed."""
    sections = []
    if child.capture:
        sections = [
            ("stdout", child.read_output(STDOUT_FILE, CRASH_OUTPUT_BYTES)),
            ("stderr", child.read_output(STDERR_FILE, CRASH_OUTPUT_BYTES)),
        ]
    else:  # under -s: what passed through to the terminal, kept
        sections = [(tee.name, tee.text()) for tee in child.tees]
    reports = lost_test_reports(
        item,
        outcome.reports,
        cause,
        sections=sections,
        # A timed-out test ran until its deadline, not until the kill (which
        # waits for the native stacks).
        duration=(child.expired_at or time.time()) - outcome.started,
        phase=phase,
    )
    leaked = child.leaked_section()
    if leaked is not None:
        last = next((r for r in reports if r.failed), reports[-1])
        last.sections.append(leaked)
    return reports


def _memory_error(report: pytest.TestReport) -> str | None:
    """What to add to the memory limit's section of a failure that the limit
    may have caused, or None."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = str(getattr(crash, "message", ""))
    if "MemoryError" in message:
        return ""
    if "can't start new thread" in message:
        # RLIMIT_DATA (Linux 4.7+) and RLIMIT_AS count a thread's whole stack
        # mapping, however little of it is touched.
        return (
            " Every thread's stack counts against it in full (by default as "
            f"large as the stack limit, {_stack_size()}), however little of it "
            "is used: raise the limit, or give threads smaller stacks with "
            "threading.stack_size()."
        )
    return None


def _stack_size() -> str:
    try:
        import resource

        size = resource.getrlimit(resource.RLIMIT_STACK)[0]
    except (ImportError, OSError, ValueError):
        return "often 8 MiB"
    return "unlimited" if size < 0 else format_bytes(size)


def _error_line(text: str) -> str | None:
    """The error a pytest run printed last ("E   ..." or "ERROR: ..."), if any."""
    for line in reversed(text.splitlines()):
        if line.startswith("E   "):
            return line[4:].strip()
        if line.startswith("ERROR: "):
            return line[7:].strip()
    return None


def _skipped(item: pytest.Item, skip: pytest.CollectReport) -> list[Action]:
    """The reports of a test whose file skipped itself only in the child
    (``pytest.skip(allow_module_level=True)``): skipped in setup with the
    file's reason and place, as pytest reports a test that skips itself."""
    call: pytest.CallInfo[None] = pytest.CallInfo.from_call(lambda: None, "setup")
    report = pytest.TestReport.from_item_and_call(item, call)
    longrepr: Any = skip.longrepr
    report.outcome, report.sections = "skipped", []
    report.longrepr = tuple(longrepr) if isinstance(longrepr, list) else longrepr
    return [report, passed_teardown(item)]


def _collect_error_text(report: pytest.CollectReport) -> str:
    return f"{report.nodeid}: collection failed\n{report.longreprtext}"
