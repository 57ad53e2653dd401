"""Crashes, timeouts, interrupts and abusive children: contained and reported."""

from __future__ import annotations

import sys
import time
import xml.etree.ElementTree as ET

import pytest

from helpers.processes import alive, interrupt, pytest_until_ready

posix_only = pytest.mark.skipif(
    sys.platform == "win32", reason="POSIX signals do not exist on Windows"
)
tee_posix_only = pytest.mark.skipif(
    sys.platform == "win32",
    reason="under -s a child's output passes through pytest's process on POSIX "
    "only (select() on pipes); on Windows the child writes to the terminal",
)


@posix_only
def test_signal_crashes_fail_the_test_and_the_session_goes_on(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_x="""
        import ctypes, os, signal, sys
        import pytest

        @pytest.mark.isolated
        def test_segfault():
            print("before the segfault")
            sys.stderr.write("on stderr too\\n")
            ctypes.string_at(0)

        @pytest.mark.isolated
        def test_abort():
            os.abort()

        @pytest.mark.isolated
        def test_sigkill():
            os.kill(os.getpid(), signal.SIGKILL)

        def test_after_the_crashes():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-rA")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*_ test_segfault _*",
            "*test_x.py:3: running the test CRASHED with signal 11 (SIGSEGV)",
            "Fatal Python error: Segmentation fault",
            '*File "*test_x.py", line 8 in test_segfault',
            "*- Captured stdout call -*",
            "before the segfault",
            "*- Captured stderr call -*",
            "on stderr too",
            "*_ test_abort _*",
            "*CRASHED with signal 6 (SIGABRT)",
            "*_ test_sigkill _*",
            "*CRASHED with signal 9 (SIGKILL): KILLED by SIGKILL (not by pytest-isolated; peak RSS *)",
            "*= isolated subprocesses that crashed or timed out =*",
            "*::test_segfault: CRASHED with signal 11 (SIGSEGV)",
            "*::test_abort: CRASHED with signal 6 (SIGABRT)",
            "*::test_sigkill: CRASHED with signal 9 (SIGKILL): KILLED by SIGKILL (not by pytest-isolated; *)",
            "PASSED *::test_after_the_crashes",
            "FAILED *::test_segfault - CRASHED with signal 11 (SIGSEGV)",
            "FAILED *::test_abort - CRASHED with signal 6 (SIGABRT)",
            "FAILED *::test_sigkill - CRASHED with signal 9 (SIGKILL)*",
        ]
    )
    # pytest's frames below the test are noise and are cut from the dump.
    result.stdout.fnmatch_lines(["*(pytest's own frames omitted)*"])
    result.stdout.no_fnmatch_line("*site-packages/pluggy/*")


def test_exits_are_reported_with_their_status(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_x="""
        import os
        import pytest

        @pytest.mark.isolated
        def test_exit_3():
            os._exit(3)

        @pytest.mark.isolated
        def test_exit_0():
            print("leaving quietly")
            os._exit(0)
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*:3: running the test EXITED with status 3",
            "*:7: running the test EXITED with status 0",
            "*- Captured stdout call -*",
            "leaving quietly",
            "FAILED *::test_exit_3 - EXITED with status 3",
            "FAILED *::test_exit_0 - EXITED with status 0",
        ]
    )


@posix_only
def test_runaway_recursion_is_contained(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_x="""
        import sys
        import pytest

        class Deeper:
            def __init__(self, depth):
                self.depth = depth
            def __repr__(self):
                return repr(Deeper(self.depth + 1))

        @pytest.mark.isolated
        def test_recurse():
            sys.setrecursionlimit(10**8)
            repr(Deeper(0))

        def test_after():
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, failed=1)
    if sys.version_info < (3, 12):
        # The C stack overflows: a real crash.
        result.stdout.fnmatch_lines(
            ["FAILED *::test_recurse - CRASHED with signal 11*"]
        )
    else:
        # 3.12+ guard the C stack with a limit of their own.
        result.stdout.fnmatch_lines(["FAILED *::test_recurse - RecursionError*"])


@posix_only
def test_crash_in_fixture_setup_and_teardown_is_an_error_of_that_phase(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_x="""
        import os, signal
        import pytest

        @pytest.fixture
        def dies_in_setup():
            print("setting up")
            os.abort()

        @pytest.fixture
        def dies_in_teardown():
            yield
            print("tearing down")
            os.kill(os.getpid(), signal.SIGKILL)

        @pytest.mark.isolated
        def test_setup(dies_in_setup):
            pass

        @pytest.mark.isolated
        def test_teardown(dies_in_teardown):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-rA", "--junitxml=out.xml")
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_setup _*",
            "*running the test CRASHED with signal 6 (SIGABRT)",
            "*- Captured stdout setup -*",
            "setting up",
            "*_ ERROR at teardown of test_teardown _*",
            "*running the test CRASHED with signal 9 (SIGKILL)*",
            "*- Captured stdout teardown -*",
            "tearing down",
        ]
    )
    xml = (pytester.path / "out.xml").read_text()
    assert xml.count("<testcase ") == 2
    assert xml.count("<error ") == 2


