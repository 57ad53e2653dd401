"""The wire format carries every kind of report intact, in the style of pytest's
testing/test_reports.py.

Real reports come from tiny tests run in this process (``inline_run``, which
starts no subprocess).  Each goes the way a child's report goes to the parent:
``pytest_report_to_serializable``, ``encode_event``, ``decode_event``,
``pytest_report_from_serializable``.  JSON alone would turn the tuples pytest
expects (``location``, ``sections``, a skip's ``longrepr``) into lists.
"""

from __future__ import annotations

import textwrap
from typing import TypeVar

import pytest
from _pytest._code.code import ExceptionChainRepr

from pytest_isolated.protocol import (
    EV_COLLECT_ERROR,
    EV_REPORT,
    decode_event,
    encode_event,
)

Report = pytest.TestReport | pytest.CollectReport
R = TypeVar("R", pytest.TestReport, pytest.CollectReport)

FILE = "test_subject.py"


def run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, source: str
) -> pytest.HookRecorder:
    """Run *source* as test_subject.py in this process; return its recorder.

    The plugin itself is not loaded in the run: the reports are pytest's own,
    and the unit layer must not depend on the plugin's session machinery.
    """
    monkeypatch.delenv("PYTEST_PLUGINS", raising=False)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(**{FILE: textwrap.dedent(source)})
    return pytester.inline_run("-p", "no:cacheprovider")


def report_of(reprec: pytest.HookRecorder, when: str) -> pytest.TestReport:
    """The only test's *when* report."""
    found = [
        r
        for r in reprec.getreports("pytest_runtest_logreport")
        if isinstance(r, pytest.TestReport) and r.when == when
    ]
    assert len(found) == 1, found
    return found[0]


def round_trip(config: pytest.Config, report: R, event: str = EV_REPORT) -> R:
    """*report* rebuilt the way the parent rebuilds a child's report."""
    data = config.hook.pytest_report_to_serializable(config=config, report=report)
    assert isinstance(data, dict)
    line = encode_event(event, report=data)
    assert line.count(b"\n") == 1
    assert line.endswith(b"\n")
    name, fields = decode_event(line)
    assert name == event
    assert list(fields) == ["report"]
    rebuilt = config.hook.pytest_report_from_serializable(
        config=config, data=fields["report"]
    )
    assert type(rebuilt) is type(report)
    return rebuilt


def assert_same(original: Report, rebuilt: Report) -> None:
    """What every consumer of a report reads is unchanged."""
    assert type(rebuilt) is type(original)
    assert rebuilt.nodeid == original.nodeid
    assert rebuilt.outcome == original.outcome
    assert rebuilt.when == original.when
    assert rebuilt.location == original.location
    assert rebuilt.longreprtext == original.longreprtext
    assert rebuilt.sections == original.sections
    assert type(rebuilt.sections) is list
    assert all(type(section) is tuple for section in rebuilt.sections)
    assert rebuilt.head_line == original.head_line
    assert rebuilt.passed == original.passed
    assert rebuilt.failed == original.failed
    assert rebuilt.skipped == original.skipped
    assert getattr(rebuilt, "wasxfail", None) == getattr(original, "wasxfail", None)
    if isinstance(original, pytest.TestReport):
        assert isinstance(rebuilt, pytest.TestReport)
        assert type(rebuilt.location) is tuple
        assert rebuilt.keywords == original.keywords
        assert rebuilt.duration == original.duration
        assert rebuilt.user_properties == original.user_properties
        assert all(type(p) is tuple for p in rebuilt.user_properties)


def assert_exception_repr(original: Report, rebuilt: Report, message: str) -> None:
    """Both longreprs are tracebacks whose crash message starts with the line
    *message* (the short summary shows it)."""
    assert isinstance(original.longrepr, ExceptionChainRepr)
    assert isinstance(rebuilt.longrepr, ExceptionChainRepr)
    assert original.longrepr.reprcrash is not None
    assert rebuilt.longrepr.reprcrash is not None
    assert rebuilt.longrepr.reprcrash.message.split("\n")[0] == message
    assert rebuilt.longrepr.reprcrash.message == original.longrepr.reprcrash.message
    assert rebuilt.longrepr.reprcrash.lineno == original.longrepr.reprcrash.lineno
    assert rebuilt.longrepr.reprcrash.path == original.longrepr.reprcrash.path
    assert len(rebuilt.longrepr.chain) == len(original.longrepr.chain)


