"""Other plugins with isolated tests: each loaded explicitly, as installed."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

COUNTER = """
import os

def bump(name):
    path = os.path.join(os.path.dirname(__file__), "count-" + name)
    n = int(open(path).read()) if os.path.exists(path) else 0
    with open(path, "w") as f:
        f.write(str(n + 1))
    return n + 1
"""


def test_pytest_timeout_signal_and_thread_methods(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_x="""
        import time
        import pytest

        @pytest.mark.isolated
        @pytest.mark.timeout(0.5, method="signal")
        def test_signal():
            time.sleep(30)

        @pytest.mark.isolated(group="t")
        @pytest.mark.timeout(0.5, method="thread")
        def test_thread():
            time.sleep(30)

        @pytest.mark.isolated(group="t")
        def test_after_the_thread_timeout():
            pass

        @pytest.mark.isolated
        def test_command_line_timeout():
            time.sleep(30)

        def test_in_process():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "timeout", "--timeout=1", "-rA")
    # The parent armed no timer for the isolated tests (it would have failed
    # the session while waiting); each child enforced its own.
    result.assert_outcomes(passed=2, failed=3)
    result.stdout.fnmatch_lines(
        ["FAILED *::test_signal - Failed: Timeout (>0.5s) from pytest-timeout."],
        consecutive=False,
    )
    result.stdout.fnmatch_lines(
        ["FAILED *::test_command_line_timeout - Failed: Timeout (>1.0s) from*"],
        consecutive=False,
    )
    # The thread method ends the process: its report goes to the child's
    # stderr, which the failed test shows.
    result.stdout.fnmatch_lines(
        [
            "*_ test_thread _*",
            "*- Captured stderr call -*",
            "*+ Timeout +*",
            "Timeout (>0.5s) from pytest-timeout.",
            "*Stack of MainThread*",
            "*in test_thread",
            "*time.sleep(30)",
            "*+ Timeout +*",
        ]
    )
    result.stdout.fnmatch_lines(["PASSED *::test_after_the_thread_timeout"])


def test_pytest_timeout_thread_method_is_named_in_the_summary(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_x="""
        import time
        import pytest

        @pytest.mark.isolated
        @pytest.mark.timeout(0.5, method="thread")
        def test_thread():
            time.sleep(30)
        """
    )
    result = pytester.runpytest_subprocess("-p", "timeout")
    result.assert_outcomes(failed=1)
    # "EXITED with status 1" alone would hide why.
    result.stdout.fnmatch_lines(["FAILED *::test_thread - *Timeout (>0.5s)*"])


MEASURED = """
def only_isolated(x):
    y = x * 2
    return y + 1


def never():
    return 0
"""

MEASURED_TEST = """
import pytest
import measured

@pytest.mark.isolated
def test_isolated():
    assert measured.only_isolated(1) == 3
"""


def _covered_lines(pytester: pytest.Pytester) -> list[int]:
    subprocess.run(
        [sys.executable, "-m", "coverage", "json", "-q", "-o", "cov.json"],
        cwd=pytester.path,
        check=True,
    )
    data = json.loads((pytester.path / "cov.json").read_text())
    lines: list[int] = data["files"]["measured.py"]["executed_lines"]
    return lines


def test_coverage_measures_isolated_tests_with_patch_subprocess(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(measured=MEASURED, test_x=MEASURED_TEST)
    (pytester.path / ".coveragerc").write_text(
        "[run]\npatch = subprocess\nsource = measured\n"
    )
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "coverage",
            "run",
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
        ],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    subprocess.run(
        [sys.executable, "-m", "coverage", "combine", "-q"],
        cwd=pytester.path,
        check=True,
    )
    # Lines 2-3: the body of only_isolated, run only in the subprocess.
    assert _covered_lines(pytester) == [1, 2, 3, 6]


def test_pytest_cov_measures_isolated_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(measured=MEASURED, test_x=MEASURED_TEST)
    (pytester.path / ".coveragerc").write_text("[run]\npatch = subprocess\n")
    result = pytester.runpytest_subprocess(
        "-p", "pytest_cov", "--cov=measured", "--cov-report=term-missing"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["measured.py * 5 * 1 * 80% * 7"])
    assert _covered_lines(pytester) == [1, 2, 3, 6]
    # Every child's data file was combined into .coverage; none is left over.
    assert sorted(p.name for p in pytester.path.glob(".coverage*")) == [
        ".coverage",
        ".coveragerc",
    ]


