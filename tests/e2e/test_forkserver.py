"""Regression tests for the fork start method (``--isolated-start=fork``).

A fork of the template must pass for a freshly started child: the same
outcomes and reports, no warnings of its own, a ``tmp_path`` of its own, the
end of a session (the child's end-of-session hook, ``atexit``), and a
deadline even when the template never gets as far as forking.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from helpers.processes import alive

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork"), reason="os.fork() does not exist on Windows"
)

#: Generous bound on a whole sub-run: a hang fails the test instead of the suite.
RUN_TIMEOUT = 60


def summary_lines(result: pytest.RunResult) -> list[str]:
    """The entries of the short test summary (their first lines: under CI=true
    pytest does not cut a message short, and a long one spans lines)."""
    lines = result.stdout.lines
    start = next(
        (i for i, line in enumerate(lines) if "short test summary info" in line),
        None,
    )
    assert start is not None, "no short test summary in the output"
    words = ("PASSED", "FAILED", "ERROR", "SKIPPED", "XFAIL", "XPASS")
    return [line for line in lines[start + 1 :] if line.startswith(words)]


def outcomes_of(result: pytest.RunResult) -> dict[str, int]:
    outcomes = result.parseoutcomes()
    outcomes.pop("seconds", None)
    return outcomes


def normalise(line: str) -> str:
    """Drop what differs from run to run: durations and pids."""
    line = re.sub(r"\d+(\.\d+)?s\b", "<T>s", line)
    return re.sub(r"\bpid \d+", "pid <N>", line)


def report_of(result: pytest.RunResult) -> list[str]:
    """Everything after the header (the tracebacks, the sections, the
    summaries), normalised."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if line.startswith("collected "))
    return [normalise(line) for line in lines[start:]]


def all_output(result: pytest.RunResult) -> str:
    return result.stdout.str() + "\n" + result.stderr.str()


# -- 1. a file object of the template is garbage-collected in every fork ---------

WARNING_FREE_TESTS = """
import gc
import pytest

@pytest.mark.isolated
def test_plain():
    pass

@pytest.mark.isolated
def test_collects_garbage():
    gc.collect()

@pytest.mark.isolated(group="g")
def test_grouped_collects_garbage():
    gc.collect()

@pytest.mark.isolated(group="g")
def test_grouped_after():
    gc.collect()

@pytest.mark.isolated
def test_last(tmp_path):
    gc.collect()
    (tmp_path / "f").write_text("x")
"""