# -- the reports of a test -----------------------------------------------------


def test_passed(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
) -> None:
    reprec = run(
        pytester,
        monkeypatch,
        """
        def test_ok():
            pass
        """,
    )
    for when in ("setup", "call", "teardown"):
        original = report_of(reprec, when)
        rebuilt = round_trip(pytestconfig, original)
        assert_same(original, rebuilt)
        assert rebuilt.outcome == "passed"
        assert rebuilt.when == when
        assert rebuilt.nodeid == "test_subject.py::test_ok"
        assert rebuilt.location == ("test_subject.py", 0, "test_ok")
        assert rebuilt.longrepr is None
        assert rebuilt.longreprtext == ""
        assert rebuilt.sections == []


def test_failed_with_assertion_rewrite_detail(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
) -> None:
    reprec = run(
        pytester,
        monkeypatch,
        """
        def helper():
            return [1, 2]

        def test_compare():
            assert helper() == [1, 3]
        """,
    )
    original = report_of(reprec, "call")
    rebuilt = round_trip(pytestconfig, original)
    assert_same(original, rebuilt)
    assert rebuilt.outcome == "failed"
    assert rebuilt.when == "call"
    assert rebuilt.location == ("test_subject.py", 3, "test_compare")
    assert_exception_repr(original, rebuilt, "assert [1, 2] == [1, 3]")
    assert isinstance(rebuilt.longrepr, ExceptionChainRepr)
    assert rebuilt.longrepr.reprcrash is not None
    assert "At index 1 diff: 2 != 3" in rebuilt.longrepr.reprcrash.message
    text = rebuilt.longreprtext
    assert "E       assert [1, 2] == [1, 3]" in text
    assert "E         At index 1 diff: 2 != 3" in text
    assert text.endswith("test_subject.py:5: AssertionError")


def test_error_in_setup(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
) -> None:
    reprec = run(
        pytester,
        monkeypatch,
        """
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("setup boom")

        def test_uses(broken):
            pass
        """,
    )
    original = report_of(reprec, "setup")
    rebuilt = round_trip(pytestconfig, original)
    assert_same(original, rebuilt)
    assert rebuilt.outcome == "failed"
    assert rebuilt.when == "setup"
    assert rebuilt.location == ("test_subject.py", 6, "test_uses")
    assert_exception_repr(original, rebuilt, "RuntimeError: setup boom")
    assert "E       RuntimeError: setup boom" in rebuilt.longreprtext
    # pytest reports no call after a failed setup.
    assert [r.when for r in reprec.getreports("pytest_runtest_logreport")] == [
        "setup",
        "teardown",
    ]


def test_error_in_teardown(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
) -> None:
    reprec = run(
        pytester,
        monkeypatch,
        """
        import pytest

        @pytest.fixture
        def leaky():
            yield
            raise OSError("teardown boom")

        def test_uses(leaky):
            pass
        """,
    )
    original = report_of(reprec, "teardown")
    rebuilt = round_trip(pytestconfig, original)
    assert_same(original, rebuilt)
    assert rebuilt.outcome == "failed"
    assert rebuilt.when == "teardown"
    assert rebuilt.location == ("test_subject.py", 7, "test_uses")
    assert_exception_repr(original, rebuilt, "OSError: teardown boom")
    call = round_trip(pytestconfig, report_of(reprec, "call"))
    assert call.outcome == "passed"


