"""Start methods (spawn, prestart, fork), parallel groups and the lifeline."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from helpers.processes import alive, wait_for

posix_only = pytest.mark.skipif(
    sys.platform == "win32",
    reason="os.fork() and POSIX signals do not exist on Windows",
)

METHODS = [
    "spawn",
    "prestart",
    pytest.param("fork", marks=posix_only),
]


def test_auto_forks_forked_tests_and_gives_isolated_ones_a_fresh_interpreter(
    pytester: pytest.Pytester,
) -> None:
    """Under ``auto``, each test sees how its process started: a fork of the
    template imported the test module before it existed, a fresh (spawned or
    pre-started) interpreter imported it itself."""
    fork_expected = sys.platform.startswith("linux")  # elsewhere auto never forks
    pytester.makepyfile(
        test_x=f"""
        import os
        import pytest

        IMPORTED_IN = os.getpid()

        def started() -> str:
            assert os.environ["PYTEST_RUNNING_IN_SUBPROCESS"] == "1"
            return "fresh" if IMPORTED_IN == os.getpid() else "fork"

        @pytest.mark.forked
        def test_forked():
            assert started() == {"fork" if fork_expected else "fresh"!r}

        @pytest.mark.isolated
        def test_isolated():
            assert started() == "fresh"

        @pytest.mark.isolated(group="g")
        def test_in_a_group():
            assert started() == "fresh"
        """
    )
    result = pytester.runpytest_subprocess("-rA", "--isolated-start=auto")
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize("method", METHODS)
def test_every_start_method_gives_the_same_outcomes(
    pytester: pytest.Pytester, method: str
) -> None:
    pytester.makepyfile(
        test_x="""
        import os, time
        import pytest

        STATE = []

        @pytest.mark.isolated(group="g")
        def test_first():
            STATE.append(os.getpid())

        def test_in_process():
            assert STATE == []

        @pytest.mark.isolated(group="g")
        def test_second_shares_the_process():
            assert STATE == [os.getpid()]

        @pytest.mark.isolated
        def test_own_process():
            assert STATE == []
            assert os.environ["PYTEST_RUNNING_IN_SUBPROCESS"] == "1"

        @pytest.mark.isolated
        def test_fails():
            assert 1 == 2

        @pytest.mark.isolated
        def test_exits():
            os._exit(4)

        @pytest.mark.isolated(timeout=3)
        def test_hangs():
            time.sleep(60)

        @pytest.mark.isolated
        def test_after():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-rA", f"--isolated-start={method}")
    result.assert_outcomes(passed=5, failed=3)
    result.stdout.fnmatch_lines(
        [
            "PASSED test_x.py::test_first",
            "PASSED test_x.py::test_in_process",
            "PASSED test_x.py::test_second_shares_the_process",
            "PASSED test_x.py::test_own_process",
            "PASSED test_x.py::test_after",
            "FAILED test_x.py::test_fails - assert 1 == 2",
            "FAILED test_x.py::test_exits - EXITED with status 4",
            "FAILED test_x.py::test_hangs - TIMED OUT after 3s",
        ]
    )


@pytest.mark.parametrize("method", METHODS)
def test_environment_and_directory_are_those_of_the_group_start(
    pytester: pytest.Pytester, method: str
) -> None:
    """A pre-started (or forked) interpreter passes for a fresh one."""
    (pytester.path / "elsewhere").mkdir()
    pytester.makepyfile(
        test_x="""
        import os
        import pytest

        @pytest.mark.isolated
        def test_first():
            pass

        def test_changes_the_parent(monkeypatch):
            os.environ["SET_BY_AN_EARLIER_TEST"] = "yes"
            os.chdir("elsewhere")

        @pytest.mark.isolated
        def test_sees_the_change():
            assert os.environ.get("SET_BY_AN_EARLIER_TEST") == "yes"
            assert os.path.basename(os.getcwd()) == "elsewhere"
        """
    )
    result = pytester.runpytest_subprocess(f"--isolated-start={method}")
    result.assert_outcomes(passed=3)


