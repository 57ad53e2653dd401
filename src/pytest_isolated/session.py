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

import contextlib
import dataclasses
import os
import queue
import sys
import time

import pytest

from pytest_isolated import _compat, integrations
from pytest_isolated.crash import (
    Cause,
    describe_exit,
    lost_test_reports,
    not_run_reports,
    trim_stack_dump,
)
from pytest_isolated.grouping import Group, plan_groups
from pytest_isolated.process import (
    Child,
    Event,
    Exited,
    ForkedChild,
    ForkTemplate,
    Garbled,
    Message,
)
from pytest_isolated.protocol import (
    CACHE_DIR,
    CRASH_FILE,
    EV_COLLECT_ERROR,
    EV_COLLECTED,
    EV_EXIT,
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
        #: (reason, returncode) of a pytest.exit() in the child (reason None:
        #: KeyboardInterrupt): the parent's session ends the same way.
        self.exit_request: tuple[str | None, int] | None = None
        #: Crashed attempts per test, for pytest-rerunfailures.
        self.crashes: dict[str, int] = {}
        #: Actions of crashed attempts, carried to the test's next attempt.
        self.carried: dict[str, list[Action]] = {}

    @property
    def needs_child(self) -> bool:
        """Tests are left and no subprocess runs them (not started, or crashed)."""
        return self.child is None and bool(self.pending)

    # -- the child's life ------------------------------------------------------

    def attach(self, child: Child) -> None:
        """Give *child* the group's remaining tests."""
        config = self.config
        self.attempt += 1
        timeout = self.group.timeout.seconds
        suffix = "" if self.attempt == 1 else f"-{self.attempt}"
        spec = make_spec(
            config,
            child,
            self.pending,
            basetemp=f"isolated-{self.group.index}{suffix}",
            deadline=None if timeout is None else time.time() + timeout,
        )
        if isinstance(child, ForkedChild):
            spec = dataclasses.replace(spec, events_path=str(child.events_path))
        self.child = child
        self.collected = False
        self.running: Outcome | None = None
        self.running_id: str | None = None
        self.collect_errors: list[pytest.CollectReport] = []
        self.problems: list[str] = []
        child.start(spec)

    def handle(self, message: Message) -> None:
        """Take one message from the group's current child."""
        if isinstance(message, Event):
            self._on_event(message)
        elif isinstance(message, Garbled):
            self.problems.append(f"{message.problem}: {message.line!r}")
        elif isinstance(message, Exited):
            self._on_exit(message.returncode)

    def _on_event(self, event: Event) -> None:
        name, fields = event.name, event.fields
        if name == EV_LOGSTART:
            # pytest-rerunfailures logs a start for each attempt of a test: its
            # earlier attempts' reports stay (as do those of an attempt whose
            # subprocess crashed, carried over to this one).
            nodeid = fields["nodeid"]
            if self.running is None or self.running_id != nodeid:
                self.running = Outcome(self.carried.pop(nodeid, []), event.at)
            self.running_id = nodeid
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
        elif name == EV_EXIT:
            self.exit_request = (fields["reason"], fields["returncode"])
        elif name == EV_FINISHED:
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
        self.release()

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
            self.scheduler.incidents.append((self.group.name, item.nodeid, cause))
            crashes = self.crashes[item.nodeid] = self.crashes.get(item.nodeid, 0) + 1
            failed = next((r for r in reports if r.failed), None)  # None: xfail
            if failed is not None and integrations.crash_reruns_left(item, crashes):
                # As pytest-rerunfailures does: the failed report of the attempt
                # becomes a rerun, and the test runs again, in a fresh subprocess.
                failed.outcome = "rerun"  # type: ignore[assignment]
                self.carried[item.nodeid] = [*outcome.actions, failed]
            else:
                outcome.actions.extend(reports)
                self._finish(item.nodeid, outcome)
        self.release()

    def _running_item(self) -> pytest.Item:
        if self.running_id is not None:
            item = self._item(self.running_id)
            if item is not None:
                return item
        return self.pending[0]

    def _exit_cause(self, returncode: int) -> Cause:
        assert self.child is not None
        if self.child.timed_out:
            return self._timeout_cause()
        kind, summary = describe_exit(returncode)
        if self.child.capture:
            stderr = self.child.read_output(STDERR_FILE, 64 * 1024)
            named = integrations.timeout_exit_summary(returncode, stderr)
            if named:
                return Cause("timeout", named, self._diagnosis())
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

    def release(self) -> None:
        if self.child is not None:
            self.scheduler.retire(self.child)
            self.child = None

    def stop(self) -> None:
        """Kill the subprocess (the session is ending early)."""
        if self.child is not None:
            self.child.kill()
            self.release()


class IsolationScheduler:
    """The parent-side plugin object, registered when isolation is on.

    All children report to one inbox.  While the main thread waits for one
    test's outcome it handles every child's messages, so that under
    ``--isolated-parallel`` finished groups free their slot at once.
    """

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.capture = config.getoption("capture") != "no"
        # pytest 9.2 inserts the pythonpath ini entries before it imports
        # plugins; the directory Python itself put first comes after them.
        added = {str(path) for path in config.getini("pythonpath")}
        self.path0 = next((p for p in STARTUP_SYS_PATH if p not in added), "")
        self.inbox: queue.Queue[tuple[Child, Message]] = queue.Queue()
        self.groups: dict[pytest.Item, Group[pytest.Item]] = {}
        self.order: list[Group[pytest.Item]] = []
        self.runs: dict[int, GroupRun] = {}
        self.owner: dict[Child, GroupRun] = {}
        self.spare: Child | None = None
        self.template: ForkTemplate | None = None
        self.retired: list[Child] = []
        if settings.start == "fork" and not hasattr(os, "fork"):
            config.issue_config_time_warning(
                pytest.PytestConfigWarning(
                    "--isolated-start=fork needs os.fork(), which this platform "
                    "does not have: isolated tests start with 'prestart' instead"
                ),
                stacklevel=2,
            )
            self.settings = settings = dataclasses.replace(settings, start="prestart")
        # Look ahead only when groups may run beside each other: with one at a
        # time, a group must not start before the tests that precede it ran.
        # Under pytest-xdist the worker's run order is not its collection order.
        self.lookahead = settings.parallel > 1 and not os.environ.get(
            "PYTEST_XDIST_WORKER"
        )
        self._started: set[int] = set()  # indexes of the groups ever started
        self.children_started = 0
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
        unique = {group.index: group for group in self.groups.values()}
        self.order = [unique[index] for index in sorted(unique)]
        if (
            self.settings.start == "fork"
            and self.order
            and not session.config.option.collectonly
        ):
            self._start_template()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item, nextitem: pytest.Item | None
    ) -> bool | None:
        group = self.groups.get(item)
        if group is None:
            return None
        outcome = self._outcome(item, group)
        self._emit(item, nextitem, outcome)
        return True

    # -- running groups --------------------------------------------------------

    def _outcome(self, item: pytest.Item, group: Group[pytest.Item]) -> Outcome:
        """Block until *item*'s outcome is known (reported, crashed, timed out)."""
        run = self._run(group)
        while item.nodeid not in run.done:
            if run.exit_request is not None:
                self._exit_like_the_child(item, run)
            if run.needs_child:
                self._launch(run)
            self._fill()
            self._handle(*self._next_message())
        outcome = run.done.pop(item.nodeid)
        if not run.pending:
            run.release()  # every result is in: no need to wait for the exit
            if not run.done:  # and every one was reported
                del self.runs[group.index]
        return outcome

    def _exit_like_the_child(self, item: pytest.Item, run: GroupRun) -> None:
        """A test called pytest.exit() (or raised KeyboardInterrupt) in the
        child: report what it reported, then end the session as pytest would."""
        assert run.exit_request is not None
        reason, returncode = run.exit_request
        ihook = item.ihook
        ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
        if run.running is not None and run.running_id == item.nodeid:
            for report in run.running.reports:
                ihook.pytest_runtest_logreport(report=report)
        if reason is None:
            raise KeyboardInterrupt
        pytest.exit(reason, returncode)

    def _run(self, group: Group[pytest.Item]) -> GroupRun:
        run = self.runs.get(group.index)
        if run is None:
            run = self.runs[group.index] = GroupRun(self, group)
        return run

    def _fill(self) -> None:
        """Under --isolated-parallel: start later groups, in run order, while
        slots are free; an exclusive group starts alone and runs alone."""
        if not self.lookahead:
            return
        for group in self.order:
            active = [r for r in self.runs.values() if r.child is not None]
            if len(active) >= self.settings.parallel or any(
                r.group.exclusive for r in active
            ):
                return
            run = self.runs.get(group.index)
            if run is None and group.index not in self._started:
                if group.exclusive and active:
                    return  # it waits for those; the groups after it wait for it
                self._launch(self._run(group))
            elif run is not None and run.needs_child:
                self._launch(run)  # the rest of a crashed group

    def _start_template(self) -> None:
        """Start the fork template now: it collects while the session runs."""
        child = self._spawn()
        items = [item for group in self.order for item in group.items]
        spec = make_spec(
            self.config,
            child,
            items,
            basetemp="isolated-template",
            deadline=None,
            template=True,
        )
        self.template = ForkTemplate(child, spec)

    def _forked_child(self, run: GroupRun) -> Child | None:
        """A child forked from the template, if the template can run the group."""
        template = self.template
        if template is None:
            return None
        while not template.ready and not template.dead:
            self._handle(*self._next_message())
        if not template.can_run([item.nodeid for item in run.pending]):
            return None
        self.children_started += 1
        return ForkedChild(self.inbox, template, child_environment())

    def _handle(self, child: Child, message: Message) -> None:
        """Pass one message to whoever it is for."""
        if self.template is not None and child is self.template.child:
            self.template.handle(message)
            return
        owner = self.owner.get(child)
        if owner is not None:
            owner.handle(message)
        elif isinstance(message, Exited):  # a retired child is gone
            self._close(child)

    def _launch(self, run: GroupRun) -> None:
        self._started.add(run.group.index)
        child = self._forked_child(run) or self._take_spare() or self._spawn()
        self.owner[child] = run
        run.attach(child)
        more_to_come = len(self._started) < len(self.order)
        if self.settings.start == "prestart" and more_to_come and self.spare is None:
            self.spare = self._spawn()

    def _spawn(self) -> Child:
        self.children_started += 1
        env = dict(os.environ, PYTEST_RUNNING_IN_SUBPROCESS="1")
        return Child(self.inbox, self.capture, env, self.path0)

    def _take_spare(self) -> Child | None:
        """The pre-started interpreter, if it can pass for a fresh one."""
        spare, self.spare = self.spare, None
        if spare is None:
            return None
        if spare.alive() and _startup_environment(spare.env) == _startup_environment(
            child_environment()
        ):
            return spare
        spare.kill()
        self.retired.append(spare)
        return None

    def _next_message(self) -> tuple[Child, Message]:
        # A bounded wait, so that Ctrl-C is seen on every platform; a message
        # is handled as soon as it arrives.
        while True:
            try:
                return self.inbox.get(timeout=1.0)
            except queue.Empty:
                continue

    def retire(self, child: Child) -> None:
        """A child whose results are all in; reaped when it exits, off the
        critical path."""
        self.owner.pop(child, None)
        self.child_seconds += time.time() - (child.started_at or child.spawned_at)
        if child.returncode is not None:
            self._close(child)
        else:
            self.retired.append(child)

    def _close(self, child: Child) -> None:
        if child in self.retired:
            self.retired.remove(child)
        child.close()

    # -- reporting -------------------------------------------------------------

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

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter
    ) -> None:
        """List the groups whose subprocess crashed or timed out; with -v, also
        how many subprocesses ran and for how long."""
        tr = terminalreporter
        if self.incidents:
            tr.section("isolated subprocesses that crashed or timed out", sep="=")
            for group, nodeid, cause in self.incidents:
                named = group != nodeid and repr(group) not in cause.summary
                where = f"{nodeid} (group {group!r})" if named else nodeid
                tr.line(f"{where}: {cause.summary}", red=True)
        if self._started and tr.config.get_verbosity() > 0:
            tr.write_line(
                f"pytest-isolated: {self.children_started} subprocess(es) for "
                f"{len(self._started)} group(s), {self.child_seconds:.2f}s in total"
            )

    def pytest_sessionfinish(self) -> None:
        """Stop what still runs (-x, Ctrl-C) and reap every child."""
        for run in list(self.runs.values()):
            run.stop()
        self.runs.clear()
        if self.spare is not None:
            self.spare.kill()
            self.retired.append(self.spare)
            self.spare = None
        if self.template is not None:
            # It exits when its command stream ends; its messages are still
            # handled below, since they tell its forks' exits.
            self.template.close()
            self.retired.append(self.template.child)
        # Keep handling messages while children exit: a forked child learns of
        # its exit only through the template's messages.
        deadline = time.time() + 10.0
        while self.retired and time.time() < deadline:
            for child in list(self.retired):
                if not child.alive():
                    self._close(child)
            with contextlib.suppress(queue.Empty):
                self._handle(*self.inbox.get(timeout=0.05))
        for child in list(self.retired):
            child.kill()  # stuck at exit
            self._close(child)
        self.template = None


