"""Unit tests of lost: the words for how a process ended, the trimming of
faulthandler dumps, the phase a test died in, and the reports that end it."""

from __future__ import annotations

import signal
import sys
import textwrap

import pytest

from pytest_isolated.parent.lost import (
    Cause,
    Phase,
    crash_phase,
    describe_exit,
    lost_test_reports,
    not_run_reports,
    trim_stack_dump,
)

ACCESS_VIOLATION = 0xC0000005
SIGNED_ACCESS_VIOLATION = ACCESS_VIOLATION - 2**32  # -1073741819


# crash.describe_exit reads sys.platform when called: patching sys (the module
# crash imported) is patching crash.sys.platform.


@pytest.fixture
def posix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")


# -- describe_exit -------------------------------------------------------------


@pytest.mark.parametrize(
    ("returncode", "expected"),
    [
        (-11, "CRASHED with signal 11 (SIGSEGV)"),
        (-15, "CRASHED with signal 15 (SIGTERM)"),
        (-2, "CRASHED with signal 2 (SIGINT)"),
    ],
)
def test_a_negative_returncode_is_a_signal(returncode: int, expected: str) -> None:
    assert describe_exit(returncode) == ("crash", expected)


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="no SIGKILL here")
def test_sigkill() -> None:
    number = int(signal.SIGKILL)
    assert describe_exit(-number) == (
        "crash",
        f"CRASHED with signal {number} (SIGKILL)",
    )


@pytest.mark.skipif(not hasattr(signal, "SIGABRT"), reason="no SIGABRT here")
def test_sigabrt_is_named_sigabrt() -> None:
    # 6 is SIGABRT and SIGIOT on Linux; pytest-forked (and users) say SIGABRT.
    number = int(signal.SIGABRT)
    assert describe_exit(-number) == (
        "crash",
        f"CRASHED with signal {number} (SIGABRT)",
    )


@pytest.mark.parametrize("number", [200, 1000])
def test_an_unknown_signal(number: int) -> None:
    assert describe_exit(-number) == (
        "crash",
        f"CRASHED with signal {number} (unknown signal)",
    )


@pytest.mark.parametrize("returncode", [0, 1, 3, 4, 255])
def test_a_positive_returncode_is_an_exit_status(returncode: int) -> None:
    assert describe_exit(returncode) == ("exit", f"EXITED with status {returncode}")


@pytest.mark.usefixtures("posix")
def test_an_ntstatus_outside_windows_is_an_exit_status() -> None:
    assert describe_exit(ACCESS_VIOLATION) == ("exit", "EXITED with status 3221225477")


@pytest.mark.usefixtures("windows")
@pytest.mark.parametrize(
    ("code", "name"),
    [
        (0xC0000005, "STATUS_ACCESS_VIOLATION"),
        (0xC00000FD, "STATUS_STACK_OVERFLOW"),
        (0xC0000409, "STATUS_STACK_BUFFER_OVERRUN"),
        (0xC000001D, "STATUS_ILLEGAL_INSTRUCTION"),
        (0xC0000094, "STATUS_INTEGER_DIVIDE_BY_ZERO"),
        (0xC000013A, "STATUS_CONTROL_C_EXIT"),
        (0x40010004, "DBG_TERMINATE_PROCESS"),
    ],
)
def test_windows_ntstatus_unsigned(code: int, name: str) -> None:
    assert describe_exit(code) == (
        "crash",
        f"CRASHED with status 0x{code:08X} ({name})",
    )


@pytest.mark.usefixtures("windows")
def test_windows_ntstatus_as_a_negative_32_bit_int() -> None:
    # The same status read as a signed 32-bit int (as some APIs return it).
    assert SIGNED_ACCESS_VIOLATION == -1073741819
    assert describe_exit(SIGNED_ACCESS_VIOLATION) == (
        "crash",
        "CRASHED with status 0xC0000005 (STATUS_ACCESS_VIOLATION)",
    )


@pytest.mark.usefixtures("windows")
@pytest.mark.parametrize("returncode", [0, 1, 3, 0xC0000001])
def test_windows_other_statuses_are_exit_statuses(returncode: int) -> None:
    assert describe_exit(returncode) == ("exit", f"EXITED with status {returncode}")


# -- trim_stack_dump -----------------------------------------------------------