def test_skip(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
) -> None:
    reprec = run(
        pytester,
        monkeypatch,
        """
        import pytest

        def test_skips():
            pytest.skip("not today")
        """,
    )
    original = report_of(reprec, "call")
    rebuilt = round_trip(pytestconfig, original)
    assert_same(original, rebuilt)
    assert rebuilt.outcome == "skipped"
    assert rebuilt.when == "call"
    assert rebuilt.location == ("test_subject.py", 2, "test_skips")
    assert isinstance(rebuilt.longrepr, tuple)
    assert type(rebuilt.longrepr) is tuple
    assert rebuilt.longrepr == original.longrepr
    path, lineno, message = rebuilt.longrepr
    assert path == str(pytester.path / FILE)
    assert lineno == 4
    assert message == "Skipped: not today"


def test_skipif(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
) -> None:
    reprec = run(
        pytester,
        monkeypatch,
        """
        import pytest

        @pytest.mark.skipif(True, reason="not on this machine")
        def test_skipped():
            pass
        """,
    )
    original = report_of(reprec, "setup")
    rebuilt = round_trip(pytestconfig, original)
    assert_same(original, rebuilt)
    assert rebuilt.outcome == "skipped"
    assert rebuilt.when == "setup"
    assert rebuilt.location == ("test_subject.py", 2, "test_skipped")
    assert isinstance(rebuilt.longrepr, tuple)
    assert type(rebuilt.longrepr) is tuple
    assert rebuilt.longrepr == original.longrepr
    assert rebuilt.longrepr[2] == "Skipped: not on this machine"


def test_xfail(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
) -> None:
    reprec = run(
        pytester,
        monkeypatch,
        """
        import pytest

        @pytest.mark.xfail(reason="known bug")
        def test_known():
            raise ZeroDivisionError("still broken")
        """,
    )
    original = report_of(reprec, "call")
    rebuilt = round_trip(pytestconfig, original)
    assert_same(original, rebuilt)
    assert rebuilt.outcome == "skipped"
    assert rebuilt.when == "call"
    assert getattr(rebuilt, "wasxfail", None) == "known bug"
    assert rebuilt.location == ("test_subject.py", 2, "test_known")
    assert_exception_repr(original, rebuilt, "ZeroDivisionError: still broken")


def test_xpass(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
) -> None:
    reprec = run(
        pytester,
        monkeypatch,
        """
        import pytest

        @pytest.mark.xfail(reason="flaky", strict=False)
        def test_lucky():
            pass
        """,
    )
    original = report_of(reprec, "call")
    rebuilt = round_trip(pytestconfig, original)
    assert_same(original, rebuilt)
    assert rebuilt.outcome == "passed"
    assert rebuilt.when == "call"
    assert getattr(rebuilt, "wasxfail", None) == "flaky"
    assert rebuilt.longrepr is None


def test_strict_xpass(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
) -> None:
    reprec = run(
        pytester,
        monkeypatch,
        """
        import pytest

        @pytest.mark.xfail(reason="must fail", strict=True)
        def test_strict():
            pass
        """,
    )
    original = report_of(reprec, "call")
    rebuilt = round_trip(pytestconfig, original)
    assert_same(original, rebuilt)
    assert rebuilt.outcome == "failed"
    assert rebuilt.when == "call"
    assert type(rebuilt.longrepr) is str
    assert rebuilt.longrepr == "[XPASS(strict)] must fail"
    assert rebuilt.longreprtext == "[XPASS(strict)] must fail"
    assert not hasattr(rebuilt, "wasxfail")


def test_sections_with_captured_output(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
) -> None:
    reprec = run(
        pytester,
        monkeypatch,
        """
        import logging
        import sys

        def test_noisy():
            print("to stdout")
            sys.stderr.write("to stderr\\n")
            logging.getLogger("subject").warning("to the log")
            assert False, "look at the output"
        """,
    )
    original = report_of(reprec, "call")
    rebuilt = round_trip(pytestconfig, original)
    assert_same(original, rebuilt)
    assert rebuilt.outcome == "failed"
    assert rebuilt.sections == [
        ("Captured stdout call", "to stdout\n"),
        ("Captured stderr call", "to stderr\n"),
        ("Captured log call", "WARNING  subject:test_subject.py:7 to the log"),
    ]
    assert rebuilt.capstdout == "to stdout\n"
    assert rebuilt.capstderr == "to stderr\n"
    assert rebuilt.caplog == "WARNING  subject:test_subject.py:7 to the log"