@posix_only
def test_a_crash_in_a_hook_after_the_calls_report_is_an_error_at_teardown(
    pytester: pytest.Pytester,
) -> None:
    """As pytest reports a failure after a passed call: the test passed, and
    errs at teardown; once, with the call's output once."""
    pytester.makeconftest(
        """
        import os, signal

        def pytest_runtest_logreport(report):
            if report.when == "call" and os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS"):
                os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    pytester.makepyfile(
        test_x="""
        import pytest

        @pytest.mark.isolated
        def test_reported():
            print("from the call")

        def test_after():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-rA")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_reported _*",
            "*running the test CRASHED with signal 9 (SIGKILL)*",
            "*- Captured stdout call -*",
            "from the call",
            "*= PASSES =*",
        ]
    )
    assert result.stdout.str().count("from the call") == 2  # its error, its pass
    result.stdout.no_fnmatch_line("FAILED *")


@posix_only
@pytest.mark.parametrize("strict", [False, True])
def test_crash_of_an_xfail_test_is_xfail(
    pytester: pytest.Pytester, strict: bool
) -> None:
    pytester.makepyfile(
        test_x=f"""
        import os, signal
        import pytest

        @pytest.mark.xfail(reason="known to crash", strict={strict})
        @pytest.mark.isolated
        def test_crashes():
            os.kill(os.getpid(), signal.SIGTERM)

        @pytest.mark.xfail(reason="wrong kind", raises=ValueError)
        @pytest.mark.isolated
        def test_wrong_kind():
            os.kill(os.getpid(), signal.SIGTERM)
        """
    )
    result = pytester.runpytest_subprocess("-rA")
    result.assert_outcomes(xfailed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "XFAIL *::test_crashes - known to crash (CRASHED with signal 15 (SIGTERM))",
            "FAILED *::test_wrong_kind - CRASHED with signal 15 (SIGTERM)",
        ]
    )


def test_group_crash_keeps_earlier_outcomes_and_resumes_the_rest(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_x="""
        import os
        import pytest

        pytestmark = pytest.mark.isolated(group="g")
        PIDS = []

        def test_first():
            PIDS.append(os.getpid())

        def test_second_fails():
            assert 1 == 2

        def test_crash():
            os._exit(7)

        def test_after_crash_runs_in_a_fresh_process(tmp_path):
            # Not the process of the tests above: module state is new.
            assert PIDS == []
        """
    )
    result = pytester.runpytest_subprocess("-v", "--isolated-usage")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*::test_first PASSED*",
            "*::test_second_fails FAILED*",
            "*::test_crash FAILED*",
            "*::test_after_crash_runs_in_a_fresh_process PASSED*",
            "*::test_crash (group 'g'): EXITED with status 7",
            "pytest-isolated: 2 subprocess(es) for 1 group(s), *s in total",
        ]
    )