def test_pytest_cov_measures_every_test_isolated_as_without_isolation(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    # Every test isolated: under fork, the template starts as pytest loads
    # its root conftests, and must start measured as a later one would.
    pytester.makepyfile(
        measured=MEASURED,
        test_x="""
        import measured

        def test_one():
            assert measured.only_isolated(1) == 3

        def test_two():
            assert measured.never() == 0
        """,
    )
    (pytester.path / ".coveragerc").write_text("[run]\npatch = subprocess\n")
    for flags in (["--isolated"], ["--forked"], ["--no-isolation"]):
        result = pytester.runpytest_subprocess(
            "-p", "pytest_cov", "--cov=measured", "--cov-report=term-missing", *flags
        )
        result.assert_outcomes(passed=2)
        result.stdout.fnmatch_lines(["measured.py * 5 * 0 * 100%"])
        assert _covered_lines(pytester) == [1, 2, 3, 6, 7]


def test_pytest_cov_measures_isolated_tests_under_xdist(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(measured=MEASURED, test_x=MEASURED_TEST)
    (pytester.path / ".coveragerc").write_text("[run]\npatch = subprocess\n")
    result = pytester.runpytest_subprocess(
        "-p",
        "pytest_cov",
        "-p",
        "xdist",
        "-n",
        "2",
        "--cov=measured",
        "--cov-report=term-missing",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["measured.py * 5 * 1 * 80% * 7"])
    assert _covered_lines(pytester) == [1, 2, 3, 6]


def test_rerunfailures_reruns_inside_the_subprocess(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        counter=COUNTER,
        test_x="""
        import pytest
        from counter import bump

        @pytest.mark.isolated
        def test_fails_once():
            assert bump("once") > 1

        @pytest.mark.isolated
        @pytest.mark.flaky(reruns=2)
        def test_flaky_marker():
            assert bump("flaky") > 2
        """,
    )
    result = pytester.runpytest_subprocess("-p", "rerunfailures", "--reruns=1", "-v")
    assert result.parseoutcomes() == {"passed": 2, "rerun": 3}
    result.stdout.fnmatch_lines(
        [
            "*::test_fails_once RERUN*",
            "*::test_fails_once PASSED*",
            "*::test_flaky_marker RERUN*",
            "*::test_flaky_marker RERUN*",
            "*::test_flaky_marker PASSED*",
        ]
    )


#: A test whose first run aborts its process; the counter tells the runs.
CRASHES_ONCE = """
import os
import pytest
from counter import bump

@pytest.mark.isolated
def test_crashes_once():
    if bump("crash") == 1:
        os.abort()
"""


def test_rerunfailures_reruns_a_crashed_test_in_a_fresh_subprocess(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        counter=COUNTER,
        test_x=CRASHES_ONCE,
    )
    result = pytester.runpytest_subprocess("-p", "rerunfailures", "--reruns=1", "-v")
    assert result.parseoutcomes() == {"passed": 1, "rerun": 1}
    assert (pytester.path / "count-crash").read_text() == "2"


@pytest.mark.parametrize(
    ("filters", "outcomes", "runs"),
    [
        (["--only-rerun", "SIGABRT"], {"passed": 1, "rerun": 1}, "2"),
        (["--only-rerun", "AssertionError"], {"failed": 1}, "1"),
        (["--rerun-except", "signal 6"], {"failed": 1}, "1"),
        (["--rerun-except", "SIGSEGV"], {"passed": 1, "rerun": 1}, "2"),
        (["--only-rerun", "SubprocessDied"], {"passed": 1, "rerun": 1}, "2"),
    ],
)
def test_rerunfailures_filters_apply_to_crashes(
    pytester: pytest.Pytester, filters: list[str], outcomes: dict[str, int], runs: str
) -> None:
    pytester.makepyfile(
        counter=COUNTER,
        test_x=CRASHES_ONCE,
    )
    result = pytester.runpytest_subprocess(
        "-p", "rerunfailures", "--reruns=1", *filters
    )
    assert result.parseoutcomes() == outcomes
    assert (pytester.path / "count-crash").read_text() == runs


def test_rerunfailures_condition_applies_to_crashes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_x="""
        import os
        import pytest

        @pytest.mark.flaky(reruns=2, condition=False)
        @pytest.mark.isolated
        def test_crashes():
            os.abort()
        """,
    )
    result = pytester.runpytest_subprocess("-p", "rerunfailures")
    assert result.parseoutcomes() == {"failed": 1}


RANDOM_TESTS = """
import random
import pytest

def record(name):
    with open("draws.txt", "a") as f:
        f.write(f"{__name__}.{name} {random.random()}\\n")

@pytest.mark.isolated(group="g")
def test_g1():
    record("g1")

@pytest.mark.isolated(group="g")
def test_g2():
    record("g2")

@pytest.mark.isolated
def test_alone():
    record("alone")

def test_plain1():
    record("plain1")

def test_plain2():
    record("plain2")
"""


def test_randomly_groups_stay_intact_and_the_seed_is_shared(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_a=RANDOM_TESTS, test_b=RANDOM_TESTS)
    isolated = pytester.runpytest_subprocess("-p", "randomly", "-v")
    isolated.assert_outcomes(passed=10)
    seed = re.search(r"--randomly-seed=(\d+)", isolated.stdout.str())
    assert seed is not None
    draws = dict(
        line.split() for line in (pytester.path / "draws.txt").read_text().splitlines()
    )
    (pytester.path / "draws.txt").unlink()
    # The same seed without isolation: every test draws the same numbers.
    plain = pytester.runpytest_subprocess(
        "-p", "randomly", f"--randomly-seed={seed.group(1)}", "--no-isolation"
    )
    plain.assert_outcomes(passed=10)
    expected = dict(
        line.split() for line in (pytester.path / "draws.txt").read_text().splitlines()
    )
    assert draws == expected


def test_random_order_keeps_groups_in_one_subprocess(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_x="""
        import os
        import pytest

        def record(name):
            with open("pids.txt", "a") as f:
                f.write(f"{name} {os.getpid()}\\n")

        @pytest.mark.isolated(group="g")
        def test_g1():
            record("g1")

        def test_plain():
            record("plain")

        @pytest.mark.isolated(group="g")
        def test_g2():
            record("g2")
        """
    )
    for seed in ("1", "2", "3"):
        result = pytester.runpytest_subprocess(
            "-p", "randomly", f"--randomly-seed={seed}", "-v"
        )
        result.assert_outcomes(passed=3)
        pids = dict(
            line.split()
            for line in (pytester.path / "pids.txt").read_text().splitlines()
        )
        (pytester.path / "pids.txt").unlink()
        assert pids["g1"] == pids["g2"] != pids["plain"]


def test_asyncio_unittest_and_doctests_run_isolated(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(
        test_kinds='''
        import asyncio
        import os
        import unittest
        import pytest

        def in_child():
            return os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS") == "1"

        @pytest.mark.asyncio
        async def test_async():
            await asyncio.sleep(0)
            assert in_child()

        @pytest.mark.asyncio
        async def test_async_fails():
            await asyncio.sleep(0)
            assert 1 == 2

        class TestCase(unittest.TestCase):
            def test_ok(self):
                self.assertTrue(in_child())

            def test_fails(self):
                self.assertEqual(1, 2)

            @unittest.skip("not today")
            def test_skipped(self):
                pass

        def double(x):
            """
            >>> double(2)
            4
            >>> in_child()
            True
            """
            return x * 2

        def broken():
            """
            >>> broken()
            1
            """
            return 2
        ''',
    )
    result = pytester.runpytest_subprocess(
        "-p", "asyncio", "--isolated", "--doctest-modules", "-rA"
    )
    result.assert_outcomes(passed=3, failed=3, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "FAILED test_kinds.py::test_kinds.broken*",
            "FAILED test_kinds.py::test_async_fails - assert 1 == 2",
            "FAILED test_kinds.py::TestCase::test_fails - AssertionError: 1 != 2",
        ],
        consecutive=False,
    )


# Every behaviour here holds for each start method.
pytestmark = pytest.mark.usefixtures("every_start_method")


def test_pytest_env_expands_a_variable_once_in_a_child(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    every_start_method: str,
) -> None:
    """pytest-env's ``NAME=prefix:{NAME}`` is expanded as pytest starts: in
    a child too, from the same value, so the prefix is there once."""
    monkeypatch.setenv("MYPATH", "/base")
    pytester.makeini(
        """
        [pytest]
        env =
            MYPATH=/extra:{MYPATH}
        """
    )
    pytester.makepyfile(
        test_env="""
        import os
        import pytest

        def test_in_process():
            print("MYPATH in process:", os.environ["MYPATH"])

        @pytest.mark.isolated
        def test_isolated():
            print("MYPATH isolated:", os.environ["MYPATH"])
        """
    )
    for args in ((), ("--no-isolation",)):
        result = pytester.runpytest_subprocess("-p", "pytest_env.plugin", "-s", *args)
        result.assert_outcomes(passed=2)
        result.stdout.fnmatch_lines(
            ["*MYPATH in process: /extra:/base", "*MYPATH isolated: /extra:/base"]
        )
        assert "/extra:/extra" not in result.stdout.str()