def test_user_properties_with_a_value_json_cannot_carry(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
) -> None:
    reprec = run(
        pytester,
        monkeypatch,
        """
        class Opaque:
            def __repr__(self):
                return "<Opaque thing>"

        def test_props(record_property):
            record_property("opaque", Opaque())
            record_property("number", 7)
            record_property("pair", (1, "a"))
        """,
    )
    original = report_of(reprec, "call")
    rebuilt = round_trip(pytestconfig, original)
    assert rebuilt.outcome == "passed"
    # The opaque value degrades to its repr; everything else is unchanged.
    assert rebuilt.user_properties == [
        ("opaque", "<Opaque thing>"),
        ("number", 7),
        ("pair", (1, "a")),
    ]
    assert all(type(p) is tuple for p in rebuilt.user_properties)
    assert type(rebuilt.user_properties[2][1]) is tuple
    assert type(rebuilt.location) is tuple
    assert rebuilt.location == original.location


def test_chained_exception(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
) -> None:
    reprec = run(
        pytester,
        monkeypatch,
        """
        def load():
            raise KeyError("config")

        def test_chain():
            try:
                load()
            except KeyError as exc:
                raise ValueError("no configuration") from exc
        """,
    )
    original = report_of(reprec, "call")
    rebuilt = round_trip(pytestconfig, original)
    assert_same(original, rebuilt)
    assert rebuilt.outcome == "failed"
    assert_exception_repr(original, rebuilt, "ValueError: no configuration")
    assert isinstance(rebuilt.longrepr, ExceptionChainRepr)
    assert len(rebuilt.longrepr.chain) == 2
    text = rebuilt.longreprtext
    assert "E       KeyError: 'config'" in text
    assert (
        "The above exception was the direct cause of the following exception:" in text
    )
    assert "E           ValueError: no configuration" in text
    assert text.index("KeyError") < text.index("ValueError: no configuration")


# -- collection reports --------------------------------------------------------


def collect_error(reprec: pytest.HookRecorder) -> pytest.CollectReport:
    failed = [
        r
        for r in reprec.getreports("pytest_collectreport")
        if isinstance(r, pytest.CollectReport) and r.failed
    ]
    assert len(failed) == 1, failed
    return failed[0]


def test_collection_error(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
) -> None:
    reprec = run(
        pytester,
        monkeypatch,
        """
        raise RuntimeError("broken at import")
        """,
    )
    original = collect_error(reprec)
    rebuilt = round_trip(pytestconfig, original, EV_COLLECT_ERROR)
    assert_same(original, rebuilt)
    assert isinstance(rebuilt, pytest.CollectReport)
    assert rebuilt.nodeid == "test_subject.py"
    assert rebuilt.outcome == "failed"
    assert rebuilt.when == "collect"
    assert rebuilt.location == ("test_subject.py", None, "test_subject.py")
    assert rebuilt.result == []
    assert_exception_repr(original, rebuilt, "RuntimeError: broken at import")
    assert "E   RuntimeError: broken at import" in rebuilt.longreprtext


def test_collection_error_of_an_import(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    pytestconfig: pytest.Config,
) -> None:
    reprec = run(
        pytester,
        monkeypatch,
        """
        import module_that_does_not_exist_anywhere
        """,
    )
    original = collect_error(reprec)
    rebuilt = round_trip(pytestconfig, original, EV_COLLECT_ERROR)
    assert_same(original, rebuilt)
    assert rebuilt.outcome == "failed"
    assert rebuilt.when == "collect"
    # pytest's own serialisation carries a repr without a traceback as text.
    assert type(rebuilt.longrepr) is str
    assert (
        "ModuleNotFoundError: No module named 'module_that_does_not_exist_anywhere'"
        in rebuilt.longreprtext
    )
