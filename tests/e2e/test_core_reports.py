"""Reports: an isolated test shows up in every pytest report exactly as an
in-process one would (terminal, -r summaries, JUnit XML, durations, the cache,
warnings, captured output and logs), and selection and -x work as usual."""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

CORPUS = Path(__file__).parent / "corpus" / "outcomes.py.txt"
PYTEST_MAJOR = int(pytest.__version__.split(".")[0])


def junit_cases(path: Path) -> list[tuple[str, str, list[tuple[str, str | None]]]]:
    """(classname, name, [(child tag, message)]) of each testcase, in order."""
    root = ET.parse(path).getroot()
    return [
        (
            case.get("classname", ""),
            case.get("name", ""),
            [
                (child.tag, child.get("message"))
                for child in case
                if child.tag in ("failure", "error", "skipped")
            ],
        )
        for case in root.iter("testcase")
    ]


def junit_properties(path: Path, name: str) -> list[tuple[str, str]]:
    root = ET.parse(path).getroot()
    (case,) = [c for c in root.iter("testcase") if c.get("name") == name]
    return [(p.get("name", ""), p.get("value", "")) for p in case.iter("property")]


def test_every_report_of_an_isolated_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_rep="""
        import logging
        import warnings
        import pytest

        class Opaque:
            def __repr__(self):
                return "<Opaque thing>"

        def compute():
            return 3

        @pytest.mark.isolated
        def test_fails(record_property):
            record_property("opaque", Opaque())
            record_property("number", 7)
            print("printed by the failing test")
            logging.getLogger("child.logger").warning("logged by the failing test")
            assert compute() == 4

        @pytest.mark.isolated
        def test_warns(record_property, caplog):
            record_property("plain", "text")
            warnings.warn("warned in a subprocess", UserWarning)
            logging.getLogger("child.logger").warning("logged by a passing test")
            assert caplog.messages == ["logged by a passing test"]

        def test_in_process():
            warnings.warn("warned in the parent", DeprecationWarning)

        @pytest.mark.isolated
        def test_skips():
            pytest.skip("not here")
        """
    )
    args = ["-v", "-rA", "--junitxml=out.xml", "--durations=0", "--durations-min=0"]
    # pytest's own count: the two warnings, and record_property's warning that
    # it does not suit the default junit_family (xunit2), once per test.
    in_process = pytester.runpytest_subprocess("--no-isolation", *args)
    in_process.assert_outcomes(passed=2, failed=1, skipped=1, warnings=4)
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=2, failed=1, skipped=1, warnings=4)
    out = result.stdout.str()
    # The child's own header, progress and summary never reach the terminal.
    assert out.count("test session starts") == 1
    assert out.count("short test summary info") == 1
    result.stdout.fnmatch_lines(
        [
            "test_rep.py::test_fails FAILED*",
            "test_rep.py::test_warns PASSED*",
            "test_rep.py::test_in_process PASSED*",
            "test_rep.py::test_skips SKIPPED (not here)*",
            "*= FAILURES =*",
            "*_ test_fails _*",
            ">       assert compute() == 4",
            "E       assert 3 == 4",
            "E        +  where 3 = compute()",
            "test_rep.py:*: AssertionError",
            "*- Captured stdout call -*",
            "printed by the failing test",
            "*- Captured log call -*",
            "WARNING  child.logger:test_rep.py:* logged by the failing test",
            "*= warnings summary =*",
            "test_rep.py::test_warns",
            "  *test_rep.py:*: UserWarning: warned in a subprocess",
            "*",
            "",
            "test_rep.py::test_in_process",
            "  *test_rep.py:*: DeprecationWarning: warned in the parent",
            "*",
            "*= PASSES =*",
            "*_ test_warns _*",
            "*- Captured log call -*",
            "WARNING  child.logger:test_rep.py:* logged by a passing test",
            "*= slowest durations =*",
        ]
    )
    for name in ("test_fails", "test_warns", "test_skips"):
        for when in ("setup", "call", "teardown"):
            if name == "test_skips" and when == "call":
                continue  # skipped during the call: pytest reports no call phase
            result.stdout.fnmatch_lines([f"*s {when:<8} test_rep.py::{name}"])
    result.stdout.fnmatch_lines(
        [
            "*= short test summary info =*",
            "PASSED test_rep.py::test_warns",
            "PASSED test_rep.py::test_in_process",
            "SKIPPED [[]1[]] test_rep.py:*: not here",
            "FAILED test_rep.py::test_fails - assert 3 == 4",
        ]
    )
    xml = pytester.path / "out.xml"
    assert junit_cases(xml) == [
        (
            "test_rep",
            "test_fails",
            [("failure", "assert 3 == 4\n +  where 3 = compute()")],
        ),
        ("test_rep", "test_warns", []),
        ("test_rep", "test_in_process", []),
        ("test_rep", "test_skips", [("skipped", "not here")]),
    ]
    # A value JSON cannot carry arrives as its repr; the child did not crash.
    assert junit_properties(xml, "test_fails") == [
        ("opaque", "<Opaque thing>"),
        ("number", "7"),
    ]
    assert junit_properties(xml, "test_warns") == [("plain", "text")]
    failure = ET.parse(xml).getroot().find(".//failure")
    assert failure is not None
    assert ">       assert compute() == 4" in (failure.text or "")


