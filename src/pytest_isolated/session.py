"""Parent side: run each group in a subprocess and report its tests in run order.

``pytest_runtest_protocol`` is taken over for isolated tests only.  When the
first test of a group comes up, the group's subprocess starts with the whole
group; each test's reports are then re-emitted, in the session's run order,
through the normal ``logstart`` / ``logreport`` / ``logfinish`` hooks, so that
the terminal, JUnit XML, ``--lf``, ``-x`` and third-party reporters see a
normal test.  If the subprocess crashes or times out, the test it was running
fails with the cause, and the group's remaining tests continue in a fresh
subprocess: every test gets exactly one real outcome.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

import pytest

from pytest_isolated import _compat
from pytest_isolated.crash import (
    Cause,
    describe_exit,
    lost_test_reports,
    not_run_reports,
    trim_stack_dump,
)
from pytest_isolated.grouping import Group, plan_groups
from pytest_isolated.process import Child, Event, Exited, Garbled, make_workdir
from pytest_isolated.protocol import (
    CACHE_DIR,
    CRASH_FILE,
    EV_COLLECT_ERROR,
    EV_COLLECTED,
    EV_FINISHED,
    EV_INTERNAL_ERROR,
    EV_LOGFINISH,
    EV_LOGSTART,
    EV_REPORT,
    EV_WARNING,
    STDERR_FILE,
    STDOUT_FILE,
    TIMEOUT_FILE,
    ChildSpec,
    read_tail,
    warning_from_wire,
)
from pytest_isolated.settings import Settings, resolve_request

#: ``sys.path`` as it was before pytest and conftests changed it: pytest imports
#: this module with the plugin, before it loads any conftest.
STARTUP_SYS_PATH: list[str] = list(sys.path)

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


class GroupRun:
    """One group: its subprocess, and fresh ones for what a crash left unrun."""

    def __init__(
        self, scheduler: IsolationScheduler, group: Group[pytest.Item]
    ) -> None:
        self.scheduler = scheduler
        self.config = scheduler.config
        self.group = group
        self.pending: list[pytest.Item] = list(group.items)
        self.done: dict[str, Outcome] = {}
        self.child: Child | None = None
        self.attempt = 0

    # -- the parent asks for one test's outcome --------------------------------

    def outcome(self, item: pytest.Item) -> Outcome:
        """Block until *item*'s outcome is known (reported, crashed, timed out)."""
        while item.nodeid not in self.done:
            if self.child is None:
                self._start()
            self._step()
        if not self.pending:
            # Every result is in; the child's exit need not be waited for.
            self._retire()
        return self.done.pop(item.nodeid)

    # -- the child's life ------------------------------------------------------

    def _start(self) -> None:
        config = self.config
        self.attempt += 1
        workdir = make_workdir()
        capture = config.getoption("capture") != "no"
        timeout = self.group.timeout.seconds
        start = time.time()
        suffix = "" if self.attempt == 1 else f"-{self.attempt}"
        basetemp = _compat.base_temp(config) / f"isolated-{self.group.index}{suffix}"
        extra = ["--capture=no", f"--basetemp={basetemp}"]
        if config.pluginmanager.has_plugin("cacheprovider"):
            extra += ["-o", f"cache_dir={workdir / CACHE_DIR}"]
        spec = ChildSpec(
            args=[*config.invocation_params.args, *extra],
            files=list(dict.fromkeys(str(item.path) for item in self.pending)),
            nodeids=[item.nodeid for item in self.pending],
            sys_path=STARTUP_SYS_PATH,
            invocation_dir=str(config.invocation_params.dir),
            cwd=os.getcwd(),
            basetemp=str(basetemp),
            workdir=str(workdir),
            deadline=None if timeout is None else start + timeout,
            dump_margin=0.0 if timeout is None else min(1.0, max(0.05, timeout / 10)),
            capture=capture,
        )
        env = dict(os.environ, PYTEST_RUNNING_IN_SUBPROCESS="1")
        self.child = Child(
            workdir, capture, env, STARTUP_SYS_PATH[0] if STARTUP_SYS_PATH else ""
        )
        self.child.send_spec(spec)
        self.deadline = spec.deadline
        self.collected = False
        self.finished = False
        self.running: Outcome | None = None
        self.running_id: str | None = None
        self.collect_errors: list[pytest.CollectReport] = []
        self.problems: list[str] = []
        self.timed_out = False
        self.scheduler.children_started += 1

    def _step(self) -> None:
        child = self.child
        assert child is not None
        wait = None
        if self.deadline is not None and not self.timed_out:
            wait = max(0.0, self.deadline - time.time())
        message = child.next(wait)
        if message is None:  # the deadline passed
            self.timed_out = True
            child.kill()
        elif isinstance(message, Event):
            self._on_event(message)
        elif isinstance(message, Garbled):
            self.problems.append(f"{message.problem}: {message.line!r}")
        elif isinstance(message, Exited):
            self._on_exit(message.returncode)

    def _on_event(self, event: Event) -> None:
        name, fields = event.name, event.fields
        if name == EV_LOGSTART:
            self.running_id = fields["nodeid"]
            self.running = Outcome([], event.at)
        elif name == EV_REPORT and self.running is not None:
            self.running.actions.append(self._report(fields["report"]))
        elif name == EV_WARNING and self.running is not None:
            # Collection and configuration warnings were already recorded by the
            # parent's own collection of the same files.
            if fields["when"] == "runtest":
                warning = warning_from_wire(fields["warning"])
                self.running.actions.append(RecordedWarning(warning, fields["when"]))
        elif name == EV_LOGFINISH and self.running is not None:
            self._finish(fields["nodeid"], self.running)
            self.running = self.running_id = None
        elif name == EV_COLLECT_ERROR:
            self.collect_errors.append(self._collect_report(fields["report"]))
        elif name == EV_COLLECTED:
            self.collected = True
            for nodeid in fields["missing"]:
                self._give_up(nodeid, self._missing_cause(), "was not collected")
        elif name == EV_INTERNAL_ERROR:
            self.problems.append(fields["text"])
        elif name == EV_FINISHED:
            self.finished = True
            self._child_done(fields["exitstatus"])

    def _report(self, data: dict[str, object]) -> pytest.TestReport:
        hook = self.config.hook
        report: pytest.TestReport = hook.pytest_report_from_serializable(
            config=self.config, data=data
        )
        return report

    def _collect_report(self, data: dict[str, object]) -> pytest.CollectReport:
        hook = self.config.hook
        report: pytest.CollectReport = hook.pytest_report_from_serializable(
            config=self.config, data=data
        )
        return report

    def _finish(self, nodeid: str, outcome: Outcome) -> None:
        self.done[nodeid] = outcome
        self.pending = [item for item in self.pending if item.nodeid != nodeid]

    def _give_up(self, nodeid: str, cause: Cause, headline: str) -> None:
        item = self._item(nodeid)
        if item is not None:
            reports = not_run_reports(item, cause, f"the test {headline}")
            self._finish(nodeid, Outcome(list(reports), time.time()))

    def _item(self, nodeid: str) -> pytest.Item | None:
        return next((i for i in self.pending if i.nodeid == nodeid), None)

    def _child_done(self, exitstatus: int) -> None:
        """The child reported the end of its session: whatever it did not
        report, it will never report."""
        if not self.collected:
            ended = f"pytest in the subprocess ended with exit status {exitstatus}"
            cause = self._startup_cause(Cause("exit", ended))
            for item in list(self.pending):
                self._give_up(item.nodeid, cause, f"could not run: {ended}")
        else:
            cause = Cause(
                "protocol", "not reported by its subprocess", self._diagnosis()
            )
            for item in list(self.pending):
                self._give_up(item.nodeid, cause, "was not reported by its subprocess")
        self._retire()

    def _startup_cause(self, cause: Cause) -> Cause:
        """*cause*, for a child that ended before it collected the group: the
        details are everything it left, the summary its error if it named one."""
        details = self._diagnosis()
        summary = cause.summary
        if cause.kind == "exit":
            summary = _error_line(details) or summary
        return Cause(cause.kind, summary, details)

    def _on_exit(self, returncode: int) -> None:
        """The child is gone before the end of its session."""
        assert self.child is not None
        self.child.reap_group()
        cause = self._exit_cause(returncode)
        if not self.collected:
            # It died before running anything: every test gets the real error.
            headline = f"could not run: the subprocess {cause.summary}"
            cause = self._startup_cause(cause)
            for item in list(self.pending):
                self._give_up(item.nodeid, cause, headline)
        elif self.pending:
            item = self._running_item()
            outcome = self.running or Outcome([], time.time())
            reports = lost_test_reports(
                item,
                outcome.reports,
                cause,
                sections=[
                    ("stdout", self.child.read_output(STDOUT_FILE, CRASH_OUTPUT_BYTES)),
                    ("stderr", self.child.read_output(STDERR_FILE, CRASH_OUTPUT_BYTES)),
                ]
                if self.child.capture
                else [],
                duration=time.time() - outcome.started,
            )
            outcome.actions.extend(reports)
            self._finish(item.nodeid, outcome)
            self.scheduler.incidents.append((self.group.name, item.nodeid, cause))
        self._retire()

    def _running_item(self) -> pytest.Item:
        if self.running_id is not None:
            item = self._item(self.running_id)
            if item is not None:
                return item
        return self.pending[0]

    def _exit_cause(self, returncode: int) -> Cause:
        assert self.child is not None
        if self.timed_out:
            return self._timeout_cause()
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
        return Cause("timeout", f"TIMED OUT after {seconds}{named}", details)

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

    def _retire(self) -> None:
        if self.child is not None:
            self.scheduler.retire(self.child)
            self.child = None

    def stop(self) -> None:
        """Kill the subprocess (the session is ending early)."""
        if self.child is not None:
            self.child.kill()
            self._retire()