def make_spec(
    config: pytest.Config,
    child: Child,
    items: list[pytest.Item],
    *,
    basetemp: str,
    deadline: float | None,
    template: bool = False,
) -> ChildSpec:
    """What *child* needs to run *items* as the parent would have."""
    base = _compat.base_temp(config) / basetemp
    extra = ["--capture=no", f"--basetemp={base}"]
    if config.pluginmanager.has_plugin("cacheprovider"):
        extra += ["-o", f"cache_dir={child.workdir / CACHE_DIR}"]
    extra += integrations.child_args(config)
    margin = (
        0.0 if deadline is None else min(1.0, max(0.05, (deadline - time.time()) / 10))
    )
    return ChildSpec(
        args=[*config.invocation_params.args, *extra],
        files=list(dict.fromkeys(str(item.path) for item in items)),
        nodeids=[item.nodeid for item in items],
        sys_path=STARTUP_SYS_PATH,
        invocation_dir=str(config.invocation_params.dir),
        cwd=os.getcwd(),
        env=child_environment(),
        basetemp=str(base),
        workdir=str(child.workdir),
        deadline=deadline,
        dump_margin=margin,
        capture=child.capture,
        template=template,
    )


def child_environment() -> dict[str, str]:
    """The environment a child runs its tests with: the parent's, now."""
    return dict(os.environ, PYTEST_RUNNING_IN_SUBPROCESS="1")


def _startup_environment(env: dict[str, str]) -> dict[str, str]:
    """The variables the interpreter reads when it starts (PYTHONPATH, ...):
    a pre-started interpreter can stand in only if they are unchanged."""
    return {k: v for k, v in env.items() if k.startswith("PYTHON")}


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
    """Run the parent's own teardown for this slot, as pytest would have run it
    in the test's teardown; fold its output and any error into *report*."""

    def teardown() -> None:
        with _compat.capture_teardown_output(item):
            _compat.teardown_parent_stack(item, nextitem)

    call: pytest.CallInfo[None] = pytest.CallInfo.from_call(teardown, "teardown")
    parent = pytest.TestReport.from_item_and_call(item, call)
    if call.excinfo is None and not parent.sections:
        return report
    if report.passed and call.excinfo is not None:
        parent.sections = [*report.sections, *parent.sections]
        parent.user_properties = list(report.user_properties)
        return parent
    report.sections = [*report.sections, *parent.sections]
    if call.excinfo is not None:
        report.sections.append(("Error in the parent's teardown", parent.longreprtext))
    return report
