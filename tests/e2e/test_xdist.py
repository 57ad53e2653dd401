"""pytest-xdist: isolation inside the workers, and one subprocess per group."""

from __future__ import annotations

import json

import pytest

DIST_MODES = ["load", "loadscope", "loadfile", "loadgroup", "worksteal"]

GROUPED = {
    "test_one": """
        import json, os
        import pytest

        def record(name):
            with open(os.path.join(os.path.dirname(__file__), "log.jsonl"), "a") as f:
                f.write(json.dumps([name, os.getpid(), os.getppid()]) + "\\n")

        @pytest.mark.isolated(group="g")
        def test_g1():
            record("g1")

        @pytest.mark.isolated(group="g")
        @pytest.mark.xdist_group("x")
        def test_g2():
            record("g2")

        @pytest.mark.xdist_group("x")
        def test_plain1():
            record("plain1")

        class TestC:
            @pytest.mark.isolated(group="g")
            def test_g3(self):
                record("g3")

            def test_plain2(self):
                record("plain2")

        @pytest.mark.isolated
        def test_alone():
            record("alone")
        """,
    "test_two": """
        import pytest
        from test_one import record

        @pytest.mark.isolated(group="g")
        def test_g4():
            record("g4")

        def test_plain3():
            record("plain3")

        def test_plain4():
            record("plain4")
        """,
}


@pytest.mark.parametrize(
    ("dist", "parallel"),
    [
        *((dist, "1") for dist in DIST_MODES),
        # Groups started ahead of their turn still run once, on one worker.
        ("loadscope", "3"),
        ("loadgroup", "3"),
    ],
)
def test_a_group_runs_in_one_subprocess_whatever_the_dist_mode(
    pytester: pytest.Pytester, dist: str, parallel: str
) -> None:
    pytester.makepyfile(**GROUPED)
    result = pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--dist", dist, f"--isolated-parallel={parallel}"
    )
    result.assert_outcomes(passed=9)
    lines = (pytester.path / "log.jsonl").read_text().splitlines()
    runs = [json.loads(line) for line in lines]
    names = sorted(name for name, _, _ in runs)
    # Every test ran once: no worker started a second copy of the group.
    assert names == sorted(
        ["g1", "g2", "g3", "g4", "alone", "plain1", "plain2", "plain3", "plain4"]
    )
    pid = {name: (p, parent) for name, p, parent in runs}
    assert pid["g1"] == pid["g2"] == pid["g3"] == pid["g4"]
    assert pid["alone"][0] != pid["g1"][0]
    # The group's subprocess is a child of a worker, not a worker.
    workers = {pid[f"plain{n}"][0] for n in range(1, 5)}
    assert pid["g1"][0] not in workers


def test_without_multi_test_groups_the_dist_mode_is_unchanged(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_x="""
        import pytest

        @pytest.mark.isolated
        def test_a():
            pass

        def test_b():
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--dist", "worksteal", "-v"
    )
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["scheduling tests via GroupAwareScheduling"])


@pytest.mark.skipif(
    not hasattr(__import__("os"), "killpg"), reason="POSIX signals only"
)
def test_workers_contain_crashes_and_enforce_timeouts(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_x="""
        import ctypes, os, time
        import pytest

        @pytest.mark.isolated
        def test_segfault():
            ctypes.string_at(0)

        @pytest.mark.isolated(timeout=1)
        def test_hang():
            time.sleep(60)

        @pytest.mark.isolated
        def test_in_the_child(request, tmp_path):
            assert os.environ["PYTEST_RUNNING_IN_SUBPROCESS"] == "1"
            assert os.environ["PYTEST_XDIST_WORKER"].startswith("gw")
            # The worker's own base temp, as xdist gives each worker.
            assert "popen-gw" in str(tmp_path)
            # The child runs its tests itself; it starts no workers.
            assert request.config.getoption("dist") == "no"
            assert not request.config.pluginmanager.has_plugin("dsession")

        def test_in_the_worker():
            assert "PYTEST_RUNNING_IN_SUBPROCESS" not in os.environ
            assert os.environ["PYTEST_XDIST_WORKER"].startswith("gw")
        """
    )
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "auto", "-rA")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*= isolated subprocesses that crashed or timed out =*",
            "*::test_segfault: CRASHED with signal 11 (SIGSEGV)",
            "*::test_hang: TIMED OUT after 1s",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "FAILED *::test_segfault - CRASHED with signal 11 (SIGSEGV)",
            "FAILED *::test_hang - TIMED OUT after 1s",
        ],
        consecutive=False,
    )
    # No worker died: xdist would say so and restart it.
    result.stdout.no_fnmatch_line("*worker*crashed*")
    result.stdout.no_fnmatch_line("*replacing crashed worker*")


def test_isolated_parallel_looks_ahead_over_the_tests_a_worker_was_handed(
    pytester: pytest.Pytester,
) -> None:
    # Three one-test groups in one file: --dist loadfile hands the worker all
    # three at once, and the worker starts them side by side.
    pytester.makepyfile(
        test_sleepy="""
        import json, os, time
        import pytest

        def sleep_and_record(name):
            start = time.time()
            time.sleep(3)
            path = os.path.join(os.path.dirname(__file__), name + ".json")
            with open(path, "w") as f:
                json.dump([start, time.time()], f)

        @pytest.mark.isolated
        def test_a():
            sleep_and_record("a")

        @pytest.mark.isolated
        def test_b():
            sleep_and_record("b")

        @pytest.mark.isolated
        def test_c():
            sleep_and_record("c")
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "1", "--dist", "loadfile", "--isolated-parallel=3", "-v"
    )
    result.assert_outcomes(passed=3)
    # Reported in the worker's order, as without look-ahead.
    result.stdout.fnmatch_lines(
        ["*PASSED test_sleepy.py::test_a*", "*PASSED *::test_b*", "*PASSED *::test_c*"]
    )
    spans = [json.loads((pytester.path / f"{n}.json").read_text()) for n in "abc"]
    # All three slept at the same time: each started before any had ended.
    assert max(start for start, _ in spans) < min(end for _, end in spans)


# Every behaviour here holds for each start method.
pytestmark = pytest.mark.usefixtures("every_start_method")
