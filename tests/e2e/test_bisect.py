"""--isolated-bisect: the tests whose leftovers make later tests fail.

Each sub-run's tests share state through a module global (or the process's
environment, working directory and sys.path), so that a test fails only
after another one ran in the same process.  The verdicts are read in the
terminal section and in the JSON file; the session's own outcomes must be
those of a run without the bisect.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

POLLUTED_LINE = (
    "{victim} passes alone but fails after {culprit}: {culprit} leaves state "
    "behind (mark it @pytest.mark.isolated, or fix its cleanup)"
)


def fifty_tests(polluter: int, victim: int) -> str:
    """50 tests; one leaves a global set, one fails if it is."""
    lines = ["STATE = {}", ""]
    for i in range(50):
        lines.append(f"def test_{i:02d}():")
        if i == polluter:
            lines.append("    STATE['dirty'] = True")
        elif i == victim:
            lines.append("    assert not STATE.get('dirty')")
        else:
            lines.append("    pass")
        lines.append("")
    return "\n".join(lines)


def verdicts(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text("utf-8"))
    assert data["version"] == 1
    found: list[dict[str, Any]] = data["verdicts"]
    return found


def test_one_polluter_among_50(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    pytester.makepyfile(test_many=fifty_tests(polluter=19, victim=37))
    result = pytester.runpytest_subprocess(
        "--isolated-bisect", "--isolated-bisect-json=bisect.json"
    )
    result.assert_outcomes(passed=49, failed=1)
    victim, culprit = "test_many.py::test_37", "test_many.py::test_19"
    result.stdout.fnmatch_lines(
        [
            "*= bisect of the failed tests =*",
            POLLUTED_LINE.format(victim=victim, culprit=culprit),
            f"* probes in *s (start method {every_start_method})",
            "*= short test summary info =*",
            f"FAILED {victim} - *",
            "*= 1 failed, 49 passed in *",
        ]
    )
    (found,) = verdicts(pytester.path / "bisect.json")
    assert found["nodeid"] == victim
    assert found["verdict"] == "polluted-by"
    assert found["culprits"] == [culprit]
    assert found["ran_before"] == 37
    # Alone, after all 37, ddmin over 37 tests, the confirmation.
    assert 4 <= found["probes"] <= 3 + 2 * 6


def test_two_polluters_each_break_a_different_victim(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_two="""
        STATE = {}

        def test_sets_x():
            STATE["x"] = 1

        def test_fine():
            pass

        def test_sets_y():
            STATE["y"] = 1

        def test_needs_no_y():
            assert "y" not in STATE

        def test_broken():
            assert 1 == 2

        def test_needs_no_x():
            assert "x" not in STATE
        """
    )
    result = pytester.runpytest_subprocess("--isolated-bisect")
    result.assert_outcomes(passed=3, failed=3)
    result.stdout.fnmatch_lines(
        [
            "*= bisect of the failed tests =*",
            POLLUTED_LINE.format(
                victim="test_two.py::test_needs_no_y",
                culprit="test_two.py::test_sets_y",
            ),
            "test_two.py::test_broken fails alone too: a plain failure",
            POLLUTED_LINE.format(
                victim="test_two.py::test_needs_no_x",
                culprit="test_two.py::test_sets_x",
            ),
            "* probes in *s (start method *)",
        ]
    )


def test_a_polluter_that_needs_another_test_before_it(
    pytester: pytest.Pytester,
) -> None:
    # test_write leaves the state dirty only after test_open ran.
    body = ["STATE = {}", ""]
    for i in range(12):
        body += [f"def test_filler_{i}():", "    pass", ""]
        if i == 2:
            body += ["def test_open():", "    STATE['open'] = True", ""]
        if i == 8:
            body += [
                "def test_write():",
                "    if STATE.get('open'):",
                "        STATE['dirty'] = True",
                "",
            ]
    body += ["def test_victim():", "    assert not STATE.get('dirty')", ""]
    pytester.makepyfile(test_pair="\n".join(body))
    result = pytester.runpytest_subprocess(
        "--isolated-bisect", "--isolated-bisect-json=out.json"
    )
    result.assert_outcomes(passed=14, failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_pair.py::test_victim passes alone but fails after "
            "test_pair.py::test_open and test_pair.py::test_write: together they "
            "leave state behind (mark them @pytest.mark.isolated, or fix their "
            "cleanup)",
        ]
    )
    (found,) = verdicts(pytester.path / "out.json")
    assert found["culprits"] == ["test_pair.py::test_open", "test_pair.py::test_write"]


FLAKY = """
from pathlib import Path

