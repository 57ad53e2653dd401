"""Reports for tests whose subprocess crashed, timed out or never ran them.

These reports are built in the parent, for a test the child could not report
on.  They look like pytest's own: a failed phase (call, or setup/teardown when
the crash happened there, which pytest shows as an ERROR), a location, a one-
line message for the short summary, and the output the test printed before it
died as the usual "Captured stdout call" sections.  The crash wording matches
pytest-forked's (``CRASHED with signal 11 (SIGSEGV)``, ``EXITED with status
3``) so that existing greps keep working.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
from collections.abc import Sequence
from typing import Any, Literal

import pytest

from pytest_isolated import _compat
from pytest_isolated.platform import native

Phase = Literal["setup", "call", "teardown"]

# Windows reports crashes as NTSTATUS exit codes.
_NTSTATUS = {
    0xC0000005: "STATUS_ACCESS_VIOLATION",
    0xC00000FD: "STATUS_STACK_OVERFLOW",
    0xC0000409: "STATUS_STACK_BUFFER_OVERRUN",
    0xC000001D: "STATUS_ILLEGAL_INSTRUCTION",
    0xC0000094: "STATUS_INTEGER_DIVIDE_BY_ZERO",
    0xC000013A: "STATUS_CONTROL_C_EXIT",
    0x40010004: "DBG_TERMINATE_PROCESS",
}


@dataclasses.dataclass(frozen=True)
class Cause:
    """Why a subprocess stopped before it reported every test."""

    kind: Literal["crash", "timeout", "exit", "protocol"]
    #: One line for the short summary, e.g. "CRASHED with signal 11 (SIGSEGV)".
    summary: str
    #: More lines for the report body (a Python traceback, a stack dump, ...).
    details: str = ""


class SubprocessDied(Exception):
    """Stands for a lost test where a plugin's filter expects an exception
    (pytest-rerunfailures' ``--only-rerun``): its text is the cause's summary."""


def describe_exit(returncode: int) -> tuple[Literal["crash", "exit"], str]:
    """pytest-forked's words for how a process ended."""
    if sys.platform == "win32" and returncode & 0xFFFFFFFF in _NTSTATUS:
        # Checked first: read as a signed 32-bit number, a status is negative.
        code = returncode & 0xFFFFFFFF
        return "crash", f"CRASHED with status 0x{code:08X} ({_NTSTATUS[code]})"
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown signal"
        return "crash", f"CRASHED with signal {number} ({name})"
    return "exit", f"EXITED with status {returncode}"


#: Frames from these packages are pytest's and ours, not the user's.
_MACHINERY = (
    "/_pytest/",
    "/pluggy/",
    "/pytest_isolated/",
    "\\_pytest\\",
    "\\pluggy\\",
    "\\pytest_isolated\\",
)


def trim_stack_dump(text: str) -> str:
    """Shorten a faulthandler dump to the user's frames.

    faulthandler prints the most recent call first; below the user's frames
    come a few dozen of pytest's, pluggy's and ours, which say nothing about
    the crash.  Each thread's stack is cut at its first such frame.
    """
    out: list[str] = []
    cutting = False
    c_stack: list[str] | None = None  # the lines of a C stack, while in one
    for line in text.splitlines():
        if c_stack is not None:
            if line.startswith("  ") and not line.startswith("  File "):
                c_stack.append(line)
                continue
            out.extend(trim_c_stack(c_stack))
            c_stack = None
        if line.startswith(_C_STACK_HEADER):
            out.append(line)
            c_stack = []
            continue
        is_frame = line.startswith("  File ")
        if not is_frame:
            cutting = False
            out.append(line)
        elif cutting:
            continue
        elif any(part in line for part in _MACHINERY) or '"<string>"' in line:
            out.append("  (pytest's own frames omitted)")
            cutting = True
        else:
            out.append(line)
    if c_stack is not None:
        out.extend(trim_c_stack(c_stack))
    return "\n".join(out)


#: Python 3.14's faulthandler follows the Python stack with the C stack.
_C_STACK_HEADER = "Current thread's C stack trace"


def trim_c_stack(frames: Sequence[str]) -> list[str]:
    """Shorten the C stack faulthandler prints on a crash (Python 3.14+).

    Its first frames are faulthandler's own signal handler, up to the C
    library's signal trampoline: they are dropped.  Its last are the
    interpreter's evaluation loop and start-up, which the Python stack shows
    better: the stack is cut where the loop begins.
    """
    kept = [f for f in frames if f.startswith("  Binary file ")]
    if kept and "_Py_DumpStack" in kept[0]:
        trampoline = next((i for i, f in enumerate(kept) if _is_libc(f)), None)
        kept = kept[trampoline + 1 :] if trampoline is not None else kept[1:]
    out, cut = native.above_eval_loop((frame, frame) for frame in kept)
    if not cut:
        out.extend(f for f in frames if not f.startswith("  Binary file "))
    return out


def _is_libc(frame: str) -> bool:
    """A frame in the C library (where the kernel's signal return lands)."""
    binary = frame.split('"')[1] if frame.count('"') >= 2 else ""
    name = binary.replace("\\", "/").rsplit("/", 1)[-1]
    return name.startswith(("libc.", "libc-", "libsystem_platform"))


def crash_phase(reports: Sequence[pytest.TestReport]) -> Phase:
    """The phase a test was in when its process died, from what it reported."""
    if not reports:
        return "setup"
    last = reports[-1]
    if last.when == "setup":
        return "call" if last.passed else "teardown"
    return "teardown"


def _blank_report(item: pytest.Item, when: Phase) -> pytest.TestReport:
    call: pytest.CallInfo[None] = pytest.CallInfo.from_call(lambda: None, when)
    report = pytest.TestReport.from_item_and_call(item, call)
    report.sections = []
    return report


def failed_report(
    item: pytest.Item,
    when: Phase,
    cause: Cause,
    *,
    headline: str,
    sections: Sequence[tuple[str, str]] = (),
    duration: float = 0.0,
    user_properties: Sequence[tuple[str, object]] = (),
) -> pytest.TestReport:
    """A failed *when* report for *item*, explained by *cause*.

    ``headline`` completes "<path>:<line>: " (pytest-forked's first line).
    A test marked xfail (without ``raises=``, which a crash cannot match) is
    reported XFAIL instead, its reason extended by the cause.
    """
    report = _blank_report(item, when)
    path = str(item.path)
    lineno = item.location[1]
    lines = [f"{path}:{lineno}: {headline}\n"]
    if cause.details:
        lines.append("\n")
        lines.extend(line + "\n" for line in cause.details.rstrip("\n").split("\n"))
    report.longrepr = _compat.exception_repr(  # type: ignore[assignment]
        path, (lineno or 0) + 1, cause.summary, lines
    )
    report.outcome = "failed"
    report.sections = [
        (f"Captured {key} {when}", text) for key, text in sections if text
    ]
    report.duration = duration
    report.user_properties = list(user_properties)
    xfail = _compat.xfail_reason(item)
    if xfail is not None and not xfail[1]:
        reason = xfail[0]
        report.outcome = "skipped"
        report.wasxfail = f"{reason} ({cause.summary})" if reason else cause.summary
    return report


def passed_teardown(
    item: pytest.Item, user_properties: Sequence[tuple[str, object]] = ()
) -> pytest.TestReport:
    """The closing teardown report that JUnit XML and others wait for.

    It stands for a teardown that could not run in the dead process; the
    parent emits it so that every test still has a complete set of reports.
    """
    report = _blank_report(item, "teardown")
    report.user_properties = list(user_properties)
    return report


def lost_test_reports(
    item: pytest.Item,
    received: Sequence[pytest.TestReport],
    cause: Cause,
    *,
    sections: Sequence[tuple[str, str]] = (),
    duration: float = 0.0,
    phase: Phase | None = None,
) -> list[pytest.TestReport]:
    """The reports that complete *received* for a test whose process ended
    in *phase* (when the child said which; else it is inferred)."""
    when = phase or crash_phase(received)
    if any(r.when == when for r in received):
        # It died after that phase's report (in a hook that reads it),
        # before the next phase began: in that one, with no output of its own.
        when, sections = crash_phase(received), ()
    verb = {
        "crash": "running the test",
        "exit": "running the test",
        "timeout": "the test",
        "protocol": "the test",
    }[cause.kind]
    props = received[-1].user_properties if received else []
    failed = failed_report(
        item,
        when,
        cause,
        headline=f"{verb} {cause.summary}",
        sections=sections,
        duration=duration,
        user_properties=props,
    )
    # A report holds the sections of the phases before it, as pytest's do:
    # the terminal shows the setup's output too, and JUnit XML writes the
    # test's output from the last report.
    failed.sections = [*(received[-1].sections if received else ()), *failed.sections]
    reports = [failed]
    if when != "teardown":
        teardown = passed_teardown(item, props)
        teardown.sections = list(failed.sections)
        reports.append(teardown)
    if when != "setup" and not any(r.when == "setup" for r in received):
        # A plugin that reports a test's phases only at its end
        # (pytest-rerunfailures) sent none: the setup had passed.
        reports.insert(0, _blank_report(item, "setup"))
    return reports


def not_run_reports(
    item: pytest.Item, cause: Cause, headline: str
) -> list[pytest.TestReport]:
    """Reports for a test its subprocess never started: an error in setup."""
    return [
        failed_report(item, "setup", cause, headline=headline),
        passed_teardown(item),
    ]


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


def skipped_reports(
    item: pytest.Item, skip: pytest.CollectReport
) -> list[pytest.TestReport]:
    """The reports of a test whose file skipped itself only in the child
    (``pytest.skip(allow_module_level=True)``): skipped in setup with the
    file's reason and place, as pytest reports a test that skips itself."""
    call: pytest.CallInfo[None] = pytest.CallInfo.from_call(lambda: None, "setup")
    report = pytest.TestReport.from_item_and_call(item, call)
    longrepr: Any = skip.longrepr
    report.outcome, report.sections = "skipped", []
    report.longrepr = tuple(longrepr) if isinstance(longrepr, list) else longrepr
    return [report, passed_teardown(item)]