@pytest.mark.parametrize("how", ["ini-filterwarnings-error", "W-error-devmode"])
def test_forks_raise_no_resource_warnings(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """No file object the template opened is left to the garbage collector.

    Under ``filterwarnings = error`` (or ``-W error -X dev``), a ResourceWarning
    from a fork's own clean-up turns into a PytestUnraisableExceptionWarning
    that errors whichever test runs at that moment.
    """
    pytester.makepyfile(test_x=WARNING_FREE_TESTS)
    args = ["-rA", "--isolated-start=fork"]
    if how == "ini-filterwarnings-error":
        pytester.makeini("[pytest]\nfilterwarnings =\n    error\n")
    else:
        monkeypatch.setenv("PYTHONDEVMODE", "1")
        args += ["-W", "error"]
    result = pytester.runpytest_subprocess(*args, timeout=RUN_TIMEOUT)
    result.assert_outcomes(passed=5)
    output = all_output(result)
    assert "ResourceWarning" not in output
    assert "Unraisable" not in output


# -- 2. every fork empties the template's basetemp -------------------------------


def test_a_later_fork_keeps_an_earlier_groups_tmp_path(
    pytester: pytest.Pytester,
) -> None:
    """Each group's ``tmp_path`` folders outlive the groups that come after."""
    record = pytester.path / "a-file"
    pytester.makepyfile(
        test_x=f"""
        import os
        import pytest

        @pytest.mark.isolated
        def test_a_writes(tmp_path):
            path = tmp_path / "from-a.txt"
            path.write_text("a was here")
            with open({str(record)!r}, "w") as f:
                f.write(str(path))

        @pytest.mark.isolated
        def test_b_uses_tmp_path_too(tmp_path):
            (tmp_path / "from-b.txt").write_text("b was here")
            path = open({str(record)!r}).read()
            assert os.path.exists(path), f"group B removed group A's {{path}}"

        @pytest.mark.isolated
        def test_c_checks_again(tmp_path):
            path = open({str(record)!r}).read()
            assert os.path.exists(path), f"group C removed group A's {{path}}"
        """
    )
    result = pytester.runpytest_subprocess(
        "-rA", "--isolated-start=fork", timeout=RUN_TIMEOUT
    )
    result.assert_outcomes(passed=3)
    assert Path(record.read_text()).read_text() == "a was here"


def test_parallel_forks_keep_a_running_groups_tmp_path(
    pytester: pytest.Pytester,
) -> None:
    """A group that starts beside a running one must not empty its tmp_path.

    The slow group writes its file and waits until the other group, running
    beside it, has created its own temporary directory; then its file must
    still be there.  Every wait is bounded.
    """
    wrote = pytester.path / "slow-wrote"
    other_done = pytester.path / "other-done"
    pytester.makepyfile(
        test_x=f"""
        import os, time
        import pytest

        def wait_for(path, seconds=20):
            deadline = time.monotonic() + seconds
            while not os.path.exists(path):
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.05)
            return True

        @pytest.mark.isolated(timeout=40)
        def test_slow_group(tmp_path):
            mine = tmp_path / "mine.txt"
            mine.write_text("slow was here")
            open({str(wrote)!r}, "w").close()
            assert wait_for({str(other_done)!r}), "the other group never ran beside"
            time.sleep(0.2)
            assert mine.exists(), f"a group started beside removed {{mine}}"
            assert mine.read_text() == "slow was here"

        @pytest.mark.isolated(timeout=40)
        def test_other_group(tmp_path_factory):
            assert wait_for({str(wrote)!r}), "the slow group never wrote its file"
            # Only now does this process make its base temp directory.
            (tmp_path_factory.mktemp("other") / "other.txt").write_text("other")
            open({str(other_done)!r}, "w").close()

        @pytest.mark.isolated(timeout=40)
        def test_third_group(tmp_path):
            (tmp_path / "third.txt").write_text("third")
        """
    )
    result = pytester.runpytest_subprocess(
        "-rA", "--isolated-start=fork", "--isolated-parallel=2", timeout=RUN_TIMEOUT
    )
    result.assert_outcomes(passed=3)


# -- 3. a template that hangs while it collects -----------------------------------


@pytest.mark.slow
def test_a_template_that_hangs_in_collection_has_a_deadline(
    pytester: pytest.Pytester,
) -> None:
    """The template is bounded by the longest group limit, then groups go on.

    The conftest hangs only in subprocesses, so a spawned child hangs too and
    times out; either way the session ends and every test gets one outcome.
    """
    pids = pytester.path / "hung-pids"
    pytester.makeconftest(
        f"""
        import os, time

        if os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS") == "1":
            with open({str(pids)!r}, "a") as f:
                f.write(f"{{os.getpid()}}\\n")
            time.sleep(600)
        """
    )
    pytester.makepyfile(
        test_x="""
        import pytest

        @pytest.mark.isolated
        def test_first():
            pass

        def test_in_process():
            pass

        @pytest.mark.isolated
        def test_second():
            pass
        """
    )
    started = time.monotonic()
    try:
        result = pytester.runpytest_subprocess(
            "-rA", "--isolated-start=fork", "--isolated-timeout=3", timeout=RUN_TIMEOUT
        )
    finally:
        # A hung template is in a session of its own and outlives a killed
        # pytest: end the processes this run started, by their pids.
        if pids.exists():
            for pid in (int(p) for p in pids.read_text().split()):
                if alive(pid):
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
    elapsed = time.monotonic() - started
    assert elapsed < RUN_TIMEOUT
    outcomes = outcomes_of(result)
    assert outcomes.get("passed") == 1, outcomes
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 2, outcomes
    per_test = Counter(
        line.split()[1] for line in summary_lines(result) if line.split()
    )
    assert per_test == {
        "test_x.py::test_first": 1,
        "test_x.py::test_in_process": 1,
        "test_x.py::test_second": 1,
    }
    result.stdout.fnmatch_lines(["PASSED test_x.py::test_in_process"])
    output = all_output(result)
    assert "template" in output or "TIMED OUT" in output
    assert "INTERNALERROR" not in output


# -- 4. a test that forks and lets its child return into pytest -------------------


@pytest.mark.slow
@pytest.mark.parametrize("method", ["spawn", "prestart", "fork"])
def test_a_test_whose_fork_returns_into_pytest(
    pytester: pytest.Pytester, method: str
) -> None:
    """The test's own fork child returns into pytest (no ``os._exit``).

    It must neither hang the group nor add reports of its own, whatever the
    start method: the parent sees each test exactly once, and the run takes
    about what the same tests take without the fork (well under a second;
    the bound is generous, it detects a hang).
    """
    pytester.makepyfile(
        test_x="""
        import os
        import pytest

        @pytest.mark.isolated(group="g", timeout=30)
        def test_forks():
            pid = os.fork()
            if pid == 0:
                return  # the fork child goes on into pytest
            os.waitpid(pid, 0)

        @pytest.mark.isolated(group="g", timeout=30)
        def test_after_in_the_group():
            pass

        @pytest.mark.isolated(timeout=30)
        def test_next_group():
            pass

        def test_in_process():
            pass
        """
    )
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        "-rA", f"--isolated-start={method}", timeout=RUN_TIMEOUT
    )
    elapsed = time.monotonic() - started
    result.assert_outcomes(passed=4)
    assert sorted(summary_lines(result)) == [
        "PASSED test_x.py::test_after_in_the_group",
        "PASSED test_x.py::test_forks",
        "PASSED test_x.py::test_in_process",
        "PASSED test_x.py::test_next_group",
    ]
    assert elapsed < 8, f"the run took {elapsed:.1f}s"