def summary_lines(result: pytest.RunResult) -> list[str]:
    """The -rA short summary, one line per outcome, without timings."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "short test summary info" in line)
    return [line for line in lines[start + 1 : -1] if not line.startswith("=")]


def test_corpus_outcomes_equal_with_and_without_isolation(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_corpus=CORPUS.read_text(encoding="utf-8"))
    runs = {}
    for mode in ("--isolated", "--no-isolation"):
        xml = f"{mode.strip('-')}.xml"
        result = pytester.runpytest_subprocess(mode, "-rA", f"--junitxml={xml}")
        runs[mode] = (result, summary_lines(result), junit_cases(pytester.path / xml))
    isolated, in_process = runs["--isolated"], runs["--no-isolation"]
    outcomes = in_process[0].parseoutcomes()
    outcomes.pop("seconds", None)
    assert outcomes == {
        "failed": 6,
        "passed": 6,
        "skipped": 4,
        "xfailed": 1,
        "xpassed": 1,
        "errors": 2,
    }
    isolated[0].assert_outcomes(**outcomes)
    assert isolated[1] == in_process[1]
    assert len(in_process[1]) == 20  # every test, the teardown error twice
    assert isolated[2] == in_process[2]
    names = Counter(name for _, name, _ in isolated[2])
    assert len(names) == 19
    assert set(names.values()) == {1}
    isolated[0].stdout.no_fnmatch_line("*INTERNALERROR*")


def test_last_failed_and_failed_first(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_lf="""
        import os
        import pytest

        def _ran(name):
            with open("ran.txt", "a") as f:
                f.write(name + "\\n")

        @pytest.mark.isolated
        def test_a():
            _ran("a")

        @pytest.mark.isolated(group="g")
        def test_b():
            _ran("b")
            assert os.path.exists("fixed")

        def test_c():
            _ran("c")
            assert os.path.exists("fixed")

        @pytest.mark.isolated(group="g")
        def test_d():
            _ran("d")
        """
    )
    ran = pytester.path / "ran.txt"
    lastfailed = pytester.path / ".pytest_cache" / "v" / "cache" / "lastfailed"
    first = pytester.runpytest_subprocess("-p", "cacheprovider")
    first.assert_outcomes(passed=2, failed=2)
    assert sorted(ran.read_text().split()) == ["a", "b", "c", "d"]
    assert lastfailed.read_text().split() == [
        "{",
        '"test_lf.py::test_b":',
        "true,",
        '"test_lf.py::test_c":',
        "true",
        "}",
    ]

    ran.unlink()
    again = pytester.runpytest_subprocess("-p", "cacheprovider", "--lf", "-v")
    again.assert_outcomes(failed=2)
    again.stdout.fnmatch_lines(
        ["run-last-failure: rerun previous 2 failures", "*::test_b FAILED*"]
    )
    # The group's child ran only the failed test of the two it holds.
    assert sorted(ran.read_text().split()) == ["b", "c"]

    (pytester.path / "fixed").touch()
    ran.unlink()
    first_failed = pytester.runpytest_subprocess("-p", "cacheprovider", "--ff", "-v")
    first_failed.assert_outcomes(passed=4)
    first_failed.stdout.fnmatch_lines(
        [
            "test_lf.py::test_b PASSED*",
            "test_lf.py::test_c PASSED*",
            "test_lf.py::test_a PASSED*",
            "test_lf.py::test_d PASSED*",
        ]
    )
    assert lastfailed.read_text().strip() == "{}"


def test_exitfirst_and_maxfail_stop_promptly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_stop="""
        import time
        import pytest

        @pytest.mark.isolated
        def test_first_failure():
            assert False

        @pytest.mark.isolated(group="g")
        def test_passes():
            pass

        @pytest.mark.isolated(group="g")
        def test_second_failure():
            assert False

        @pytest.mark.isolated(group="g")
        def test_never_waited_for():
            time.sleep(60)

        def test_not_reached():
            pass
        """
    )
    started = time.monotonic()
    exitfirst = pytester.runpytest_subprocess("-x", "-rA")
    exitfirst.assert_outcomes(failed=1)
    exitfirst.stdout.fnmatch_lines(
        ["FAILED *::test_first_failure - *", "*! stopping after 1 failures !*"]
    )

    maxfail = pytester.runpytest_subprocess("--maxfail=2", "-rA")
    maxfail.assert_outcomes(passed=1, failed=2)
    maxfail.stdout.fnmatch_lines(
        [
            "PASSED *::test_passes",
            "FAILED *::test_first_failure - *",
            "FAILED *::test_second_failure - *",
            "*! stopping after 2 failures !*",
        ]
    )
    maxfail.stdout.no_fnmatch_line("*test_never_waited_for*")
    # Nobody waited for the sleeping test's subprocess.
    assert time.monotonic() - started < 30


def test_selection_decides_what_a_child_runs(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmarkers = slow: slow\n")
    pytester.makepyfile(
        test_sel="""
        import pytest

        pytestmark = pytest.mark.isolated(group="g")

        def _ran(name):
            with open("ran.txt", "a") as f:
                f.write(name + "\\n")

        @pytest.mark.slow
        def test_slow():
            _ran("slow")

        def test_excluded_by_keyword():
            _ran("keyword")

        def test_kept():
            _ran("kept")

        def test_deselected():
            _ran("deselected")

        @pytest.mark.parametrize("n", [1, 2])
        def test_param(n):
            _ran(f"param{n}")
        """
    )
    result = pytester.runpytest_subprocess(
        "-k",
        "not keyword",
        "-m",
        "not slow",
        "--deselect",
        "test_sel.py::test_deselected",
        "--deselect",
        "test_sel.py::test_param[1]",
        "-v",
    )
    result.assert_outcomes(passed=2, deselected=4)
    result.stdout.fnmatch_lines(
        ["test_sel.py::test_kept PASSED*", "test_sel.py::test_param[[]2[]] PASSED*"]
    )
    assert (pytester.path / "ran.txt").read_text().split() == ["kept", "param2"]


def test_output_capture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_out="""
        import sys
        import pytest

        @pytest.mark.isolated
        def test_prints_and_passes():
            print("visible with -s")
            sys.stderr.write("stderr with -s\\n")

        @pytest.mark.isolated
        def test_prints_and_fails():
            print("shown as captured output")
            assert False
        """
    )
    no_capture = pytester.runpytest_subprocess("-s")
    no_capture.assert_outcomes(passed=1, failed=1)
    no_capture.stdout.fnmatch_lines(["*visible with -s*"])
    no_capture.stderr.fnmatch_lines(["*stderr with -s*"])
    # Under -s the failing test's output went to the terminal, not a section.
    no_capture.stdout.no_fnmatch_line("*Captured stdout call*")
    assert no_capture.stdout.str().count("test session starts") == 1

    captured = pytester.runpytest_subprocess()
    captured.assert_outcomes(passed=1, failed=1)
    captured.stdout.no_fnmatch_line("*visible with -s*")
    captured.stdout.fnmatch_lines(
        [
            "*_ test_prints_and_fails _*",
            "*- Captured stdout call -*",
            "shown as captured output",
        ]
    )
    assert re.findall("test session starts", captured.stdout.str()) == [
        "test session starts"
    ]


# Every behaviour here holds for each start method.
pytestmark = pytest.mark.usefixtures("every_start_method")


UNITTEST_SUBTESTS = """
import unittest