def test_import_error_only_in_the_child_fails_each_test_with_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_broken="""
        import os
        import pytest

        pytestmark = pytest.mark.isolated

        if os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS"):
            raise ImportError("broken only in the subprocess")

        def test_one():
            pass

        def test_two():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-rA")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at setup of test_one _*",
            "*test_broken.py: collection failed",
            "ImportError while importing test module*",
            "E   ImportError: broken only in the subprocess",
            # The short summary is cut at the terminal's width.
            "ERROR test_broken.py::test_one - not collected in its subprocess: Import*",
            "ERROR test_broken.py::test_two - not collected in its subprocess: Import*",
        ]
    )


def test_conftest_error_only_in_the_child_is_shown(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import os
        if os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS"):
            raise RuntimeError("conftest broken in the subprocess")
        """
    )
    pytester.makepyfile(
        test_x="""
        import pytest

        @pytest.mark.isolated
        def test_one():
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "*test_x.py:*: the test could not run: "
            "pytest in the subprocess ended with exit status 4",
            "ImportError while loading conftest*",
            "E   RuntimeError: conftest broken in the subprocess",
            "ERROR test_x.py::test_one - RuntimeError: conftest broken in the subprocess",
        ]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_torn_last_event_is_a_clear_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_x="""
        import os
        import pytest

        @pytest.mark.isolated
        def test_tears_the_channel(request):
            child = request.config.pluginmanager.get_plugin("pytest-isolated-child")
            fd = child.channel.fd
            os.write(fd, b'{"v": 2, "event": "report", "report": {"nodeid')
            os._exit(0)

        def test_after():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*running the test EXITED with status 0",
            "*torn last event*",
            "FAILED *::test_tears_the_channel - EXITED with status 0",
        ]
    )
    result.stdout.no_fnmatch_line("*INTERNALERROR*")


