"""Parent side: a child's outcome of a test, told through pytest's own hooks.

Each test's reports, the lines it wrote to the terminal or the log file, its
JUnit records and warnings are re-emitted in pytest's process, in order,
between ``pytest_runtest_logstart`` and ``pytest_runtest_logfinish``, so that
the terminal, JUnit XML, ``--lf``, ``-x`` and third-party reporters see a
normal test.  The parent's own teardown for the test's slot (fixtures of
pytest's process that end after it) runs where pytest would have run it.
"""

from __future__ import annotations

import sys

import pytest

from pytest_isolated import _compat
from pytest_isolated.parent.outcome import (
    LogLines,
    Outcome,
    RecordedWarning,
    TerminalText,
    XmlRecord,
)


def emit(item: pytest.Item, nextitem: pytest.Item | None, outcome: Outcome) -> None:
    """Re-emit *item*'s outcome through pytest's logging hooks."""
    ihook = item.ihook
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    last_teardown = max(
        (i for i, a in enumerate(outcome.actions) if _is_teardown(a)), default=-1
    )
    for index, action in enumerate(outcome.actions):
        if isinstance(action, LogLines):
            _write_log_file(item.config, action.text)
            continue
        if isinstance(action, TerminalText):
            _write_terminal(item.config, action)
            continue
        if isinstance(action, XmlRecord):
            _record_xml(item.config, action)
            continue
        if isinstance(action, RecordedWarning):
            item.config.hook.pytest_warning_recorded.call_historic(
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


def _write_terminal(config: pytest.Config, text: TerminalText) -> None:
    """What reached the child's terminal, where pytest would have shown it."""
    if text.raw:  # pytest's capture is suspended here, as in capsys.disabled()
        sys.stdout.write(text.text)
        sys.stdout.flush()
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write(text.text, flush=True)


def _record_xml(config: pytest.Config, record: XmlRecord) -> None:
    """A child's ``record_xml_attribute`` / ``record_testsuite_property``."""
    xml = config.stash.get(_compat.junit_key(), None)
    if xml is None:
        return
    if record.nodeid is None:
        xml.add_global_property(record.name, record.value)
    else:
        xml.node_reporter(record.nodeid).add_attribute(record.name, record.value)


def _write_log_file(config: pytest.Config, text: str) -> None:
    """Append a child's ``--log-file`` lines to the session's log file."""
    handler = _compat.log_file_handler(config)
    if handler is None or handler.stream is None:
        return
    with handler.lock:  # a logging.Handler's own lock
        handler.stream.write(text)
        handler.flush()


def _is_teardown(action: object) -> bool:
    return isinstance(action, pytest.TestReport) and action.when == "teardown"


def _with_parent_teardown(
    item: pytest.Item, nextitem: pytest.Item | None, report: pytest.TestReport
) -> pytest.TestReport:
    """Run the parent's own teardown for this slot, as pytest would have run it
    in the test's teardown; fold its output and any error into *report*."""

    def teardown() -> None:
        __tracebackhide__ = True
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