def fails_on(name, runs):
    # Fails on the given runs (1: the session's), counted in a file, so that
    # every probe, a fresh process, goes on counting.
    counter = Path(__file__).with_name(name)
    count = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(count))
    assert count not in runs, f"run {count}"

def test_before():
    pass

def test_flaky_after():
    # The session (1), alone (2: passes), after test_before (3: fails),
    # the confirmation (4: passes).
    fails_on("after.count", {1, 3})

def test_flaky_alone():
    # The session (1), alone (2: fails), alone again (3: passes).
    fails_on("alone.count", {1, 2})
"""


def test_a_flaky_victim_is_called_flaky(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_flaky=FLAKY)
    result = pytester.runpytest_subprocess(
        "--isolated-bisect", "--isolated-bisect-json=out.json"
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "test_flaky.py::test_flaky_after is flaky: it passes alone, failed after "
            "test_flaky.py::test_before, then passed after the same tests",
            "test_flaky.py::test_flaky_alone is flaky: it failed alone, then passed "
            "alone",
        ]
    )
    assert "leaves state behind" not in result.stdout.str()
    found = verdicts(pytester.path / "out.json")
    assert [v["verdict"] for v in found] == ["flaky", "flaky"]
    assert [v["probes"] for v in found] == [3, 2]


def test_a_failure_that_no_probe_reproduces(pytester: pytest.Pytester) -> None:
    # The victim fails only in pytest's own process (a conftest variable
    # set at configure and not inherited): not reproduced, never blamed.
    pytester.makeconftest(
        """
        import os

        def pytest_configure(config):
            if not os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS"):
                os.environ["ONLY_HERE"] = "1"
        """
    )
    pytester.makepyfile(
        test_elsewhere="""
        import os

        def test_first():
            pass

        def test_victim():
            assert "ONLY_HERE" not in os.environ
        """
    )
    result = pytester.runpytest_subprocess("--isolated-bisect")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "test_elsewhere.py::test_victim passes alone and after the 1 test that "
            "ran before it: its failure was not reproduced in a fresh subprocess (it "
            "depends on something else in pytest's process, or it is flaky)",
        ]
    )


@pytest.mark.parametrize(
    "end", ["pytest.exit('bye')", "os._exit(3)"], ids=["exit", "crash"]
)
def test_an_earlier_test_that_ends_the_probe_is_not_blamed(
    pytester: pytest.Pytester, end: str
) -> None:
    # In a probe, the earlier test ends the subprocess before the victim
    # runs: the victim did not fail after it.
    pytester.makepyfile(
        test_end=f"""
        import os
        import pytest

        STATE = {{}}

        def test_ends_probes():
            STATE["dirty"] = True
            if os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS"):
                {end}

        def test_victim():
            assert not STATE
        """
    )
    result = pytester.runpytest_subprocess("--isolated-bisect")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["test_end.py::test_victim passes alone and after the 1 test that ran *"]
    )
    assert "leaves state behind" not in result.stdout.str()


def test_probes_start_from_the_sessions_environment_cwd_and_path(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    # One victim checks all three (a probe each is the cost of a victim):
    # had any of them reached a probe, the victim would fail alone.
    pytester.makepyfile(
        test_process="""
        import os, sys

        def test_polluter():
            os.environ["LEAKED"] = "1"
            os.chdir(os.path.dirname(os.getcwd()))
            sys.path.insert(0, "/nonexistent-leak")

        def test_victim():
            assert "LEAKED" not in os.environ
            assert os.path.exists("test_process.py")
            assert "/nonexistent-leak" not in sys.path
        """
    )
    result = pytester.runpytest_subprocess(
        "--isolated-bisect", "--isolated-bisect-json=out.json"
    )
    result.assert_outcomes(passed=1, failed=1)
    (found,) = verdicts(pytester.path / "out.json")
    assert found["verdict"] == "polluted-by"
    assert found["culprits"] == ["test_process.py::test_polluter"]


def test_a_group_victim_is_bisected_within_its_group(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    pytester.makepyfile(
        test_groups="""
        import pytest

        STATE = {}

        def test_in_process_polluter():
            STATE["dirty"] = True   # never reaches the group's subprocess

        @pytest.mark.isolated(group="g")
        def test_group_polluter():
            STATE["group"] = True

        @pytest.mark.isolated(group="g")
        def test_group_other():
            pass

        @pytest.mark.isolated(group="g")
        def test_group_victim():
            assert not STATE.get("group")

        @pytest.mark.isolated
        def test_alone_fails():
            assert False   # ran alone already: not bisected
        """
    )
    result = pytester.runpytest_subprocess(
        "--isolated-bisect", "--isolated-bisect-json=out.json"
    )
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(
        [
            "test_groups.py::test_group_victim passes alone but fails after "
            "test_groups.py::test_group_polluter: test_groups.py::test_group_polluter "
            "leaves state behind (give it a subprocess of its own, or fix its "
            "cleanup)",
        ]
    )
    (found,) = verdicts(pytester.path / "out.json")
    assert found["group"] == "g"
    assert found["ran_before"] == 2  # the group's earlier tests only


def test_the_sessions_outcomes_are_unchanged(pytester: pytest.Pytester) -> None:
    """Differential: JUnit XML, --lf's cache, the summary and the exit status
    are those of the same run without the bisect."""
    pytester.makepyfile(test_many=fifty_tests(polluter=3, victim=7))
    plain = pytester.runpytest_subprocess("--junitxml=plain.xml", "-rA")
    lastfailed = pytester.path / ".pytest_cache" / "v" / "cache" / "lastfailed"
    plain_cache = lastfailed.read_text("utf-8")
    lastfailed.unlink()
    bisected = pytester.runpytest_subprocess(
        "--junitxml=bisected.xml", "-rA", "--isolated-bisect"
    )
    assert bisected.ret == plain.ret == 1
    assert lastfailed.read_text("utf-8") == plain_cache

    def testcases(name: str) -> list[str]:
        text = (pytester.path / name).read_text("utf-8")
        return [line.split(" time=")[0] for line in text.split("<testcase")[1:]]

    assert testcases("bisected.xml") == testcases("plain.xml")

    def summary(result: pytest.RunResult) -> list[str]:
        lines = result.stdout.lines
        start = next(i for i, x in enumerate(lines) if "short test summary" in x)
        # Under CI=true pytest prints whole assertion messages here, with
        # the addresses of objects, which differ from run to run.
        return [
            re.sub(r"0x[0-9a-f]+", "0x<ADDR>", line.split(" in ")[0])
            for line in lines[start:]
        ]

    assert summary(bisected) == summary(plain)
    assert "bisect of the failed tests" in bisected.stdout.str()


def test_nothing_failed_nothing_to_say(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess(
        "--isolated-bisect", "--isolated-bisect-json=out.json", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=1)
    assert "bisect" not in result.stdout.str()
    assert verdicts(pytester.path / "out.json") == []


def test_probes_print_nothing_under_capture_no(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_loud="""
        STATE = {}

        def test_polluter():
            print("polluter-" + "says-hello")
            STATE["dirty"] = True

        def test_victim():
            print("victim-" + "says-hello")
            assert not STATE
        """
    )
    result = pytester.runpytest_subprocess("-s", "--isolated-bisect")
    result.assert_outcomes(passed=1, failed=1)
    text = result.stdout.str()
    # The session's own output, once; the probes ran both tests four times.
    assert text.count("polluter-says-hello") == 1
    assert text.count("victim-says-hello") == 1
    result.stdout.fnmatch_lines(
        [
            POLLUTED_LINE.format(
                victim="test_loud.py::test_victim",
                culprit="test_loud.py::test_polluter",
            )
        ]
    )


def test_a_json_file_that_cannot_be_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_many=fifty_tests(polluter=0, victim=1))
    result = pytester.runpytest_subprocess("--isolated-bisect-json=nowhere/out.json")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            POLLUTED_LINE.format(
                victim="test_many.py::test_01", culprit="test_many.py::test_00"
            ),
            "--isolated-bisect-json: could not write *nowhere*out.json: *",
        ]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_exitfirst_bisects_what_failed_before_the_stop(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_x="""
        STATE = {}

        def test_polluter():
            STATE["dirty"] = True

        def test_victim_1():
            assert not STATE

        def test_victim_2():
            assert not STATE
        """
    )
    result = pytester.runpytest_subprocess(
        "-x", "-p", "no:cacheprovider", "--isolated-bisect", "--no-isolation"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            POLLUTED_LINE.format(
                victim="test_x.py::test_victim_1", culprit="test_x.py::test_polluter"
            ),
            "3 probes in *s (start method fork)",
        ]
    )
    assert "test_victim_2" not in result.stdout.str()


def test_the_ini_key_and_the_quiet_json(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nisolated_bisect = true\n")
    pytester.makepyfile(test_many=fifty_tests(polluter=0, victim=1))
    result = pytester.runpytest_subprocess("-qq", "--isolated-bisect-json=v.json")
    assert result.ret == 1
    (found,) = verdicts(pytester.path / "v.json")
    assert found["culprits"] == ["test_many.py::test_00"]


@pytest.mark.slow
def test_the_budget_running_out(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_slow="""
        import os, time

        STATE = {}

        def test_polluter():
            STATE["dirty"] = True
            if os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS"):
                time.sleep(60)   # in a probe: longer than the budget

        def test_victim_1():
            assert not STATE

        def test_victim_2():
            assert not STATE
        """
    )
    result = pytester.runpytest_subprocess(
        "--isolated-bisect",
        "--isolated-bisect-budget=3",
        "--isolated-bisect-json=out.json",
    )
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "test_slow.py::test_victim_1 was not bisected: the budget ran out",
            "test_slow.py::test_victim_2 was not bisected: the budget ran out",
            "* probes in *s (start method *)",
            "the budget of 3s (--isolated-bisect-budget) ran out: 2 failed tests "
            "not bisected",
        ]
    )
    data = json.loads((pytester.path / "out.json").read_text("utf-8"))
    assert [v["verdict"] for v in data["verdicts"]] == ["budget-exhausted"] * 2
    (run,) = data["runs"]
    assert run["budget_exhausted"] is True
    assert run["seconds"] < 30


def test_under_xdist_each_worker_bisects_its_own(pytester: pytest.Pytester) -> None:
    for name in ("one", "two"):
        pytester.makepyfile(
            **{
                f"test_{name}": f"""
                STATE = {{}}

                def test_{name}_polluter():
                    STATE["dirty"] = True

                def test_{name}_victim():
                    assert not STATE
                """
            }
        )
    result = pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--dist", "loadfile",
        "--isolated-bisect", "--isolated-bisect-json=out.json",
    )  # fmt: skip
    result.assert_outcomes(passed=2, failed=2)
    text = result.stdout.str()
    for name in ("one", "two"):
        line = POLLUTED_LINE.format(
            victim=f"test_{name}.py::test_{name}_victim",
            culprit=f"test_{name}.py::test_{name}_polluter",
        )
        assert line in text
    result.stdout.fnmatch_lines(["* probes in *s on 2 workers (start method *)"])
    found = verdicts(pytester.path / "out.json")
    assert sorted(v["worker"] for v in found) == ["gw0", "gw1"]


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ["--isolated-bisect-budget=soon"],
            "",
            "*--isolated-bisect-budget: expected a number of seconds, got 'soon'*",
        ),
        (
            [],
            "isolated_bisect = maybe",
            "*isolated_bisect = 'maybe' in *tox.ini: expected true or false, got "
            "'maybe'*",
        ),
        (
            ["--isolated-bisect"],
            "isolated_bisect_budget = -1",
            "*isolated_bisect_budget = '-1' in *tox.ini: expected a number of "
            "seconds >= 0, got '-1'*",
        ),
    ],
)
def test_bad_values_are_usage_errors(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    pytester.makefile(".ini", tox=textwrap.dedent(f"[pytest]\n{ini}\n"))
    pytester.makepyfile("def test_ok(): pass")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "INTERNALERROR" not in result.stderr.str() + result.stdout.str()