SITE = "/venv/lib/python3.12/site-packages"

DUMP = textwrap.dedent(
    f"""\
    Fatal Python error: Segmentation fault

    Thread 0x00007f0000000002 (most recent call first):
      File "/usr/lib/python3.12/threading.py", line 355 in wait
      File "/proj/tests/helpers.py", line 8 in poll
      File "{SITE}/pytest_isolated/child/runner.py", line 120 in _watch
      File "/usr/lib/python3.12/threading.py", line 1010 in run
      File "/usr/lib/python3.12/threading.py", line 1073 in _bootstrap_inner

    Current thread 0x00007f0000000001 (most recent call first):
      File "/proj/tests/native.py", line 3 in crash
      File "/proj/tests/test_native.py", line 9 in test_segfault
      File "{SITE}/_pytest/python.py", line 159 in pytest_pyfunc_call
      File "{SITE}/pluggy/_callers.py", line 103 in _multicall
      File "/proj/tests/conftest.py", line 5 in pytest_runtest_call
      File "{SITE}/_pytest/runner.py", line 174 in pytest_runtest_call
      File "<string>", line 1 in <module>

    Extension modules: _cffi_backend (total: 1)"""
)

TRIMMED = textwrap.dedent(
    """\
    Fatal Python error: Segmentation fault

    Thread 0x00007f0000000002 (most recent call first):
      File "/usr/lib/python3.12/threading.py", line 355 in wait
      File "/proj/tests/helpers.py", line 8 in poll
      (pytest's own frames omitted)

    Current thread 0x00007f0000000001 (most recent call first):
      File "/proj/tests/native.py", line 3 in crash
      File "/proj/tests/test_native.py", line 9 in test_segfault
      (pytest's own frames omitted)

    Extension modules: _cffi_backend (total: 1)"""
)


def test_trim_cuts_each_thread_at_its_first_machinery_frame() -> None:
    assert trim_stack_dump(DUMP) == TRIMMED


def test_trim_keeps_a_dump_without_machinery() -> None:
    dump = textwrap.dedent(
        """\
        Current thread 0x1 (most recent call first):
          File "/proj/script.py", line 3 in crash
          File "/proj/script.py", line 9 in main"""
    )
    assert trim_stack_dump(dump) == dump


@pytest.mark.parametrize(
    "frame",
    [
        f'  File "{SITE}/_pytest/main.py", line 1 in f',
        f'  File "{SITE}/pluggy/_hooks.py", line 1 in f',
        f'  File "{SITE}/pytest_isolated/child/runner.py", line 1 in f',
        '  File "C:\\Python312\\Lib\\site-packages\\_pytest\\main.py", line 1 in f',
        '  File "C:\\Python312\\Lib\\site-packages\\pluggy\\_hooks.py", line 1 in f',
        '  File "C:\\venv\\Lib\\site-packages\\pytest_isolated\\child.py", line 1 in f',
        '  File "<string>", line 1 in <module>',
    ],
)
def test_trim_recognises_machinery_frames(frame: str) -> None:
    dump = "\n".join(
        [
            "Current thread 0x1 (most recent call first):",
            '  File "/proj/test_a.py", line 2 in test_a',
            frame,
            '  File "/proj/test_b.py", line 4 in later',
        ]
    )
    assert trim_stack_dump(dump) == "\n".join(
        [
            "Current thread 0x1 (most recent call first):",
            '  File "/proj/test_a.py", line 2 in test_a',
            "  (pytest's own frames omitted)",
        ]
    )


def test_trim_a_thread_that_is_all_machinery() -> None:
    dump = "\n".join(
        [
            "Thread 0x2 (most recent call first):",
            f'  File "{SITE}/pytest_isolated/child/runner.py", line 1 in _dump',
            f'  File "{SITE}/pytest_isolated/child/runner.py", line 2 in run',
            "",
            "Current thread 0x1 (most recent call first):",
            '  File "/proj/test_a.py", line 2 in test_a',
        ]
    )
    assert trim_stack_dump(dump) == "\n".join(
        [
            "Thread 0x2 (most recent call first):",
            "  (pytest's own frames omitted)",
            "",
            "Current thread 0x1 (most recent call first):",
            '  File "/proj/test_a.py", line 2 in test_a',
        ]
    )