class TestCase(unittest.TestCase):
    def test_subtest_fails(self):
        # unittest's subTest fails only the subtest, not the test.
        for number in range(2):
            with self.subTest(number=number):
                assert number == 0

def test_fixture_subtest_fails(subtests):
    # The subtests fixture fails the test too.
    for number in range(2):
        with subtests.test(number=number):
            assert number == 0
"""


@pytest.mark.skipif(PYTEST_MAJOR < 9, reason="subtests are built into pytest 9")
def test_subtests_count_as_in_process(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    """A failed unittest subTest is SUBFAILED under a PASSED test; a failed
    subtests-fixture subtest fails its test too: the same isolated, in the
    terminal's counts, the short summary, JUnit XML and --lf."""
    pytester.makepyfile(test_sub=UNITTEST_SUBTESTS)
    runs = {}
    for mode in ("--isolated", "--no-isolation"):
        xml = f"{mode.strip('-')}.xml"
        result = pytester.runpytest_subprocess(mode, "-rA", f"--junitxml={xml}")
        lastfailed = pytester.runpytest_subprocess(mode, "--lf", "--co", "-q")
        runs[mode] = (
            result.parseoutcomes(),
            summary_lines(result),
            junit_cases(pytester.path / xml),
            lastfailed.outlines[:2],
        )
    for run in runs.values():
        run[0].pop("seconds", None)
    assert runs["--isolated"] == runs["--no-isolation"]
    assert "PASSED test_sub.py::TestCase::test_subtest_fails" in runs["--isolated"][1]
    assert any(
        "FAILED test_sub.py::test_fixture_subtest_fails" in line
        for line in runs["--isolated"][1]
    )


