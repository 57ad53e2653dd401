"""A pytest plugin that records every test's reports for migration/run.py.

Loaded with ``-p migration_probe`` under pytest-forked and under
pytest-isolated alike.  It records what the user's session reports (the
parent process): each phase's outcome, the crash wording and the warnings
attributed to each test, and writes them as JSON to ``$MIGRATION_PROBE_OUT``
at the end of the session.  In a pytest-isolated child it stays silent.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

CRASH_WORDS = re.compile(
    r"CRASHED with signal \d+(?: \([A-Z0-9_]+\))?|EXITED with status -?\d+"
)

_records: dict[str, dict[str, Any]] = {}


def _active() -> bool:
    return "MIGRATION_PROBE_OUT" in os.environ and not os.environ.get(
        "PYTEST_RUNNING_IN_SUBPROCESS"
    )


def _record(nodeid: str) -> dict[str, Any]:
    return _records.setdefault(nodeid, {"phases": [], "warnings": []})


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not _active():
        return
    text = report.longreprtext if report.failed else ""
    wasxfail = getattr(report, "wasxfail", None)
    words = CRASH_WORDS.findall(text) + CRASH_WORDS.findall(wasxfail or "")
    _record(report.nodeid)["phases"].append(
        {
            "when": report.when,
            "outcome": report.outcome,
            "wasxfail": wasxfail is not None,
            "crash": words[0] if words else None,
            "sections": [name for name, _ in report.sections],
            "output": "".join(content for _, content in report.sections),
        }
    )


def pytest_warning_recorded(
    warning_message: Any, when: str, nodeid: str, location: object
) -> None:
    if _active() and when == "runtest" and nodeid:
        message = f"{warning_message.category.__name__}: {warning_message.message}"
        _record(nodeid)["warnings"].append(message)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    if _active() and report.failed:
        _record(report.nodeid or "<collection>")["phases"].append(
            {
                "when": "collect",
                "outcome": "failed",
                "wasxfail": False,
                "crash": None,
                "sections": [],
                "output": report.longreprtext[-2000:],
            }
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _active():
        data = {"exitstatus": int(exitstatus), "tests": _records}
        with open(os.environ["MIGRATION_PROBE_OUT"], "w") as f:
            json.dump(data, f, indent=1)
