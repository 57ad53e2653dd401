"""Hostile tests and unusual sessions: an isolated test behaves as in process.

Each test here is differential where it can be: the same inline test file runs
with ``--no-isolation`` (pytest's own behaviour, the reference) and isolated,
under each start method, and the outcomes and the relevant text are compared.
The reference run is checked too, so that each expectation is known to be
pytest's own and not a guess.
"""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

METHODS = [
    "spawn",
    "prestart",
    pytest.param(
        "fork",
        marks=pytest.mark.skipif(
            not hasattr(os, "fork"),
            reason=f"os.fork() does not exist on {sys.platform}",
        ),
    ),
]

#: Bound on every sub-run: a regression must fail the test, not hang the suite.
RUN_TIMEOUT = 60.0


def run(
    pytester: pytest.Pytester, *args: str, timeout: float = RUN_TIMEOUT
) -> pytest.RunResult:
    return pytester.runpytest_subprocess(*args, timeout=timeout)


def run_plain(
    pytester: pytest.Pytester, *args: str, timeout: float = RUN_TIMEOUT
) -> pytest.RunResult:
    """pytest without pytester's ``--basetemp`` (which needs the tmpdir plugin)."""
    return pytester.run(sys.executable, "-m", "pytest", *args, timeout=timeout)


def isolated(method: str) -> tuple[str, str]:
    return ("--isolated", f"--isolated-start={method}")


def assert_no_internal_error(result: pytest.RunResult) -> None:
    internal = [
        line
        for line in [*result.outlines, *result.errlines]
        if line.startswith("INTERNALERROR>")
    ]
    assert not internal, "\n".join(internal[-3:])


def assert_like(result: pytest.RunResult, baseline: pytest.RunResult) -> None:
    """The isolated run ends as the in-process one: outcomes and exit code."""
    assert_no_internal_error(result)
    assert result.parseoutcomes() == baseline.parseoutcomes()
    assert result.ret == baseline.ret


def line_of(source: str, text: str) -> int:
    """The 1-based line number of *text* in the dedented *source*."""
    lines = textwrap.dedent(source).strip("\n").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


# -- 1. warnings whose class takes other arguments than a message ------------------

WARNING_CLASSES = {
    # A constructor of its own (pydantic's deprecation warnings, for one, need
    # keyword arguments): the parent cannot rebuild it from the message alone.
    "own-constructor": (
        """
        import warnings

        class LegacyApiWarning(DeprecationWarning):
            def __init__(self, name, replacement):
                super().__init__(f"{name} is deprecated, use {replacement}")

        def test_warns():
            warnings.warn(LegacyApiWarning("a", "b"))
        """,
        "LegacyApiWarning: a is deprecated, use b",
    ),
    # A class that the test module does not hold as an attribute: the parent
    # cannot find it, and its stand-in must still print the class's name.
    "local-class": (
        """
        import warnings

        def test_warns():
            class LocalWarning(UserWarning):
                pass

            warnings.warn(LocalWarning("raised by a local class"))
        """,
        "LocalWarning: raised by a local class",
    ),
}


@pytest.mark.parametrize("kind", list(WARNING_CLASSES))
@pytest.mark.parametrize("method", METHODS)
def test_warning_classes_of_any_shape_are_summarised_as_in_process(
    pytester: pytest.Pytester, method: str, kind: str
) -> None:
    source, message = WARNING_CLASSES[kind]
    pytester.makepyfile(test_f=source)
    lineno = line_of(source, "warnings.warn(")
    expected = [
        "*= warnings summary =*",
        "test_f.py::test_warns",
        f"*test_f.py:{lineno}: {message}",
    ]
    baseline = run(pytester, "--no-isolation")
    baseline.assert_outcomes(passed=1, warnings=1)
    baseline.stdout.fnmatch_lines(expected)

    result = run(pytester, *isolated(method))
    assert_like(result, baseline)
    result.stdout.fnmatch_lines(expected)


# -- 2. sessions without one of pytest's own plugins --------------------------------


@pytest.mark.parametrize("plugin", ["capture", "tmpdir"])
@pytest.mark.parametrize("method", METHODS)
def test_sessions_without_a_builtin_plugin_run_isolated_tests(
    pytester: pytest.Pytester, method: str, plugin: str
) -> None:
    """``-p no:capture`` and ``-p no:tmpdir`` are valid pytest sessions."""
    pytester.makepyfile(
        test_f="""
        def test_prints():
            print("from the test")

        def test_quiet():
            pass
        """
    )
    # pytester's own --basetemp is unknown under no:tmpdir (and, without it,
    # a session under no:capture would share and prune the default basetemp).
    runner = run_plain if plugin == "tmpdir" else run
    baseline = runner(pytester, "-p", f"no:{plugin}", "--no-isolation")
    baseline.assert_outcomes(passed=2)

    result = runner(pytester, "-p", f"no:{plugin}", *isolated(method))
    assert_like(result, baseline)


