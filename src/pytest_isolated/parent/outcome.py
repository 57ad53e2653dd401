"""Parent side: what the parent re-emits for one test, as data.

A child's events become, per test, an :class:`Outcome`: the reports, and
in their order what else pytest would have shown or recorded for the test
(warnings, ``--log-file`` lines, terminal text, JUnit XML records).
"""

from __future__ import annotations

import dataclasses

import pytest


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
