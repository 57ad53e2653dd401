"""Groups: which tests share a subprocess, in which order they run and report,
and how fixtures behave on both sides of the process boundary."""

from __future__ import annotations

import collections
import itertools

import pytest

#: A conftest that logs, for every test, its node id and the process it ran in
#: (``events.txt`` in the rootdir), and the parent's own pid under ``PARENT``.
RECORDING_CONFTEST = """
import os
import pytest

def _log(config, line):
    with open(os.path.join(str(config.rootpath), "events.txt"), "a") as f:
        f.write(line + "\\n")

def pytest_configure(config):
    if "PYTEST_RUNNING_IN_SUBPROCESS" not in os.environ:
        _log(config, "PARENT|%d" % os.getpid())

@pytest.fixture(autouse=True)
def _record_process(request):
    _log(request.config, "%s|%d" % (request.node.nodeid, os.getpid()))
"""


def read_events(pytester: pytest.Pytester) -> tuple[int, dict[str, int], list[str]]:
    """(parent pid, node id -> pid, node ids in the order they ran)."""
    lines = (pytester.path / "events.txt").read_text().splitlines()
    pairs = [line.rsplit("|", 1) for line in lines]
    parents = [int(pid) for name, pid in pairs if name == "PARENT"]
    assert len(parents) == 1, lines  # children never run the parent's configure
    order = [name for name, _ in pairs if name != "PARENT"]
    assert len(order) == len(set(order)), lines  # every test ran exactly once
    return parents[0], {name: int(pid) for name, pid in pairs}, order


def test_marker_forms_classes_modules_and_the_closest_marker(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(RECORDING_CONFTEST)
    pytester.makepyfile(
        shared_state="count = 0",
        test_a="""
        import os
        import pytest
        import shared_state

        @pytest.mark.isolated(group="shared")
        def test_a_grouped():
            assert os.environ["PYTEST_RUNNING_IN_SUBPROCESS"] == "1"
            shared_state.count += 1

        def test_a_in_process():
            assert "PYTEST_RUNNING_IN_SUBPROCESS" not in os.environ

        @pytest.mark.isolated
        def test_a_alone():
            assert os.environ["PYTEST_RUNNING_IN_SUBPROCESS"] == "1"

        @pytest.mark.isolated()
        def test_a_alone_too():
            pass

        @pytest.mark.isolated
        class TestClass:
            def test_one(self):
                pass

            def test_two(self):
                pass

            @pytest.mark.isolated
            def test_closest_marker_wins(self):
                pass

            @pytest.mark.isolated(group="shared")
            def test_joins_the_named_group(self):
                shared_state.count += 1
        """,
        test_b="""
        import pytest
        import shared_state

        def test_b_in_process():
            assert shared_state.count == 0  # the group never ran in this process

        @pytest.mark.isolated("shared")
        def test_b_grouped_positionally():
            # Same process as the group's earlier tests, which ran before it.
            assert shared_state.count == 2
        """,
        test_c="""
        import pytest

        pytestmark = pytest.mark.isolated

        def test_c_one():
            pass

        class TestInside:
            def test_c_two(self):
                pass

        @pytest.mark.isolated(timeout=60)
        def test_c_own():
            pass
        """,
    )
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=13)
    # Reports come out in the run order, whichever subprocess ran the test:
    # the named group spans modules with in-process tests between its members.
    result.stdout.fnmatch_lines(
        [
            "test_a.py::test_a_grouped PASSED*",
            "test_a.py::test_a_in_process PASSED*",
            "test_a.py::test_a_alone PASSED*",
            "test_a.py::test_a_alone_too PASSED*",
            "test_a.py::TestClass::test_one PASSED*",
            "test_a.py::TestClass::test_two PASSED*",
            "test_a.py::TestClass::test_closest_marker_wins PASSED*",
            "test_a.py::TestClass::test_joins_the_named_group PASSED*",
            "test_b.py::test_b_in_process PASSED*",
            "test_b.py::test_b_grouped_positionally PASSED*",
            "test_c.py::test_c_one PASSED*",
            "test_c.py::TestInside::test_c_two PASSED*",
            "test_c.py::test_c_own PASSED*",
        ]
    )
    parent, pid, order = read_events(pytester)
    shared = {
        pid["test_a.py::test_a_grouped"],
        pid["test_a.py::TestClass::test_joins_the_named_group"],
        pid["test_b.py::test_b_grouped_positionally"],
    }
    assert len(shared) == 1
    klass = {
        pid["test_a.py::TestClass::test_one"],
        pid["test_a.py::TestClass::test_two"],
    }
    assert len(klass) == 1
    module = {pid["test_c.py::test_c_one"], pid["test_c.py::TestInside::test_c_two"]}
    assert len(module) == 1
    assert pid["test_a.py::test_a_in_process"] == parent
    assert pid["test_b.py::test_b_in_process"] == parent
    subprocesses = [
        *shared,
        *klass,
        *module,
        pid["test_a.py::test_a_alone"],
        pid["test_a.py::test_a_alone_too"],
        pid["test_a.py::TestClass::test_closest_marker_wins"],
        pid["test_c.py::test_c_own"],
    ]
    # Seven subprocesses, none of them the parent.
    assert len(set(subprocesses)) == 7
    assert parent not in subprocesses
    # Inside the named group, its tests ran in the session's order.
    in_group = [name for name in order if pid[name] == pid["test_a.py::test_a_grouped"]]
    assert in_group == [
        "test_a.py::test_a_grouped",
        "test_a.py::TestClass::test_joins_the_named_group",
        "test_b.py::test_b_grouped_positionally",
    ]


