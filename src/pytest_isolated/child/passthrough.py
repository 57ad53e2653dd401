"""Child side: what the child's pytest would show in the session's outputs.

The child's terminal and JUnit XML are no one's, but some of what plugins and
fixtures write there belongs to the test and must reach the parent, which
writes it where plain pytest would have:

- text written to the terminal while a test runs, from its setup to its
  teardown, but for the terminal reporter's own report lines (live logs of
  ``log_cli``, ``--setup-show`` lines, output inside ``capsys.disabled()``):
  :class:`TerminalTap` records it, and the parent writes it before the
  next report, with the parent's terminal width and colours;
- ``record_xml_attribute`` and ``record_testsuite_property``:
  :class:`LogXML` stands in for the JUnit writer;
- under pytest-xdist, the ``worker_id`` and ``testrun_uid`` fixtures answer
  with the worker's values (this module's fixtures).
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable, Generator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from pytest_isolated import _compat
from pytest_isolated.child.capture import Passthrough
from pytest_isolated.protocol import ChildSpec

Send = Callable[..., None]


class TerminalTap(io.TextIOBase):
    """The child's ``sys.stdout`` while pytest configures: its terminal
    reporter writes here; what it writes during a test's phase is kept."""

    encoding = "utf-8"

    def __init__(
        self, raw: bool = False, parts: list[tuple[bool, str]] | None = None
    ) -> None:
        self.recording = False
        self.is_raw = raw
        #: (raw, text): raw text went past pytest's terminal writer (printed
        #: to the real stdout inside ``capsys.disabled()``).
        self.parts: list[tuple[bool, str]] = [] if parts is None else parts
        self._raw: TerminalTap | None = None

    @property
    def raw(self) -> TerminalTap:
        """The same tap, for what is printed past the terminal writer."""
        if self._raw is None:
            self._raw = TerminalTap(raw=True, parts=self.parts)
            self._raw.recording = True
        return self._raw

    def write(self, text: str) -> int:
        if (self.recording or self.is_raw) and text:
            self.parts.append((self.is_raw, text))
        return len(text)

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    def take(self) -> list[list[Any]]:
        """What was recorded, as ``[raw, text]`` runs, and forget it."""
        runs: list[list[Any]] = []
        for raw, text in self.parts:
            if runs and runs[-1][0] == raw:
                runs[-1][1] += text
            else:
                runs.append([raw, text])
        self.parts.clear()
        return runs


def fit_terminal(config: pytest.Config, width: int | None, markup: bool) -> None:
    """Give the child's terminal the parent's width and colours."""
    with contextlib.suppress(Exception):  # no terminal reporter (-p no:terminal)
        writer = config.get_terminal_writer()
        if width:
            writer.fullwidth = width
        writer.hasmarkup = markup


def take_terminal_and_junit(config: pytest.Config, spec: ChildSpec, send: Send) -> None:
    """The parent's terminal width and colours, and its JUnit family, as
    *spec* says (a fork takes its own spec's: a template started as pytest
    loaded its conftests did not know them)."""
    fit_terminal(config, spec.term_width, spec.term_markup)
    if spec.junit_family is not None:
        config.stash[_compat.junit_key()] = LogXML(spec.junit_family, send)
    elif config.pluginmanager.has_plugin("junitxml"):
        # The module is pytest's to import: not under -p no:junitxml.
        key = _compat.junit_key()
        if key in config.stash:
            del config.stash[key]


def show_disabled_capture_live(
    config: pytest.Config,
    tap: TerminalTap,
    fds: Callable[[], AbstractContextManager[Passthrough | None]],
) -> None:
    """While a fixture disables capture (``capsys.disabled()``,
    ``capfd.disabled()``), what the test writes goes to the terminal, as in
    pytest's own process: what it prints through ``sys.stdout`` and
    ``sys.stderr`` (with the interpreter's own streams, as in pytest) and,
    where fds 1 and 2 are capture files, what it writes to them (*fds*)."""
    capman = config.pluginmanager.get_plugin("capturemanager")
    original = getattr(capman, "global_and_fixture_disabled", None)
    if original is None:
        return

    @contextlib.contextmanager
    def disabled() -> Generator[None]:
        with original(), fds() as passthrough:
            streams = sys.stdout, sys.stderr
            if passthrough is None or not _writes_to_fds(streams):
                sys.stdout = sys.stderr = tap.raw
            else:
                sys.stdout, sys.stderr = passthrough.streams
            try:
                yield
            finally:
                sys.stdout, sys.stderr = streams
                if passthrough is not None:
                    tap.raw.write(passthrough.take())

    _compat.set_attribute(capman, "global_and_fixture_disabled", disabled)


def _writes_to_fds(streams: tuple[Any, Any]) -> bool:
    """Whether the streams write to fds 1 and 2 (the capture is suspended)."""
    try:
        return [s.fileno() for s in streams] == [1, 2]
    except (AttributeError, OSError, ValueError):
        return False


class _NodeReporter:
    # Named and placed as pytest's own, so that a traceback that shows the
    # fixture's value reads as it would without isolation.
    __module__ = "_pytest.junitxml"

    def __init__(self, recorder: LogXML, nodeid: str) -> None:
        self.recorder, self.nodeid = recorder, nodeid

    def add_attribute(self, name: str, value: object) -> None:
        self.recorder.send(
            "xml_attribute", nodeid=self.nodeid, name=str(name), value=str(value)
        )


class LogXML:
    """Stands for pytest's JUnit writer in the child (``--junitxml`` is the
    parent's): what the ``record_*`` fixtures give it goes to the parent.
    Named and placed as pytest's own class, like :class:`_NodeReporter`."""

    __module__ = "_pytest.junitxml"

    def __init__(self, family: str, send: Send) -> None:
        self.family = family
        self.send = send

    def node_reporter(self, report: Any) -> _NodeReporter:
        nodeid = getattr(report, "nodeid", report)
        return _NodeReporter(self, str(nodeid))

    def add_global_property(self, name: str, value: object) -> None:
        self.send("xml_property", name=str(name), value=str(value))


# Registered as a plugin (this module) in a child of an xdist worker only.
@pytest.fixture(scope="session")
def worker_id() -> str:
    """The xdist worker's id, as in the worker itself."""
    return os.environ.get("PYTEST_XDIST_WORKER", "master")


@pytest.fixture(scope="session")
def testrun_uid() -> str:
    """The xdist test run's id, as in the worker itself."""
    return os.environ.get("PYTEST_XDIST_TESTRUNUID", "")