def test_child_that_finishes_without_reporting_a_test(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        """
        import os
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_runtest_protocol(item):
            if os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS") and "skipped" in item.name:
                return True  # claims to have run it, reports nothing
        """
    )
    pytester.makepyfile(
        test_x="""
        import pytest

        pytestmark = pytest.mark.isolated(group="g")

        def test_ok():
            pass

        def test_skipped_by_a_hook():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-rA")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["ERROR *::test_skipped_by_a_hook - not reported by its subprocess"]
    )


def test_timeout_fails_the_running_test_with_the_stack(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_x="""
        import time
        import pytest

        pytestmark = pytest.mark.isolated(group="slow", timeout=4)

        def test_quick():
            pass

        def test_stuck():
            print("about to hang")
            time.sleep(60)

        def test_not_reached_yet():
            pass
        """
    )
    started = time.monotonic()
    result = pytester.runpytest_subprocess("-rA", "--durations=3")
    elapsed = time.monotonic() - started
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_x.py:8: the test TIMED OUT after 4s (group 'slow')",
            "The time limit of group 'slow' is 4s, from "
            "@pytest.mark.isolated(group='slow', timeout=4) on test_x.py::test_quick,"
            " measured from the start of its subprocess (not counting the time it"
            " waited for its tests' turns).",
            "Stack of every thread shortly before the deadline:",
            '*File "*test_x.py", line 11 in test_stuck',
            "*- Captured stdout call -*",
            "about to hang",
            "test_x.py::test_stuck: TIMED OUT after 4s (group 'slow')",
            "PASSED test_x.py::test_quick",
            "PASSED test_x.py::test_not_reached_yet",
            "FAILED test_x.py::test_stuck - TIMED OUT after 4s (group 'slow')",
        ]
    )
    # The duration shown is the real time the test ran until it was killed:
    # the group's limit less what the subprocess took to start and run
    # test_quick.
    durations = [
        float(line.split("s call")[0])
        for line in result.stdout.lines
        if line.endswith("call     test_x.py::test_stuck")
    ]
    assert len(durations) == 1
    assert 0.5 < durations[0] <= 4.1
    assert elapsed < 30


@pytest.mark.slow
def test_timeout_from_the_command_line_and_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nisolated_timeout = 100\n")
    pytester.makepyfile(
        test_x="""
        import time
        import pytest

        @pytest.mark.isolated
        def test_stuck():
            time.sleep(60)
        """
    )
    result = pytester.runpytest_subprocess("--isolated-timeout=3")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_x.py:3: the test TIMED OUT after 3s",
            "The time limit of group 'test_x.py::test_stuck' is 3s, "
            "from --isolated-timeout=3, measured from the start of its subprocess "
            "(not counting the time it waited for its tests' turns).",
            "FAILED test_x.py::test_stuck - TIMED OUT after 3s",
        ]
    )


@posix_only
@pytest.mark.slow
def test_timeout_kills_grandchildren(pytester: pytest.Pytester) -> None:
    pidfile = pytester.path / "grandchild.pid"
    pytester.makepyfile(
        test_x=f"""
        import subprocess, sys, time
        import pytest

        @pytest.mark.isolated(timeout=4)
        def test_spawns_and_hangs():
            proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            open({str(pidfile)!r}, "w").write(str(proc.pid))
            time.sleep(60)
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    pid = int(pidfile.read_text())
    assert not alive(pid)


@posix_only
def test_finished_child_leaves_no_grandchild(pytester: pytest.Pytester) -> None:
    pidfile = pytester.path / "grandchild.pid"
    pytester.makepyfile(
        test_x=f"""
        import subprocess, sys
        import pytest

        @pytest.mark.isolated
        def test_spawns_and_returns():
            proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            open({str(pidfile)!r}, "w").write(str(proc.pid))
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)
    assert not alive(int(pidfile.read_text()))


@posix_only
def test_ctrl_c_stops_the_run_and_kills_the_tree(pytester: pytest.Pytester) -> None:
    ready = pytester.path / "ready"
    pidfile = pytester.path / "grandchild.pid"
    pytester.makepyfile(
        test_x=f"""
        import subprocess, sys, time
        import pytest

        @pytest.mark.isolated
        def test_hangs():
            proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            open({str(pidfile)!r}, "w").write(str(proc.pid))
            open({str(ready)!r}, "w").close()
            time.sleep(60)
        """
    )
    proc = pytest_until_ready(pytester.path, ready)
    try:
        interrupted = time.monotonic()
        out = interrupt(proc)
        assert time.monotonic() - interrupted < 10
    finally:
        proc.kill()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED
    assert "KeyboardInterrupt" in out
    assert not alive(int(pidfile.read_text()))


def test_flooding_closing_and_lingering_outputs(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_x="""
        import os, subprocess, sys
        import pytest

        @pytest.mark.isolated
        def test_floods_stdout():
            chunk = "x" * (1024 * 1024)
            for _ in range(50):
                sys.stdout.write(chunk)
            sys.stdout.write("\\nthe end of the flood\\n")
            assert False

        @pytest.mark.isolated
        def test_closes_stdout():
            sys.stdout.flush()
            os.close(1)

        @pytest.mark.isolated
        def test_grandchild_holds_the_outputs():
            subprocess.Popen(
                [sys.executable, "-c", "import time; time.sleep(60)"],
                stdout=sys.stdout, stderr=sys.stderr,
            )

        def test_last():
            pass
        """
    )
    started = time.monotonic()
    result = pytester.runpytest_subprocess("-rA")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        ["*earlier bytes not shown*", "the end of the flood", "PASSED *::test_last"]
    )
    assert time.monotonic() - started < 60


@posix_only
def test_under_capture_no_a_crash_report_keeps_the_tail_of_its_phase(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_x="""
        import os, signal, sys
        import pytest

        pytestmark = pytest.mark.isolated(group="g")

        @pytest.fixture
        def noisy():
            print("printed in the setup")

        def test_before():
            print("printed by the test before")

        def test_crashes(noisy):
            sys.stdout.write("x" * (100 * 1024) + "\\n")
            print("the last words")
            sys.stderr.write("on stderr\\n")
            os.kill(os.getpid(), signal.SIGTERM)

        def test_after():
            print("printed by the test after")
        """
    )
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=2, failed=1)
    # Live, as plain -s shows it; then the report with what the call printed.
    result.stdout.fnmatch_lines(
        [
            "*printed by the test before",
            "*printed in the setup",
            "*the last words",
            "*printed by the test after",
            "*_ test_crashes _*",
            "*running the test CRASHED with signal 15 (SIGTERM)",
            "*- Captured stdout call -*",
            "[[]*earlier bytes not shown]",
            "the last words",
            "*- Captured stderr call -*",
            "on stderr",
            "*= short test summary info =*",
        ]
    )
    result.stderr.fnmatch_lines(["on stderr"])
    report = result.stdout.str().split("Captured stdout call")[1]
    assert "printed by the test before" not in report
    assert "printed in the setup" not in report
    # The kept tail is bounded: 64 KiB of the 100 KiB line.
    assert report.count("x") < 65 * 1024
    assert "pytest-isolated:phase" not in result.stdout.str()


@tee_posix_only
def test_under_capture_no_floods_and_lingering_outputs_end(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_x="""
        import os, subprocess, sys
        import pytest

        @pytest.mark.isolated
        def test_floods_stdout():
            chunk = "x" * (1024 * 1024)
            for _ in range(20):
                sys.stdout.write(chunk)
            sys.stdout.write("\\nthe end of the flood\\n")
            os._exit(3)

        @pytest.mark.isolated
        def test_grandchild_holds_the_outputs():
            subprocess.Popen(
                [sys.executable, "-c", "import time; time.sleep(60)"],
                stdout=sys.stdout, stderr=sys.stderr,
            )

        def test_last():
            pass
        """
    )
    started = time.monotonic()
    result = pytester.runpytest_subprocess("-s", "-rA")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*running the test EXITED with status 3",
            "*- Captured stdout call -*",
            "*earlier bytes not shown*",
            "the end of the flood",
            "PASSED *::test_last",
        ]
    )
    # The whole flood was shown live; the report kept its tail only.
    assert result.stdout.str().count("x" * 1024) > 20 * 1000
    assert time.monotonic() - started < 60


# Every behaviour here holds for each start method.
pytestmark = pytest.mark.usefixtures("every_start_method")


OUTPUT_THEN_DEATH = """
import os, signal, time
import pytest

@pytest.fixture
def prepared():
    print("printed in setup")
    yield

@pytest.mark.isolated(timeout=2)
def test_dies(prepared):
    print("printed in call")
    {death}
"""


@pytest.mark.parametrize(
    "death",
    [
        pytest.param("os.kill(os.getpid(), signal.SIGSEGV)", id="crash"),
        pytest.param("time.sleep(60)", id="timeout", marks=pytest.mark.slow),
    ],
)
def test_a_lost_test_keeps_what_every_phase_printed(
    pytester: pytest.Pytester, every_start_method: str, death: str
) -> None:
    """The report of a crashed or timed-out test shows what its setup printed
    too, as a merely failed test's does, and JUnit XML's system-out holds it
    all (it is written from the test's last report)."""
    pytester.makepyfile(test_d=OUTPUT_THEN_DEATH.format(death=death))
    result = pytester.runpytest_subprocess(
        "--junitxml=out.xml", "-o", "junit_logging=all"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- Captured stdout setup -*",
            "printed in setup",
            "*- Captured stdout call -*",
            "printed in call",
        ]
    )
    out = ET.parse(pytester.path / "out.xml").getroot().find(".//system-out")
    assert out is not None
    assert "printed in setup" in (out.text or "")
    assert "printed in call" in (out.text or "")


def test_a_limit_shorter_than_the_start_up_is_a_timeout(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    """The signal that asks for the stacks shortly before the deadline may
    reach a child that is still starting: it must not kill it, and the test
    times out as any other."""
    pytester.makepyfile(
        test_u="""
        import time
        import pytest

        @pytest.mark.isolated
        def test_slow():
            time.sleep(3)
        """
    )
    # The first child is spawned as the group starts, under every method: the
    # stack-dump signal would come while the interpreter starts.
    result = pytester.runpytest_subprocess("--isolated-timeout=0.05")
    # In its setup or its call, depending on how far the child got.
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 1
    result.stdout.fnmatch_lines(["* test_u.py::test_slow - TIMED OUT after 0.05s"])
    result.stdout.no_fnmatch_line("*CRASHED*")


@pytest.mark.slow
def test_a_test_that_ends_after_its_deadline_has_timed_out(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    """What the child does after the deadline does not count: a test that
    outlives its limit fails, even when it ends while a debugger (gdb, when
    installed) takes the native stacks before the kill."""
    pytester.makepyfile(
        test_over="""
        import time
        import pytest

        @pytest.mark.isolated(timeout=2)
        def test_overruns():
            time.sleep(2.4)

        @pytest.mark.isolated
        def test_next():
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        ["FAILED test_over.py::test_overruns - TIMED OUT after 2s"]
    )