class IsolationScheduler:
    """The parent-side plugin object, registered when isolation is on."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.groups: dict[pytest.Item, Group[pytest.Item]] = {}
        self.runs: dict[int, GroupRun] = {}
        self.retired: list[Child] = []
        self.children_started = 0
        self.groups_run = 0
        self.child_seconds = 0.0
        #: (group name, nodeid, cause) of each crash or timeout, in order.
        self.incidents: list[tuple[str, str, Cause]] = []

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        requests = [
            (item, resolve_request(item, self.settings.isolate_all))
            for item in session.items
        ]
        self.groups = plan_groups(requests, self.settings.timeout)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> bool | None:
        group = self.groups.get(item)
        if group is None:
            return None
        run = self.runs.get(group.index)
        if run is None:
            run = self.runs[group.index] = GroupRun(self, group)
            self.groups_run += 1
        outcome = run.outcome(item)
        self._emit(item, nextitem, outcome)
        if not run.pending:
            del self.runs[group.index]
        return True

    def _emit(
        self, item: pytest.Item, nextitem: pytest.Item | None, outcome: Outcome
    ) -> None:
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        last_teardown = max(
            (i for i, a in enumerate(outcome.actions) if _is_teardown(a)), default=-1
        )
        for index, action in enumerate(outcome.actions):
            if isinstance(action, RecordedWarning):
                self.config.hook.pytest_warning_recorded.call_historic(
                    kwargs={
                        "warning_message": action.warning,
                        "when": action.when,
                        "nodeid": item.nodeid,
                        "location": None,
                    }
                )
                continue
            if index == last_teardown:
                action = _with_parent_teardown(item, nextitem, action)
            ihook.pytest_runtest_logreport(report=action)
        if last_teardown < 0:
            _compat.teardown_parent_stack(item, nextitem)
        ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)

    def retire(self, child: Child) -> None:
        """A child whose results are all in; reaped later, off the critical path."""
        self.child_seconds += time.time() - child.started_at
        self.retired.append(child)
        still = []
        for old in self.retired:
            if old.returncode is not None or old.proc.poll() is not None:
                old.close()
            else:
                still.append(old)
        self.retired = still

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter
    ) -> None:
        """List the groups whose subprocess crashed or timed out; with -v, also
        how many subprocesses ran and for how long."""
        tr = terminalreporter
        if self.incidents:
            tr.section("isolated subprocesses that crashed or timed out", sep="=")
            for group, nodeid, cause in self.incidents:
                where = nodeid if group == nodeid else f"group {group!r}, in {nodeid}"
                tr.line(f"{where}: {cause.summary}", red=True)
        if self.children_started and tr.config.get_verbosity() > 0:
            tr.write_line(
                f"pytest-isolated: {self.children_started} subprocess(es) for "
                f"{self.groups_run} group(s), {self.child_seconds:.2f}s in total"
            )

    def pytest_sessionfinish(self) -> None:
        for run in list(self.runs.values()):
            run.stop()
        self.runs.clear()
        deadline = time.time() + 10.0
        for child in self.retired:
            try:
                child.proc.wait(timeout=max(0.0, deadline - time.time()))
            except Exception:  # noqa: BLE001 - stuck at exit: kill it
                child.kill()
            child.close()
        self.retired = []


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


def _is_teardown(action: Action) -> bool:
    return isinstance(action, pytest.TestReport) and action.when == "teardown"


def _with_parent_teardown(
    item: pytest.Item, nextitem: pytest.Item | None, report: pytest.TestReport
) -> pytest.TestReport:
    """Run the parent's own teardown for this slot; fold any error into *report*."""
    call: pytest.CallInfo[None] = pytest.CallInfo.from_call(
        lambda: _compat.teardown_parent_stack(item, nextitem), "teardown"
    )
    if call.excinfo is None:
        return report
    parent = pytest.TestReport.from_item_and_call(item, call)
    if report.passed:
        parent.sections = list(report.sections)
        parent.user_properties = list(report.user_properties)
        return parent
    report.sections.append(("Error in the parent's teardown", parent.longreprtext))
    return report