# -- 5. the end of a session in a fork --------------------------------------------


@pytest.mark.parametrize("method", ["spawn", "prestart", "fork"])
def test_a_fork_ends_its_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, method: str
) -> None:
    """A fork ends its session like a spawned child: the end-of-session hook
    a child runs (``pytest_isolated_child_sessionfinish``; a conftest's
    ``pytest_sessionfinish`` runs once, in pytest's process) and ``atexit``
    handlers run in each group.

    The conftest writes, at the end of each subprocess's session, the tests it
    ran (the template, which runs none, writes nothing); each test registers
    an ``atexit`` handler that writes its id.
    """
    finished = pytester.path / "sessionfinish.log"
    at_exit = pytester.path / "atexit.log"
    monkeypatch.setenv("SESSIONFINISH_LOG", str(finished))
    monkeypatch.setenv("ATEXIT_LOG", str(at_exit))
    pytester.makeconftest(
        """
        import os

        RAN = []

        def pytest_runtest_logstart(nodeid, location):
            RAN.append(nodeid)

        def pytest_isolated_child_sessionfinish(session, exitstatus, output):
            if os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS") == "1" and RAN:
                with open(os.environ["SESSIONFINISH_LOG"], "a") as f:
                    f.write(" ".join(RAN) + "\\n")
        """
    )
    pytester.makepyfile(
        test_x="""
        import atexit, os
        import pytest

        def write_at_exit(request):
            def write(nodeid=request.node.nodeid):
                with open(os.environ["ATEXIT_LOG"], "a") as f:
                    f.write(nodeid + "\\n")
            atexit.register(write)

        @pytest.mark.isolated
        def test_a(request):
            write_at_exit(request)

        @pytest.mark.isolated
        def test_b(request):
            write_at_exit(request)

        @pytest.mark.isolated(group="g")
        def test_g1(request):
            write_at_exit(request)

        @pytest.mark.isolated(group="g")
        def test_g2(request):
            write_at_exit(request)

        def test_in_process():
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "-rA", f"--isolated-start={method}", timeout=RUN_TIMEOUT
    )
    result.assert_outcomes(passed=5)

    def lines(path: Path) -> list[str]:
        return sorted(path.read_text().splitlines()) if path.exists() else []

    # One line per group from pytest_sessionfinish, one per test from atexit.
    assert {
        "pytest_sessionfinish": lines(finished),
        "atexit": lines(at_exit),
    } == {
        "pytest_sessionfinish": [
            "test_x.py::test_a",
            "test_x.py::test_b",
            "test_x.py::test_g1 test_x.py::test_g2",
        ],
        "atexit": [
            "test_x.py::test_a",
            "test_x.py::test_b",
            "test_x.py::test_g1",
            "test_x.py::test_g2",
        ],
    }


def test_a_fork_leaves_without_the_interpreters_teardown(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After its ``atexit`` handlers a fork leaves with ``os._exit()``: the
    interpreter's teardown would free every object the template made, and so
    copy nearly every page the fork shares with it.  An object made at import
    is finalised by the processes that end normally (pytest's, the
    template), never by a fork, while each test's ``atexit`` handler runs and
    the outcome is the test's."""
    log = pytester.path / "end.log"
    monkeypatch.setenv("END_LOG", str(log))
    pytester.makepyfile(
        test_x="""
        import atexit, os

        def write(text, open=open, path=os.environ["END_LOG"], pid=os.getpid):
            # What the teardown may have cleared already is bound here.
            with open(path, "a") as f:
                f.write(f"{text} {pid()}\\n")

        class Finalised:
            def __del__(self, write=write):
                write("finalised")

        MADE_AT_IMPORT = Finalised()

        def test_passes():
            atexit.register(write, "atexit")

        def test_fails():
            atexit.register(write, "atexit")
            assert False
        """
    )
    result = pytester.runpytest_subprocess(
        "--forked", "-p", "no:randomly", timeout=RUN_TIMEOUT
    )
    result.assert_outcomes(passed=1, failed=1)
    pids: dict[str, set[str]] = {"atexit": set(), "finalised": set()}
    for line in log.read_text().splitlines():
        what, pid = line.split()
        pids[what].add(pid)
    assert len(pids["atexit"]) == 2, pids  # a fork for each test
    assert pids["finalised"], pids  # pytest's own process finalises it
    assert not pids["atexit"] & pids["finalised"], pids


# -- differential: every start method reports as pytest's own process -------------

DIFFERENTIAL_CORPUS = """
import warnings
import pytest

@pytest.fixture
def broken():
    raise RuntimeError("fixture setup broke")

def test_pass():
    pass

def test_fail_with_detail():
    expected = {"a": 1, "b": [1, 2, 3]}
    actual = {"a": 1, "b": [1, 2, 4]}
    assert actual == expected

def test_skip():
    pytest.skip("not today")

@pytest.mark.xfail(reason="a known bug")
def test_xfail():
    assert 0

def test_error_in_setup(broken):
    pass

def test_prints_and_fails():
    print("printed before failing")
    assert 1 + 1 == 3

def test_warns():
    warnings.warn("careful", UserWarning)
"""


def test_start_methods_report_as_pytests_own_process(
    pytester: pytest.Pytester,
) -> None:
    """spawn, prestart and fork give the -rA report of an in-process run.

    The short summary lines and the outcome counts first (the clearest
    difference), then the whole report after the header: the tracebacks with
    the assertion detail, the captured output, the warnings summary.
    """
    pytester.makepyfile(test_corpus=DIFFERENTIAL_CORPUS)
    in_process = pytester.runpytest_subprocess(
        "-rA", "--no-isolation", timeout=RUN_TIMEOUT
    )
    expected_outcomes = outcomes_of(in_process)
    assert expected_outcomes == {
        "passed": 2,
        "failed": 2,
        "skipped": 1,
        "xfailed": 1,
        "errors": 1,
        "warnings": 1,
    }
    expected_summary = [normalise(line) for line in summary_lines(in_process)]
    assert len(expected_summary) == 7
    expected_report = report_of(in_process)
    in_process.stdout.fnmatch_lines(
        [
            "*AssertionError: assert {'a': 1, 'b': ?1, 2, 4?} == {'a': 1, 'b': ?1, 2, 3?}",
            "*- Captured stdout call -*",
            "printed before failing",
            "*UserWarning: careful",
        ]
    )
    for method in ("spawn", "prestart", "fork"):
        result = pytester.runpytest_subprocess(
            "-rA", "--isolated", f"--isolated-start={method}", timeout=RUN_TIMEOUT
        )
        assert outcomes_of(result) == expected_outcomes, method
        assert [normalise(line) for line in summary_lines(result)] == (
            expected_summary
        ), method
        assert report_of(result) == expected_report, method
        assert "INTERNALERROR" not in all_output(result), method


def test_many_forked_groups_side_by_side(pytester: pytest.Pytester) -> None:
    """Groups that run beside each other keep every event: a fork's messages
    that arrive while the parent waits for the template are not lost."""
    pytester.makepyfile(
        test_many="\n".join(f"def test_{n}():\n    pass\n" for n in range(40))
    )
    result = pytester.runpytest_subprocess(
        "--forked", "--isolated-parallel=2", timeout=RUN_TIMEOUT
    )
    result.assert_outcomes(passed=40)


# -- the template of a session whose tests all fork --------------------------------

EARLY_CONFTEST = """
import os, time
import pytest_isolated

def pytest_configure(config):
    if pytest_isolated.in_child(config) == "":  # the fork template
        with open("template-configured", "w") as f:
            f.write(str(os.getpid()))

def pytest_collection_finish(session):
    if pytest_isolated.in_child(session.config) is None:  # pytest's process
        deadline = time.monotonic() + 30
        while not os.path.exists("template-configured"):
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        with open("seen-by-collection-end", "w") as f:
            f.write(str(os.path.exists("template-configured")))
"""


@pytest.mark.parametrize(
    "args", [["--forked"], ["--isolated", "--isolated-start=fork"]]
)
def test_the_template_starts_before_the_collection_ends(
    pytester: pytest.Pytester, args: list[str]
) -> None:
    """When every test forks, the template is started before the parent's
    collection ends (its conftest's configure is seen by the parent's
    ``pytest_collection_finish``), and it still serves the forks: the tests
    run in forks of it, with the node ids the parent collected."""
    pytester.makeconftest(EARLY_CONFTEST)
    pytester.makepyfile(
        test_x="""
        import os
        import pytest

        @pytest.mark.parametrize("n", [1, 2])
        def test_forked(n):
            template = int(open("template-configured").read())
            assert os.getppid() == template
        """
    )
    result = pytester.runpytest_subprocess(*args, timeout=RUN_TIMEOUT)
    result.assert_outcomes(passed=2)
    assert (pytester.path / "seen-by-collection-end").read_text() == "True"
    assert "PytestIsolatedWarning" not in all_output(result)


def test_an_early_template_is_not_waited_for_when_nothing_runs(
    pytester: pytest.Pytester,
) -> None:
    """Every test deselected: the template that started early is ended, the
    session does not wait for its collection."""
    pytester.makeconftest(
        """
        import time
        import pytest_isolated

        def pytest_configure(config):
            if pytest_isolated.in_child(config) == "":
                time.sleep(60)
        """
    )
    pytester.makepyfile(test_x="def test_a():\n    pass\n")
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        "--forked", "-k", "nothing", timeout=RUN_TIMEOUT
    )
    result.assert_outcomes(deselected=1)
    assert time.monotonic() - started < 9  # the end waits 10 s for what runs