def test_wider_fixtures_are_set_up_once_per_group(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import os
        import pytest

        def _log(line):
            where = "child" if "PYTEST_RUNNING_IN_SUBPROCESS" in os.environ else "parent"
            with open("fixtures.txt", "a") as f:
                f.write("%s %d %s\\n" % (where, os.getpid(), line))

        @pytest.fixture(scope="session")
        def session_resource():
            _log("setup session")
            yield
            _log("teardown session")

        @pytest.fixture(scope="module")
        def module_resource(request):
            _log("setup module " + request.module.__name__)
            yield
            _log("teardown module " + request.module.__name__)

        @pytest.fixture(scope="class")
        def class_resource(request):
            _log("setup class " + request.cls.__name__)
            yield
            _log("teardown class " + request.cls.__name__)
        """
    )
    pytester.makepyfile(
        test_one="""
        import pytest

        pytestmark = pytest.mark.isolated

        def test_first(session_resource, module_resource):
            pass

        def test_second(session_resource, module_resource):
            pass

        class TestGrouped:
            def test_third(self, class_resource, module_resource):
                pass

            def test_fourth(self, class_resource, session_resource):
                pass
        """,
        test_two="""
        import pytest

        @pytest.mark.isolated(group="two")
        def test_fifth(session_resource, module_resource):
            pass

        @pytest.mark.isolated(group="two")
        def test_sixth(session_resource, module_resource):
            pass
        """,
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=6)
    lines = (pytester.path / "fixtures.txt").read_text().splitlines()
    by_pid: dict[str, list[str]] = collections.defaultdict(list)
    for line in lines:
        where, pid, what = line.split(" ", 2)
        assert where == "child", line
        by_pid[pid].append(what)
    assert sorted(by_pid.values()) == sorted(
        [
            [
                "setup session",
                "setup module test_one",
                "setup class TestGrouped",
                "teardown class TestGrouped",
                "teardown module test_one",
                "teardown session",
            ],
            [
                "setup session",
                "setup module test_two",
                "teardown module test_two",
                "teardown session",
            ],
        ]
    )


def test_parent_fixture_stack_survives_alternating_tests(
    pytester: pytest.Pytester,
) -> None:
    """Isolated and in-process tests alternate within and across modules: the
    parent's module and session fixtures are set up and torn down as often as
    without the plugin, and no test fails with "previous item was not torn
    down properly"."""
    pytester.makeconftest(
        """
        import os
        import pytest

        def _log(line):
            if "PYTEST_RUNNING_IN_SUBPROCESS" not in os.environ:
                with open("parent.txt", "a") as f:
                    f.write(line + "\\n")

        @pytest.fixture(scope="session")
        def session_resource():
            _log("setup session")
            yield
            _log("teardown session")

        @pytest.fixture(scope="module")
        def module_resource(request):
            _log("setup " + request.module.__name__)
            yield
            _log("teardown " + request.module.__name__)

        @pytest.fixture
        def function_resource(request):
            _log("setup " + request.node.name)
            yield
            _log("teardown " + request.node.name)
        """
    )
    body = """
        import pytest

        def test_in_process_1(session_resource, module_resource, function_resource):
            pass

        @pytest.mark.isolated
        def test_isolated_1(session_resource, module_resource):
            pass

        def test_in_process_2(module_resource, function_resource):
            pass

        @pytest.mark.isolated
        def test_isolated_2(module_resource):
            pass

        @pytest.mark.isolated
        def test_isolated_3():
            pass

        class TestClass:
            def test_in_class(self, module_resource, function_resource):
                pass

            @pytest.mark.isolated
            def test_isolated_in_class(self, module_resource):
                pass
        """
    pytester.makepyfile(test_m1=body, test_m2=body)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=14)
    result.stdout.no_fnmatch_line("*not torn down properly*")
    result.stdout.no_fnmatch_line("*INTERNALERROR*")
    expected = []
    for module in ("test_m1", "test_m2"):
        expected += [
            *(["setup session"] if module == "test_m1" else []),
            f"setup {module}",
            "setup test_in_process_1",
            "teardown test_in_process_1",
            "setup test_in_process_2",
            "teardown test_in_process_2",
            "setup test_in_class",
            "teardown test_in_class",
            f"teardown {module}",
        ]
    expected.append("teardown session")
    assert (pytester.path / "parent.txt").read_text().splitlines() == expected