@pytest.mark.parametrize("method", METHODS)
def test_crash_is_reported_without_the_skipping_plugin(
    pytester: pytest.Pytester, method: str
) -> None:
    """The crash report looks for xfail marks, which need ``-p skipping``."""
    pytester.makepyfile(
        test_f="""
        import os

        def test_exits():
            os._exit(3)

        def test_after():
            pass
        """
    )
    result = run(pytester, "-p", "no:skipping", *isolated(method))
    assert_no_internal_error(result)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*running the test EXITED with status 3"])


# -- 3. tests that leave fds 1 and 2 or sys.stdout/sys.stderr changed --------------


@pytest.mark.parametrize(("fd", "stream"), [(1, "stdout"), (2, "stderr")])
@pytest.mark.parametrize("method", METHODS)
def test_a_file_dup2ed_over_a_std_fd_keeps_its_content(
    pytester: pytest.Pytester, method: str, fd: int, stream: str
) -> None:
    """pytest puts fds 1 and 2 back after each test; the child truncated the
    user's file as if it were its capture file, and sent the next test's output
    there."""
    pytester.makepyfile(
        test_f=f"""
        import os
        import pytest

        @pytest.mark.isolated(group="g")
        def test_redirects_to_a_log():
            log = os.open("app.log", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(log, {fd})
            os.close(log)
            os.write({fd}, b"written to the log\\n")

        @pytest.mark.isolated(group="g")
        def test_writes_after():
            os.write({fd}, b"the next test's own output\\n")
            assert False
        """
    )
    log = pytester.path / "app.log"
    expected = [
        "*_ test_writes_after _*",
        f"*- Captured {stream} call -*",
        "the next test's own output",
    ]
    baseline = run(pytester, "--no-isolation")
    baseline.assert_outcomes(passed=1, failed=1)
    baseline.stdout.fnmatch_lines(expected)
    assert log.read_text() == "written to the log\n"
    log.unlink()

    result = run(pytester, *isolated(method))
    assert_like(result, baseline)
    assert log.read_text() == "written to the log\n"
    result.stdout.fnmatch_lines(expected)


@pytest.mark.parametrize("method", METHODS)
def test_closed_fds_1_and_2_do_not_break_the_next_test(
    pytester: pytest.Pytester, method: str
) -> None:
    pytester.makepyfile(
        test_f="""
        import os
        import pytest

        @pytest.mark.isolated(group="g")
        def test_closes_fds_1_and_2():
            os.close(1)
            os.close(2)

        @pytest.mark.isolated(group="g")
        def test_prints_after():
            print("the next test's own output")
            assert False
        """
    )
    expected = [
        "*_ test_prints_after _*",
        "E       assert False",
        "*- Captured stdout call -*",
        "the next test's own output",
    ]
    baseline = run(pytester, "--no-isolation")
    baseline.assert_outcomes(passed=1, failed=1)
    baseline.stdout.fnmatch_lines(expected)
    baseline.stdout.no_fnmatch_line("*Bad file descriptor*")

    result = run(pytester, *isolated(method))
    assert_like(result, baseline)
    result.stdout.no_fnmatch_line("*Bad file descriptor*")
    result.stdout.fnmatch_lines(expected)


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
@pytest.mark.parametrize("method", METHODS)
def test_a_replaced_sys_stream_does_not_hide_the_next_tests_output(
    pytester: pytest.Pytester, method: str, stream: str
) -> None:
    """pytest's capture puts sys.stdout and sys.stderr back after each test."""
    pytester.makepyfile(
        test_f=f"""
        import io, sys
        import pytest

        @pytest.mark.isolated(group="g")
        def test_replaces_the_stream():
            sys.{stream} = io.StringIO()

        @pytest.mark.isolated(group="g")
        def test_writes_after():
            print("visible", file=sys.{stream})
            assert False
        """
    )
    expected = ["*_ test_writes_after _*", f"*- Captured {stream} call -*", "visible"]
    baseline = run(pytester, "--no-isolation")
    baseline.assert_outcomes(passed=1, failed=1)
    baseline.stdout.fnmatch_lines(expected)

    result = run(pytester, *isolated(method))
    assert_like(result, baseline)
    result.stdout.fnmatch_lines(expected)