def test_parallel_groups_report_in_run_order(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_x="""
        import time
        import pytest

        @pytest.mark.isolated
        def test_slow_first():
            time.sleep(1.5)

        @pytest.mark.isolated
        def test_quick_second():
            pass

        @pytest.mark.isolated
        def test_quick_third():
            assert False
        """
    )
    result = pytester.runpytest_subprocess("-v", "--isolated-parallel=2")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_x.py::test_slow_first PASSED*",
            "test_x.py::test_quick_second PASSED*",
            "test_x.py::test_quick_third FAILED*",
        ]
    )


def test_parallel_groups_overlap_and_exclusive_ones_do_not(
    pytester: pytest.Pytester,
) -> None:
    """Each test records when it ran; the exclusive one must overlap none."""
    log = pytester.path / "log"
    pytester.makepyfile(
        test_x=f"""
        import time
        import pytest

        def record(name):
            start = time.time()
            time.sleep(1.0)
            with open({str(log)!r}, "a") as f:
                f.write(f"{{name}} {{start}} {{time.time()}}\\n")

        @pytest.mark.isolated
        def test_a():
            record("a")

        @pytest.mark.isolated
        def test_b():
            record("b")

        @pytest.mark.isolated(exclusive=True)
        def test_alone():
            record("alone")

        @pytest.mark.isolated
        def test_c():
            record("c")
        """
    )
    result = pytester.runpytest_subprocess("--isolated-parallel=2")
    result.assert_outcomes(passed=4)
    spans = {}
    for line in log.read_text().splitlines():
        name, start, end = line.split()
        spans[name] = (float(start), float(end))

    def overlap(x: str, y: str) -> bool:
        return spans[x][0] < spans[y][1] and spans[y][0] < spans[x][1]

    assert overlap("a", "b")
    assert not any(overlap("alone", other) for other in ("a", "b", "c"))


def test_exit_first_stops_parallel_groups(pytester: pytest.Pytester) -> None:
    marker = pytester.path / "late-test-finished"
    pytester.makepyfile(
        test_x=f"""
        import time
        import pytest

        @pytest.mark.isolated
        def test_fails():
            assert False

        @pytest.mark.isolated
        def test_slow():
            time.sleep(20)
            open({str(marker)!r}, "w").close()
        """
    )
    started = time.monotonic()
    result = pytester.runpytest_subprocess("-x", "--isolated-parallel=2")
    result.assert_outcomes(failed=1)
    assert time.monotonic() - started < 15
    assert not marker.exists()


def test_bad_start_and_parallel_values(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_a(): pass")
    result = pytester.runpytest_subprocess("--isolated-parallel=0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*argument --isolated-parallel: expected a whole number >= 1 or 'auto', got '0'"
        ]
    )
    result = pytester.runpytest_subprocess("--isolated-start=vfork")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*argument --isolated-start: expected one of auto, prestart, spawn, fork, got 'vfork'*"
        ]
    )
    pytester.makeini("[pytest]\nisolated_parallel = many\nisolated_start = spawn\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: isolated_parallel = 'many' in *tox.ini: "
            "expected a whole number >= 1 or 'auto', got 'many'"
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_bad_exclusive_argument(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_x="""
        import pytest

        @pytest.mark.isolated(exclusive="yes")
        def test_a():
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: test_x.py::test_a: invalid @pytest.mark.isolated(exclusive='yes'): "
            "exclusive must be True or False, got 'yes'"
        ]
    )


@posix_only
@pytest.mark.parametrize("method", METHODS)
def test_children_do_not_outlive_a_killed_pytest(
    pytester: pytest.Pytester, method: str
) -> None:
    ready = pytester.path / "ready"
    pidfile = pytester.path / "pids"
    pytester.makepyfile(
        test_x=f"""
        import os, subprocess, sys, time
        import pytest

        @pytest.mark.isolated
        def test_hangs():
            proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            open({str(pidfile)!r}, "w").write(f"{{os.getpid()}} {{proc.pid}}")
            open({str(ready)!r}, "w").close()
            time.sleep(60)
        """
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--isolated-start={method}",
        ],
        cwd=pytester.path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(ready)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    pids = [int(p) for p in pidfile.read_text().split()]
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in pids)