def test_named_group_reports_in_run_order_with_failures(
    pytester: pytest.Pytester,
) -> None:
    """A named group spanning two modules, with in-process tests between its
    members, still reports in the run order; each outcome lands on its test."""
    pytester.makepyfile(
        test_first="""
        import pytest

        @pytest.mark.isolated(group="g")
        def test_g1():
            pass

        def test_between():
            pass

        @pytest.mark.isolated(group="g")
        def test_g2():
            assert 1 == 2
        """,
        test_second="""
        import pytest

        def test_before():
            pass

        @pytest.mark.isolated(group="g")
        def test_g3():
            pytest.skip("skipped in the group")
        """,
    )
    result = pytester.runpytest_subprocess("-rA")
    result.assert_outcomes(passed=3, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["test_first.py ..F*", "test_second.py .s*"])
    result.stdout.fnmatch_lines(
        [
            "PASSED test_first.py::test_g1",
            "PASSED test_first.py::test_between",
            "PASSED test_second.py::test_before",
            "SKIPPED [[]1[]] test_second.py:*: skipped in the group",
            "FAILED test_first.py::test_g2 - assert 1 == 2",
        ]
    )


def test_group_finished_while_another_ran_is_not_run_again(
    pytester: pytest.Pytester,
) -> None:
    """The group's subprocess reports all its tests while the parent waits
    for another subprocess: each test still runs once, in one subprocess."""
    pytester.makeconftest(RECORDING_CONFTEST)
    pytester.makepyfile(
        test_once="""
        import pytest

        @pytest.mark.isolated(group="g")
        def test_g1():
            pass

        @pytest.mark.isolated
        def test_alone():
            pass

        @pytest.mark.isolated(group="g")
        def test_g2():
            pass

        @pytest.mark.isolated(group="g")
        def test_g3():
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=4)
    # read_events() fails if any test ran twice.
    _, pid, order = read_events(pytester)
    assert sorted(order) == [
        f"test_once.py::test_{name}" for name in ("alone", "g1", "g2", "g3")
    ]
    group = {pid[f"test_once.py::test_g{n}"] for n in (1, 2, 3)}
    assert len(group) == 1


#: A group (``db``) whose two tests have a test of pytest's own process
#: between them; each test writes when it starts and ends to ``times.txt``.
TURNS = """
import os
import time
import pytest

def mark(name, what):
    with open(os.path.join(os.path.dirname(__file__), "times.txt"), "a") as f:
        f.write("%s %s %.6f\\n" % (name, what, time.time()))

@pytest.mark.isolated(group="db")
def test_1():
    mark("test_1", "start")
    time.sleep(0.2)
    mark("test_1", "end")

def test_2():
    mark("test_2", "start")
    time.sleep(0.2)
    mark("test_2", "end")
    assert not os.environ.get("FAIL_TEST_2")

@pytest.mark.isolated(group="db")
def test_3():
    mark("test_3", "start")
    time.sleep(0.2)
    mark("test_3", "end")
"""


def read_times(pytester: pytest.Pytester) -> list[tuple[str, float, float]]:
    """(test, start, end) of each test that ran, by start."""
    starts: dict[str, float] = {}
    spans = []
    for line in (pytester.path / "times.txt").read_text().splitlines():
        name, what, at = line.split()
        if what == "start":
            starts[name] = float(at)
        else:
            spans.append((name, starts.pop(name), float(at)))
    assert not starts, starts  # every test that started ended
    return sorted(spans, key=lambda span: span[1])


@pytest.mark.parametrize("xdist", [False, True], ids=["alone", "xdist"])
def test_one_test_at_a_time_in_the_run_order(
    pytester: pytest.Pytester, xdist: bool
) -> None:
    """A group's subprocess runs each test when its turn comes: never beside
    the in-process test between two of its tests (nor, in a pytest-xdist
    worker, beside the worker's other tests)."""
    pytester.makepyfile(test_turns=TURNS)
    args = ["-p", "xdist", "-n", "2", "--dist", "loadfile"] if xdist else []
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=3)
    spans = read_times(pytester)
    assert [name for name, _, _ in spans] == ["test_1", "test_2", "test_3"]
    for (_, _, end), (_, start, _) in itertools.pairwise(spans):
        assert end <= start, spans


def test_x_stops_before_the_groups_later_test_runs(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-x after a failing in-process test: the group's later test has not
    run, so nothing it would do (files, rows) was done."""
    monkeypatch.setenv("FAIL_TEST_2", "1")
    pytester.makepyfile(test_turns=TURNS)
    result = pytester.runpytest_subprocess("-x")
    result.assert_outcomes(passed=1, failed=1)
    assert [name for name, _, _ in read_times(pytester)] == ["test_1", "test_2"]


@pytest.mark.slow
def test_waiting_for_a_turn_does_not_count_against_the_time_limit(
    pytester: pytest.Pytester,
) -> None:
    """The group's limit counts the time its subprocess runs, not the time
    it waits while pytest's process runs the tests between."""
    pytester.makepyfile(
        test_limit="""
        import time
        import pytest

        @pytest.mark.isolated(group="g", timeout=1.5)
        def test_1():
            pass

        def test_between():
            time.sleep(2.5)

        @pytest.mark.isolated(group="g", timeout=1.5)
        def test_2():
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=3)


def test_isolated_parallel_lets_groups_run_ahead(pytester: pytest.Pytester) -> None:
    """With --isolated-parallel the group's subprocess runs on, beside the
    in-process test between its tests, as documented."""
    pytester.makepyfile(
        test_ahead="""
        import os
        import time
        import pytest

        HERE = os.path.dirname(__file__)

        @pytest.mark.isolated(group="g")
        def test_1():
            pass

        def test_between():
            deadline = time.monotonic() + 30
            while not os.path.exists(os.path.join(HERE, "ran-ahead")):
                assert time.monotonic() < deadline, "the group did not run ahead"
                time.sleep(0.01)

        @pytest.mark.isolated(group="g")
        def test_2():
            open(os.path.join(HERE, "ran-ahead"), "w").close()
        """
    )
    result = pytester.runpytest_subprocess("--isolated-parallel=2")
    result.assert_outcomes(passed=3)


# Every behaviour here holds for each start method.
pytestmark = pytest.mark.usefixtures("every_start_method")


STATIC_SKIPS = """
import os
import pytest

pytestmark = pytest.mark.isolated

@pytest.mark.skip(reason="never here")
def test_skip():
    pass

@pytest.mark.skipif(True, reason="decided at import")
def test_skipif():
    pass

@pytest.mark.xfail(run=False, reason="not run")
def test_xfail_not_run():
    pass

@pytest.mark.skipif(False, reason="not taken")
def test_runs():
    assert os.environ["PYTEST_RUNNING_IN_SUBPROCESS"] == "1"

@pytest.mark.skipif(
    "os.environ.get('PYTEST_RUNNING_IN_SUBPROCESS') == '1'", reason="child only"
)
def test_string_condition_is_decided_where_the_test_runs():
    pass
"""


def test_a_statically_skipped_test_needs_no_subprocess(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    """skip, skipif(True) and xfail(run=False) decide in pytest's process that
    the test will not run: it is reported there, as pytest reports it, and
    costs no subprocess.  A string condition is evaluated in the child."""
    pytester.makepyfile(test_s=STATIC_SKIPS)
    args = ["-rsx", "--isolated-usage", "-p", "no:cacheprovider"]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1, skipped=3, xfailed=1)
    result.stdout.fnmatch_lines(
        [
            # One group (the module) for the two tests that go to a child.
            "pytest-isolated: 1 subprocess(es) for 1 group(s), *",
            "SKIPPED [1] test_s.py:6: never here",
            "SKIPPED [1] test_s.py:10: decided at import",
            "SKIPPED ?1? test_s.py:*: child only",
            "XFAIL*test_s.py::test_xfail_not_run*not run",
        ]
    )
    in_process = pytester.runpytest_subprocess("--no-isolation", *args)
    in_process.assert_outcomes(passed=1, failed=1, skipped=2, xfailed=1)
    summary = [
        line for line in result.outlines if line.startswith(("SKIPPED", "XFAIL"))
    ]
    same = [
        line for line in in_process.outlines if line.startswith(("SKIPPED", "XFAIL"))
    ]
    # The statically skipped ones read as pytest's own.
    assert [summary[0], summary[1], summary[3]] == [same[0], same[1], same[2]]