# -- 4. the same test selected twice -------------------------------------------------

DUPLICATES = {
    # pytest test_f.py test_f.py --keep-duplicates
    "keep-duplicates": ("", "", True),
    "keep-duplicates-in-a-group": ('@pytest.mark.isolated(group="g")', "", True),
    # A plugin that repeats items (the same item object twice).
    "doubled-by-a-hook": (
        "",
        """
        def pytest_collection_modifyitems(items):
            items[:] = items + items
        """,
        False,
    ),
}


@pytest.mark.parametrize("how", list(DUPLICATES))
@pytest.mark.parametrize("method", METHODS)
def test_a_test_selected_twice_runs_once_per_selection(
    pytester: pytest.Pytester, method: str, how: str
) -> None:
    marker, conftest, on_command_line = DUPLICATES[how]
    if conftest:
        pytester.makeconftest(conftest)
    pytester.makepyfile(
        test_f=f"""
        import os
        import pytest

        {marker}
        def test_once():
            with open("runs.txt", "a") as f:
                f.write(f"{{os.getpid()}}\\n")
        """
    )
    args = ["-rA"]
    if on_command_line:
        args += ["test_f.py", "test_f.py", "--keep-duplicates"]
    runs = pytester.path / "runs.txt"
    expected = ["PASSED test_f.py::test_once", "PASSED test_f.py::test_once"]
    baseline = run(pytester, "--no-isolation", *args)
    baseline.assert_outcomes(passed=2)
    baseline.stdout.fnmatch_lines(expected)
    assert len(runs.read_text().splitlines()) == 2
    runs.unlink()

    result = run(pytester, *isolated(method), *args)
    assert_like(result, baseline)
    result.stdout.fnmatch_lines(expected)
    assert len(runs.read_text().splitlines()) == 2, "runs (one pid a line):\n" + (
        runs.read_text()
    )


# -- 5. --log-file ---------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_log_file_holds_every_line_as_in_process(
    pytester: pytest.Pytester, method: str
) -> None:
    """The parent writes the log file too: a child must neither truncate it
    nor write over the parent's lines."""
    pytester.makeconftest(
        """
        import logging, os

        def _parent_only(message):
            if not os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS"):
                logging.getLogger("conftest").info(message)

        def pytest_sessionstart(session):
            _parent_only("the parent's session starts")

        def pytest_sessionfinish(session):
            _parent_only("the parent's session ends")
        """
    )
    pytester.makepyfile(
        test_f="""
        import logging

        def test_logs_first():
            logging.getLogger("app").info("logged by the first test")

        def test_logs_second():
            logging.getLogger("app").info("logged by the second test")
        """
    )
    log = pytester.path / "run.log"
    args = ("--log-file=run.log", "--log-file-level=INFO")
    baseline = run(pytester, "--no-isolation", *args)
    baseline.assert_outcomes(passed=2)
    expected = log.read_text().splitlines()
    assert [line.split()[-1] for line in expected] == [
        "starts",
        "test",
        "test",
        "ends",
    ]
    assert "logged by the first test" in expected[1]
    log.unlink()

    result = run(pytester, *isolated(method), *args)
    assert_like(result, baseline)
    assert log.read_text().splitlines() == expected


# -- 6. reading stdin ------------------------------------------------------------------


@pytest.mark.parametrize("read", ["sys.stdin.read()", "input()"])
@pytest.mark.parametrize("method", METHODS)
def test_reading_stdin_under_capture_fails_as_in_process(
    pytester: pytest.Pytester, method: str, read: str
) -> None:
    pytester.makepyfile(
        test_f=f"""
        import sys

        def test_reads_stdin():
            print("read:", repr({read}))
        """
    )
    expected = [
        "E   *OSError: pytest: reading from stdin while output is captured!  "
        "Consider using `-s`."
    ]
    baseline = run(pytester, "--no-isolation")
    baseline.assert_outcomes(failed=1)
    baseline.stdout.fnmatch_lines(expected)

    result = run(pytester, *isolated(method))
    assert_like(result, baseline)
    result.stdout.fnmatch_lines(expected)


# -- 7, 8, 9. the stack dumps of timed-out and slow tests ------------------------------

EARLIER_TESTS = {
    "fails": ("", "assert False", {"failed": 2}),
    "errors-in-setup": ("broken", "pass", {"errors": 1, "failed": 1}),
    # The control: with an earlier test that passes, the dump is there.
    "passes": ("", "pass", {"passed": 1, "failed": 1}),
}