def _section(lines: list[str], start: str, end: str) -> list[str]:
    first = next(i for i, line in enumerate(lines) if start in line)
    last = next(i for i, line in enumerate(lines) if i > first and end in line)
    return lines[first:last]


def test_a_parent_fixture_failing_in_an_isolated_slot_shows_no_frame_of_ours(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    """A module fixture of in-process tests whose teardown fails in the slot
    of an isolated test: the error reads as without isolation, with no frame
    of pytest-isolated in it."""
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="module")
        def resource():
            yield 1
            raise RuntimeError("teardown broke")
        """
    )
    pytester.makepyfile(
        test_slot="""
        import pytest

        def test_uses(resource):
            pass

        @pytest.mark.isolated
        def test_isolated():
            pass
        """
    )
    texts = []
    for mode in ("--isolated-start=" + every_start_method, "--no-isolation"):
        result = pytester.runpytest_subprocess(mode)
        result.assert_outcomes(passed=2, errors=1)
        texts.append(_section(result.outlines, "= ERRORS =", "short test summary"))
    assert texts[0] == texts[1]
    assert not any("pytest_isolated" in line for line in texts[0])


def test_a_keyboard_interrupt_is_located_where_the_test_raised_it(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    pytester.makepyfile(
        test_kb="""
        import pytest

        @pytest.mark.isolated
        def test_interrupts():
            raise KeyboardInterrupt
        """
    )
    texts = []
    for mode in ("--isolated-start=" + every_start_method, "--no-isolation"):
        result = pytester.runpytest_subprocess(mode)
        assert result.ret == pytest.ExitCode.INTERRUPTED
        texts.append(_section(result.outlines, "! KeyboardInterrupt !", "full-trace"))
    assert texts[0] == texts[1]
    assert texts[0][1].endswith("test_kb.py:5: KeyboardInterrupt")