def test_trim_keeps_user_frames_whose_names_only_look_like_machinery() -> None:
    dump = "\n".join(
        [
            "Current thread 0x1 (most recent call first):",
            '  File "/proj/my_pytest_helpers.py", line 2 in pytest_like',
            '  File "/proj/_pytest_plugins.py", line 3 in f',
            '  File "/proj/string.py", line 4 in g',
        ]
    )
    assert trim_stack_dump(dump) == dump


def test_trim_of_nothing() -> None:
    assert trim_stack_dump("") == ""


# -- crash_phase ---------------------------------------------------------------


def report(when: str, outcome: str) -> pytest.TestReport:
    return pytest.TestReport(
        nodeid="test_a.py::test_x",
        location=("test_a.py", 0, "test_x"),
        keywords={},
        outcome=outcome,  # type: ignore[arg-type]
        longrepr=None,
        when=when,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("reports", "phase"),
    [
        ([], "setup"),
        ([report("setup", "passed")], "call"),
        ([report("setup", "failed")], "teardown"),
        ([report("setup", "skipped")], "teardown"),
        ([report("setup", "passed"), report("call", "passed")], "teardown"),
        ([report("setup", "passed"), report("call", "failed")], "teardown"),
        ([report("setup", "passed"), report("call", "skipped")], "teardown"),
        (
            [
                report("setup", "passed"),
                report("call", "passed"),
                report("teardown", "failed"),
            ],
            "teardown",
        ),
    ],
    ids=[
        "nothing",
        "setup-passed",
        "setup-failed",
        "setup-skipped",
        "call-passed",
        "call-failed",
        "call-skipped",
        "teardown",
    ],
)
def test_crash_phase(reports: list[pytest.TestReport], phase: str) -> None:
    assert crash_phase(reports) == phase


# -- the reports of a lost test -------------------------------------------------

SEGFAULT = Cause("crash", "CRASHED with signal 11 (SIGSEGV)", "Fatal Python error")


@pytest.fixture
def item(pytester: pytest.Pytester) -> pytest.Item:
    return pytester.getitem("def test_x():\n    pass\n", "test_x")


def passed(item: pytest.Item, when: Phase) -> pytest.TestReport:
    call: pytest.CallInfo[None] = pytest.CallInfo.from_call(lambda: None, when)
    return pytest.TestReport.from_item_and_call(item, call)


PHASES: list[Phase] = ["setup", "call", "teardown"]


@pytest.mark.parametrize("phase", PHASES)
def test_a_crash_fails_the_phase_it_happened_in(
    item: pytest.Item, phase: Phase
) -> None:
    received = [passed(item, when) for when in PHASES[: PHASES.index(phase)]]
    reports = lost_test_reports(item, received, SEGFAULT, phase=phase)
    failed = [r for r in reports if r.failed]
    assert len(failed) == 1
    assert failed[0].outcome == "failed"
    assert failed[0].when == phase
    assert SEGFAULT.summary in failed[0].longreprtext
    assert reports[-1].when == "teardown"


def test_the_phase_of_a_crash_is_inferred_from_the_reports_received(
    item: pytest.Item,
) -> None:
    reports = lost_test_reports(item, [passed(item, "setup")], SEGFAULT)
    assert [(r.when, r.outcome) for r in reports] == [
        ("call", "failed"),
        ("teardown", "passed"),
    ]


def test_a_crash_in_the_call_without_a_setup_report_gets_one(item: pytest.Item) -> None:
    """pytest-rerunfailures reports a test's phases only at its end."""
    reports = lost_test_reports(item, [], SEGFAULT, phase="call")
    assert [(r.when, r.outcome) for r in reports] == [
        ("setup", "passed"),
        ("call", "failed"),
        ("teardown", "passed"),
    ]


def test_a_timeout_fails_the_test_with_its_output(item: pytest.Item) -> None:
    cause = Cause("timeout", "TIMED OUT after 1s")
    reports = lost_test_reports(
        item,
        [passed(item, "setup")],
        cause,
        sections=[("stdout", "printed\n"), ("stderr", "")],
        duration=1.5,
        phase="call",
    )
    failed = reports[0]
    assert failed.outcome == "failed"
    assert failed.when == "call"
    assert failed.duration == 1.5
    assert failed.sections == [("Captured stdout call", "printed\n")]
    assert "the test TIMED OUT after 1s" in failed.longreprtext