@pytest.mark.slow
@pytest.mark.parametrize("earlier", list(EARLIER_TESTS))
@pytest.mark.parametrize("method", METHODS)
def test_timed_out_test_shows_its_stack_whatever_the_earlier_tests_did(
    pytester: pytest.Pytester, method: str, earlier: str
) -> None:
    """pytest's faulthandler plugin cancels faulthandler's timer whenever a
    test fails (pytest_exception_interact); the group's timeout dump is armed
    on that timer."""
    fixture, body, outcomes = EARLIER_TESTS[earlier]
    source = f"""
        import time
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("setup fails")

        @pytest.mark.isolated(group="g")
        def test_earlier({fixture}):
            {body}

        @pytest.mark.isolated(group="g")
        def test_sleeps():
            time.sleep(30)
        """
    pytester.makepyfile(test_f=source)
    lineno = line_of(source, "time.sleep(30)")
    result = run(pytester, "--isolated-timeout=2", f"--isolated-start={method}")
    assert_no_internal_error(result)
    result.assert_outcomes(**outcomes)
    result.stdout.fnmatch_lines(
        [
            "*_ test_sleeps _*",
            "*the test TIMED OUT after 2s (group 'g')",
            "*from --isolated-timeout=2*",
            "Stack of every thread*",
            f'*File "*test_f.py", line {lineno} in test_sleeps',
        ]
    )


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_import_that_hangs_in_the_child_is_reported_with_limit_and_stack(
    pytester: pytest.Pytester, method: str
) -> None:
    source = """
        import os, time

        if os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS"):
            time.sleep(60)

        def test_never_runs():
            pass
        """
    pytester.makepyfile(test_f=source)
    lineno = line_of(source, "time.sleep(60)")
    result = run(
        pytester, *isolated(method), "--isolated-timeout=2", timeout=RUN_TIMEOUT / 2
    )
    assert_no_internal_error(result)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "passed" not in result.parseoutcomes()
    result.stdout.fnmatch_lines(
        [
            "*TIMED OUT after 2s*",
            "*--isolated-timeout=2*",
            "Stack of every thread*",
            f'*File "*test_f.py", line {lineno} in <module>',
        ]
    )


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_faulthandler_timeout_dumps_the_tests_stack_as_in_process(
    pytester: pytest.Pytester, method: str
) -> None:
    """pytest prints "Timeout (0:00:01)!" and the test's stack to stderr; an
    isolated test's dump must show the test too (docs/limitations.md: lost)."""
    pytester.makeini("[pytest]\nfaulthandler_timeout = 1\n")
    source = """
        import time

        def test_slow():
            time.sleep(2)
        """
    pytester.makepyfile(test_f=source)
    lineno = line_of(source, "time.sleep(2)")
    expected = [
        "Timeout (0:00:01)!",
        f'*File "*test_f.py", line {lineno} in test_slow',
    ]
    baseline = run(pytester, "--no-isolation", "-rA")
    baseline.assert_outcomes(passed=1)
    baseline.stderr.fnmatch_lines(expected)

    result = run(pytester, *isolated(method), "-rA")
    assert_like(result, baseline)
    everything = pytest.LineMatcher([*result.outlines, *result.errlines])
    everything.fnmatch_lines(expected)


# -- session outputs a child must not write ---------------------------------------------


@pytest.mark.parametrize("method", METHODS)
def test_pastebin_gets_one_paste_per_session(
    pytester: pytest.Pytester, method: str
) -> None:
    """``--pastebin=all`` uploads the session log: once, from the parent."""
    pytest.importorskip("_pytest.pastebin", reason="pytest without --pastebin")
    pastes = pytester.path / "pastes.txt"
    pytester.makeconftest(
        f"""
        import os
        import _pytest.pastebin

        def record_paste(contents):
            with open({str(pastes)!r}, "a") as f:
                f.write(f"{{os.getpid()}}\\n")
            return "https://paste.invalid/1"

        _pytest.pastebin.create_new_paste = record_paste
        """
    )
    pytester.makepyfile(
        test_f="""
        def test_one():
            pass

        def test_two():
            pass
        """
    )
    baseline = run(pytester, "--no-isolation", "--pastebin=all")
    baseline.assert_outcomes(passed=2)
    assert len(pastes.read_text().splitlines()) == 1
    pastes.unlink()

    result = run(pytester, *isolated(method), "--pastebin=all")
    assert_like(result, baseline)
    assert len(pastes.read_text().splitlines()) == 1, "one pid a paste:\n" + (
        pastes.read_text()
    )