# -- the next group's fork is made while a test runs -------------------------------

AHEAD_CONFTEST = """
import os

def pytest_runtest_logreport(report):
    # pytest's process, after the first test: what the next one must see.
    if report.when == "teardown" and report.nodeid.endswith("test_1"):
        if os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS") != "1":
            os.environ["SET_AFTER_TEST_1"] = "yes"
            os.chdir("sub")
"""


def test_a_group_sees_the_environment_of_its_turn(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    """The child of the group that comes next is forked while a test runs;
    if the environment or the working directory changes before its turn
    (here a hook of pytest's process, after the previous test), its first
    test sees them as in pytest's own process."""
    pytester.mkdir("sub")
    pytester.makeconftest(AHEAD_CONFTEST)
    pytester.makepyfile(
        test_x="""
        import os

        def test_1():
            assert "SET_AFTER_TEST_1" not in os.environ

        def test_2():
            assert os.environ.get("SET_AFTER_TEST_1") == "yes"
            assert os.path.basename(os.getcwd()) == "sub"
        """
    )
    for args in (["--no-isolation"], ["--forked"], ["--isolated"]):
        result = pytester.runpytest_subprocess(
            "-p", "no:randomly", *args, timeout=RUN_TIMEOUT
        )
        result.assert_outcomes(passed=2)


def test_waiting_for_its_turn_does_not_count_against_a_time_limit(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    """The next group's child waits while the test before it runs; its
    time limit counts from its own turn."""
    pytester.makepyfile(
        test_x="""
        import time
        import pytest

        def test_slow():
            time.sleep(3)

        @pytest.mark.isolated(timeout=1.5)
        def test_quick():
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "--isolated", timeout=RUN_TIMEOUT
    )
    result.assert_outcomes(passed=2)


def test_exitfirst_stops_before_a_group_forked_ahead(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    """Under ``-x`` a failure ends the session before the next group's
    test, whose child was made ahead: that test never runs."""
    ran = pytester.path / "ran"
    pytester.makepyfile(
        test_x=f"""
        def test_fails():
            assert False

        def test_next():
            open({str(ran)!r}, "w").close()
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "--isolated", "-x", timeout=RUN_TIMEOUT
    )
    result.assert_outcomes(failed=1)
    assert not ran.exists()


def test_a_fork_made_ahead_that_dies_with_its_template_is_made_anew(
    pytester: pytest.Pytester,
) -> None:
    """A test kills the template while the next group's fork waits for its
    turn: that fork dies before it began a test, so its group starts anew
    (spawned: the template is gone), and only the test that did it fails."""
    pytester.makepyfile(
        test_x="""
        import os, signal, time

        def test_kills_the_template():
            time.sleep(0.2)
            os.kill(os.getppid(), signal.SIGKILL)
            time.sleep(0.5)

        def test_next():
            pass

        def test_last():
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "--forked", "--isolated-usage", timeout=RUN_TIMEOUT
    )
    result.assert_outcomes(failed=1, passed=2, warnings=1)
    summary = summary_lines(result)
    assert len(summary) == 1, summary
    assert summary[0].startswith("FAILED test_x.py::test_kills_the_template - ")
    # The template, the first fork, and one spawned child for each test after.
    result.stdout.fnmatch_lines(["pytest-isolated: 4 subprocess(es) for 3 group(s), *"])


#: A root conftest that notes, in imports.log, each process that imports it
#: ("start PID PPID").  pytest's own process then waits (a bounded wait) for a
#: child of its own to begin the same import, and notes whether one did
#: ("end PID overlapped" or "end PID alone"); a child does not wait.
OVERLAP_CONFTEST = """
import os, time
from pathlib import Path

LOG = Path(__file__).parent / "imports.log"
WAIT = float(os.environ.get("IMPORT_WAIT", "30"))

def _notes():
    return [line.split() for line in LOG.read_text().splitlines()]

def _note(text):
    with LOG.open("a") as f:
        f.write(text + "\\n")

_note(f"start {os.getpid()} {os.getppid()}")
if not any(n[:2] == ["start", str(os.getppid())] for n in _notes()):
    deadline = time.monotonic() + WAIT
    def _child_began():
        return any(n[0] == "start" and n[2] == str(os.getpid()) for n in _notes())
    while not _child_began() and time.monotonic() < deadline:
        time.sleep(0.02)
    _note(f"end {os.getpid()} {'overlapped' if _child_began() else 'alone'}")
"""


def import_notes(path: Path) -> tuple[str, list[list[str]]]:
    """pytest's process's outcome (overlapped, alone) and the processes its
    children that imported the root conftest (start PID PPID); ("", []) if
    no process imported it."""
    log = path / "imports.log"
    if not log.exists():
        return "", []
    notes = [line.split() for line in log.read_text().splitlines()]
    (end,) = [n for n in notes if n[0] == "end"]
    children = [n for n in notes if n[0] == "start" and n[2] == end[1]]
    return end[2], children


@pytest.mark.parametrize(
    "args",
    [
        ["--forked"],
        ["--isolated", "--isolated-start=fork"],
        ["--forked", "-p", "randomly", "--randomly-seed=5"],
    ],
    ids=["forked", "isolated-fork", "randomly-seed-given"],
)
def test_the_template_imports_the_root_conftest_while_pytest_does(
    pytester: pytest.Pytester, args: list[str]
) -> None:
    """When every test forks, the template starts before pytest imports its
    root conftest: the template begins that import while pytest's process is
    still in it (which waits for that), and the same template serves every
    fork."""
    pytester.makeconftest(OVERLAP_CONFTEST)
    pytester.makepyfile(
        test_x="""
        import os, sys
        import pytest

        @pytest.mark.parametrize("n", [1, 2])
        def test_forked(n):
            with open("imports.log", "a") as f:
                f.write(f"test {os.getppid()}\\n")
            # The template is a child: nothing of the parent side in it.
            assert not [m for m in sys.modules if m.startswith("pytest_isolated.parent")]
        """
    )
    result = pytester.runpytest_subprocess(*args, timeout=RUN_TIMEOUT)
    result.assert_outcomes(passed=2)
    outcome, children = import_notes(pytester.path)
    assert outcome == "overlapped"
    (template,) = children  # started once, not again at the session's start
    log = (pytester.path / "imports.log").read_text()
    assert log.count(f"test {template[1]}\n") == 2
    assert "PytestIsolatedWarning" not in all_output(result)


@pytest.mark.parametrize(
    "args",
    [
        ["--forked", "--collect-only"],
        ["--forked", "--no-isolation"],
        ["--isolated", "--isolated-start=prestart"],
        ["--forked", "-p", "xdist", "-n", "1"],
        ["--forked", "-p", "randomly"],
    ],
    ids=["collect-only", "no-isolation", "prestart", "xdist", "randomly-seed-drawn"],
)
def test_no_template_starts_early_where_none_forks_every_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    """No child of pytest's process imports the root conftest while it does
    when the session forks no test from a template of its own, or when
    pytest-randomly draws the seed the template must be given at configure."""
    monkeypatch.setenv("IMPORT_WAIT", "3")
    pytester.makeconftest(OVERLAP_CONFTEST)
    pytester.makepyfile(test_x="def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess(*args, timeout=RUN_TIMEOUT)
    assert result.ret == 0, all_output(result)
    outcome, _ = import_notes(pytester.path)
    assert outcome == "alone"


@pytest.mark.parametrize(
    ("args", "ret"),
    [
        (["--no-such-option"], pytest.ExitCode.USAGE_ERROR),
        (["--version"], pytest.ExitCode.OK),
        (["--help"], pytest.ExitCode.OK),
    ],
    ids=["bad-option", "version", "help"],
)
def test_a_run_that_ends_before_its_session_leaves_no_template(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    ret: pytest.ExitCode,
) -> None:
    """pytest's own usage error, ``--version`` and ``--help`` with
    ``--forked``: no template process is left running, and no folder of
    ours in the temporary directory."""
    tmp = pytester.mkdir("tmp")
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("IMPORT_WAIT", "10")
    pytester.makeconftest(OVERLAP_CONFTEST)
    pytester.makepyfile(test_x="def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess("--forked", *args, timeout=RUN_TIMEOUT)
    assert result.ret == ret, all_output(result)
    assert "INTERNALERROR" not in all_output(result)
    _, children = import_notes(pytester.path)
    # A usage error comes after the conftests: the template had started.
    assert len(children) == (1 if ret == pytest.ExitCode.USAGE_ERROR else 0)
    assert not [child for child in children if alive(int(child[1]))]
    assert sorted(p.name for p in tmp.iterdir() if "isolated" in p.name) == []


def test_a_bad_setting_in_the_ini_file_is_a_usage_error_under_forked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings that cannot be resolved as the conftests load start no
    template; pytest_configure reports them as ever."""
    tmp = pytester.mkdir("tmp")
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setenv("IMPORT_WAIT", "3")
    pytester.makeini("[pytest]\nisolated_timeout = soon\n")
    pytester.makeconftest(OVERLAP_CONFTEST)
    pytester.makepyfile(test_x="def test_a():\n    pass\n")
    result = pytester.runpytest_subprocess("--forked", timeout=RUN_TIMEOUT)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: isolated_timeout = 'soon' in *"])
    assert "INTERNALERROR" not in all_output(result)
    assert import_notes(pytester.path) == ("alone", [])
    assert sorted(p.name for p in tmp.iterdir() if "isolated" in p.name) == []


def test_a_template_told_other_than_the_session_would_tell_it_starts_anew(
    pytester: pytest.Pytester,
) -> None:
    """A conftest adds an argument for every child: the template started as
    the conftests loaded was not given it, so the session ends that one and
    forks every test from a template that was."""
    pytester.makeconftest(
        OVERLAP_CONFTEST
        + """
def pytest_isolated_child_args(config):
    return ["-o", "console_output_style=classic"]
"""
    )
    pytester.makepyfile(
        test_x="""
        import os

        def test_forked(pytestconfig):
            assert pytestconfig.getini("console_output_style") == "classic"
            with open("imports.log", "a") as f:
                f.write(f"test {os.getppid()}\\n")
        """
    )
    result = pytester.runpytest_subprocess("--forked", timeout=RUN_TIMEOUT)
    result.assert_outcomes(passed=1)
    outcome, children = import_notes(pytester.path)
    assert outcome == "overlapped"
    early, template = children
    log = (pytester.path / "imports.log").read_text()
    assert f"test {template[1]}\n" in log
    assert not alive(int(early[1]))
    assert "PytestIsolatedWarning" not in all_output(result)
