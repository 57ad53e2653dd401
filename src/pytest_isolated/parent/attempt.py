"""Parent side: one child's attempt at a group, and what explains its end.

An :class:`Attempt` holds what one child of a group said so far: whether it
collected, the test it runs and that test's phase, what it used, and what it
left behind (problems, collection errors, dump files).  When the child ends
before its group does, the attempt says why (a :class:`Cause`) and builds the
reports of the test it took along (:mod:`pytest_isolated.parent.lost`).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import pytest

from pytest_isolated.parent import usage
from pytest_isolated.parent.grouping import Group
from pytest_isolated.parent.handle import ChildHandle
from pytest_isolated.parent.lost import (
    Cause,
    Phase,
    describe_exit,
    lost_test_reports,
    not_run_reports,
    skipped_reports,
    trim_stack_dump,
    unreproducible_id,
)
from pytest_isolated.parent.outcome import Action, LogLines, Outcome, RecordedWarning
from pytest_isolated.parent.turns import Turns
from pytest_isolated.platform import tree
from pytest_isolated.platform.resources import Usage, oom_kills
from pytest_isolated.platform.units import format_bytes
from pytest_isolated.protocol import (
    CRASH_FILE,
    LEAKED_ATTRIBUTE,
    STDERR_FILE,
    STDOUT_FILE,
    TIMEOUT_FILE,
    read_tail,
    warning_from_wire,
)

#: How much of a crashed child's stdout/stderr the report shows.
CRASH_OUTPUT_BYTES = 1024 * 1024


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
    #: The tests' turns, when the child waits for each (else None).
    turns: Turns | None = None

    # -- the test that runs ------------------------------------------------------

    def start_test(self, item: pytest.Item, outcome: Outcome) -> None:
        self.running_item = item
        self.running = outcome
        self.phase = None

    def exited(self, whole_life: Usage | None, *, tests_left: bool) -> None:
        """The child is gone: end what it left running (with *tests_left*,
        it ended before its group: look for what it left to its reaper);
        *whole_life*: what it used over its life, where the platform says."""
        if tests_left:
            self.child.sweep()
        self.child.reap_group()
        if whole_life is not None:  # wait4's figure, without what preceded
            self.used = whole_life.less(self.baseline)

    def not_collected(
        self, item: pytest.Item, near: list[str] | None, at: float
    ) -> Outcome:
        """The child did not collect *item* (it skips its turn): skipped if
        its file skipped itself there, else an error that says why (*near*:
        the ids the child made for the same function)."""
        if self.turns is not None:
            self.turns.skip(item)
        skip = _skip_of(self.collect_skips, item.nodeid)
        if skip is not None:
            return Outcome([*skipped_reports(item, skip)], at)
        headline = "was not collected"
        if near:
            headline += " in its subprocess under the same id"
        cause = self.missing_cause(item.nodeid, near)
        reports: list[Action] = [*not_run_reports(item, cause, f"the test {headline}")]
        return Outcome(reports, time.time())

    def record(self, action: Action) -> None:
        """Something the running test wrote or recorded, in its order."""
        self.running_outcome().actions.append(action)

    def running_outcome(self) -> Outcome:
        """The outcome of the test that runs (an event outside one is an error)."""
        if self.running is None:
            raise ValueError("outside a test")
        return self.running

    def take_report(self, report: pytest.TestReport) -> None:
        """A report of the running test's (an error if it is another's)."""
        if self.running is None or self.running_item is None:
            raise ValueError(f"a report for {report.nodeid!r} outside a test")
        if report.nodeid != self.running_item.nodeid:
            raise ValueError(
                f"a report for {report.nodeid!r} while "
                f"{self.running_item.nodeid!r} runs"
            )
        _carry_leaks(report)
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
        self.running.actions.append(report)

    def take_warning(self, fields: dict[str, Any]) -> None:
        """A warning the running test raised."""
        # Collection and configuration warnings were already recorded by the
        # parent's own collection of the same files.
        if self.running is not None and fields["when"] == "runtest":
            warning = warning_from_wire(fields["warning"])
            self.running.actions.append(RecordedWarning(warning, fields["when"]))

    def end_test(
        self, fields: dict[str, Any], usage_properties: bool
    ) -> tuple[pytest.Item, Outcome] | None:
        """The running test's ``logfinish`` (*fields*): its outcome, complete
        (None: no test ran)."""
        if self.running is None or self.running_item is None:
            return None
        item, outcome = self.running_item, self.running
        log = fields.get("log")
        if log:
            outcome.actions.insert(0, LogLines(log))
        if not any(r.when == "teardown" for r in outcome.reports):
            # Every test ends with a teardown report (JUnit XML waits for it).
            cause = Cause("protocol", "not every phase was reported by its subprocess")
            outcome.actions.extend(lost_test_reports(item, outcome.reports, cause))
        used = self.used = Usage.from_wire(fields.get("usage"))
        if used is not None and usage_properties:
            teardown = [r for r in outcome.reports if r.when == "teardown"][-1]
            teardown.user_properties.extend(usage.properties(used))
        self.running = self.running_item = None
        return item, outcome

    def lost_test(
        self, item: pytest.Item, cause: Cause, usage_properties: bool
    ) -> tuple[Outcome, list[pytest.TestReport]]:
        """*item* (the running test, or the next) lost its process: what it
        reported, and the reports that end it."""
        outcome = self.running or Outcome([], time.time())
        phase = self.phase if self.running_item is item else None
        reports = _lost_reports(item, outcome, self.child, cause, phase)
        if self.used is not None and usage_properties:
            reports[-1].user_properties.extend(usage.properties(self.used))
        return outcome, reports

    def session_ended(self, status: int) -> tuple[Cause, str]:
        """Why the tests the child's session did not report are lost, and
        the headline of their reports (*status*: its exit status)."""
        if not self.collected:
            ended = f"pytest in the subprocess ended with exit status {status}"
            return self.startup_cause(Cause("exit", ended)), f"could not run: {ended}"
        details = self.diagnosis()
        cause = Cause("protocol", "not reported by its subprocess", details)
        return cause, "was not reported by its subprocess"

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
            return _timeout_cause(self)
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

    def missing_cause(self, nodeid: str = "", others: list[str] | None = None) -> Cause:
        if others:
            return unreproducible_id(nodeid, others)
        text = "\n\n".join(_collect_error_text(r) for r in self.collect_errors)
        summary = "not collected in its subprocess"
        error = _error_line(text)
        return Cause("protocol", f"{summary}: {error}" if error else summary, text)


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
        setattr(last, LEAKED_ATTRIBUTE, tree.lines(child.leaked))
    return reports


def _timeout_cause(attempt: Attempt) -> Cause:
    """Why a child that timed out is gone: its limit, its stacks, what it left."""
    group, limit = attempt.group, attempt.group.timeout
    seconds = f"{limit.value:g}s"
    named = "" if group.items[0].nodeid == group.name else f" (group {group.name!r})"
    details = (
        f"The time limit of group {group.name!r} is {seconds}, "
        f"from {limit.source}, measured from the start of its subprocess "
        "(not counting the time it waited for its tests' turns)."
    )
    dump = read_tail(attempt.child.workdir / TIMEOUT_FILE, CRASH_OUTPUT_BYTES)
    if dump.strip():
        details += "\n\nStack of every thread shortly before the deadline:\n"
        details += trim_stack_dump(dump.rstrip())
    if attempt.child.native_stack:
        details += "\n\n" + attempt.child.native_stack
    if not attempt.collected:
        details += "\n\n" + attempt.diagnosis()
    return Cause("timeout", f"TIMED OUT after {seconds}{named}", details.rstrip())


def _skip_of(
    skips: list[pytest.CollectReport], nodeid: str
) -> pytest.CollectReport | None:
    """The skip of the module (or directory) that holds test *nodeid*."""
    for report in skips:
        if not report.nodeid or nodeid.startswith(
            (f"{report.nodeid}::", f"{report.nodeid}/")
        ):
            return report
    return None


def _carry_leaks(report: pytest.TestReport) -> None:
    """The processes the child named in *report* as killed (a section of
    text), as data for the session's summary."""
    if hasattr(report, LEAKED_ATTRIBUTE):
        return
    named = [
        line
        for name, text in report.sections
        if name.startswith(tree.SECTION)
        for line in tree.lines_of(text)
    ]
    if named:
        setattr(report, LEAKED_ATTRIBUTE, named)


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


def _collect_error_text(report: pytest.CollectReport) -> str:
    return f"{report.nodeid}: collection failed\n{report.longreprtext}"