def test_a_test_that_never_ran_fails_its_setup(item: pytest.Item) -> None:
    cause = Cause("exit", "EXITED with status 4")
    reports = not_run_reports(item, cause, "could not run: EXITED with status 4")
    assert [(r.when, r.outcome) for r in reports] == [
        ("setup", "failed"),
        ("teardown", "passed"),
    ]
    assert "could not run: EXITED with status 4" in reports[0].longreprtext


def test_an_xfail_test_that_crashes_is_xfailed(pytester: pytest.Pytester) -> None:
    item = pytester.getitem(
        "import pytest\n@pytest.mark.xfail(reason='known')\ndef test_x():\n    pass\n",
        "test_x",
    )
    reports = lost_test_reports(item, [passed(item, "setup")], SEGFAULT)
    call = reports[0]
    assert (call.when, call.outcome) == ("call", "skipped")
    assert call.wasxfail == f"known ({SEGFAULT.summary})"


#: What Python 3.14's faulthandler writes for a segfault in ctypes.
C_STACK_DUMP = """\
Fatal Python error: Segmentation fault

Current thread 0x00007fb899f39700 (most recent call first):
  File "/usr/lib/python3.14/ctypes/__init__.py", line 486 in string_at
  File "/src/test_a.py", line 3 in test_a
  File "/venv/site-packages/_pytest/python.py", line 166 in pytest_pyfunc_call

Current thread's C stack trace (most recent call first):
  Binary file "/usr/bin/python3.14", at _Py_DumpStack+0x42 [0x5b27f7d7147e]
  Binary file "/usr/bin/python3.14", at +0x32dcbd [0x5b27f7d85cbd]
  Binary file "/usr/bin/python3.14", at +0x32df8a [0x5b27f7d85f8a]
  Binary file "/usr/lib/libc.so.6", at +0x3def0 [0x77b73226bef0]
  Binary file "/usr/lib/libc.so.6", at +0x17ef9c [0x77b7323acf9c]
  Binary file "/usr/lib/python3.14/_ctypes.so", at +0xcdf6 [0x77b7315dddf6]
  Binary file "/usr/lib/libffi.so.8", at +0x7976 [0x77b73158f976]
  Binary file "/usr/bin/python3.14", at _PyEval_EvalFrameDefault+0x46 [0x5b27f7d7]
  Binary file "/usr/bin/python3.14", at PyEval_EvalCode+0x46 [0x5b27f7d7147e]
  <truncated rest of calls>

Extension modules: _cffi_backend (total: 1)
"""


def test_the_c_stack_of_a_crash_keeps_the_frames_between_handler_and_loop() -> None:
    assert trim_stack_dump(C_STACK_DUMP).splitlines() == [
        "Fatal Python error: Segmentation fault",
        "",
        "Current thread 0x00007fb899f39700 (most recent call first):",
        '  File "/usr/lib/python3.14/ctypes/__init__.py", line 486 in string_at',
        '  File "/src/test_a.py", line 3 in test_a',
        "  (pytest's own frames omitted)",
        "",
        "Current thread's C stack trace (most recent call first):",
        '  Binary file "/usr/lib/libc.so.6", at +0x17ef9c [0x77b7323acf9c]',
        '  Binary file "/usr/lib/python3.14/_ctypes.so", at +0xcdf6 [0x77b7315dddf6]',
        '  Binary file "/usr/lib/libffi.so.8", at +0x7976 [0x77b73158f976]',
        "  (the interpreter's own frames omitted)",
        "",
        "Extension modules: _cffi_backend (total: 1)",
    ]


def test_a_c_stack_without_symbols_is_capped() -> None:
    frames = [
        f'  Binary file "/usr/lib/libfoo.so", at +0x{n:x} [0x{n:x}]' for n in range(40)
    ]
    text = "Current thread's C stack trace (most recent call first):\n" + "\n".join(
        [*frames, "  <truncated rest of calls>"]
    )
    lines = trim_stack_dump(text).splitlines()
    assert lines[1:] == [*frames[:16], "  (more frames omitted)"]


def test_a_c_stack_the_system_cannot_show_is_kept() -> None:
    text = (
        "Current thread's C stack trace (most recent call first):\n"
        "  <cannot get C stack on this system>\n"
    )
    assert trim_stack_dump(text) == text.rstrip("\n")
