"""What of the session happens once, and what each child hands back.

Each case runs the same files isolated and with ``--no-isolation`` and
compares what they leave: the files a conftest or plugin manages, counts, the
terminal's lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ARTIFACTS_CONFTEST = """
import json, os, shutil
import pytest

ART = os.path.join(os.path.dirname(__file__), "artifacts")

def pytest_sessionstart(session):
    # Empties what an earlier session left: the session's own set-up.
    shutil.rmtree(ART, ignore_errors=True)
    os.makedirs(ART)
    with open(os.path.join(ART, "starts"), "a") as f:
        f.write("start\\n")

def pytest_sessionfinish(session):
    names = sorted(n for n in os.listdir(ART) if n.endswith(".txt"))
    with open(os.path.join(ART, "index.json"), "a") as f:
        f.write(json.dumps(names) + "\\n")

def pytest_terminal_summary(terminalreporter):
    with open(os.path.join(ART, "summaries"), "a") as f:
        f.write("summary\\n")

@pytest.fixture
def artifact(request):
    def write(text):
        with open(os.path.join(ART, request.node.name + ".txt"), "w") as f:
            f.write(text)
    return write
"""

ARTIFACTS_TESTS = """
import pytest

def test_first(artifact):
    artifact("1")

@pytest.mark.isolated
def test_isolated(artifact):
    artifact("2")

@pytest.mark.isolated(group="g")
def test_grouped_one(artifact):
    artifact("3")

@pytest.mark.isolated(group="g")
def test_grouped_two(artifact):
    artifact("4")

def test_last(artifact):
    artifact("5")
"""


def _tree(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): path.read_text()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_conftest_session_hooks_run_once_in_pytests_process(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    pytester.makeconftest(ARTIFACTS_CONFTEST)
    pytester.makepyfile(test_artifacts=ARTIFACTS_TESTS)
    result = pytester.runpytest_subprocess("--no-isolation")
    result.assert_outcomes(passed=5)
    in_process = _tree(pytester.path / "artifacts")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=5)
    isolated = _tree(pytester.path / "artifacts")
    assert isolated == in_process
    # Not only equal: one start, one index of every file, one summary.
    assert isolated["starts"] == "start\n"
    assert json.loads(isolated["index.json"]) == [
        f"test_{name}.txt"
        for name in ("first", "grouped_one", "grouped_two", "isolated", "last")
    ]
    assert isolated["summaries"] == "summary\n"


PLUGIN_CONFTEST = """
import pytest
import pytest_isolated

def pytest_configure(config):
    config.stash[calls_key] = []

calls_key = pytest.StashKey()

def pytest_runtest_call(item):
    # Record per test, wherever the test runs.
    output = pytest_isolated.child_output(item.config)
    if output is not None:
        output.setdefault("calls", []).append(item.name)
    else:
        item.config.stash[calls_key].append(item.name)

def pytest_isolated_child_sessionfinish(session, exitstatus, output):
    output["group"] = pytest_isolated.in_child(session.config)

def pytest_isolated_child_output(config, group, output):
    assert output["group"] == group
    config.stash[calls_key].extend(output["calls"])

def pytest_terminal_summary(terminalreporter, config):
    calls = sorted(config.stash[calls_key])
    terminalreporter.write_line(f"calls: {len(calls)} {' '.join(calls)}")
"""

PLUGIN_TESTS = """
import pytest
import pytest_isolated

def test_in_process(pytestconfig):
    assert pytest_isolated.in_child(pytestconfig) is None

@pytest.mark.isolated
def test_alone(pytestconfig):
    assert pytest_isolated.in_child(pytestconfig) == "test_plugin.py::test_alone"

@pytest.mark.isolated(group="g")
def test_grouped(pytestconfig):
    assert pytest_isolated.in_child(pytestconfig) == "g"

@pytest.mark.isolated(group="g")
def test_grouped_too(pytestconfig):
    assert pytest_isolated.in_child(pytestconfig) == "g"
"""


def test_a_plugin_hands_the_parent_what_its_children_recorded(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    pytester.makeconftest(PLUGIN_CONFTEST)
    pytester.makepyfile(test_plugin=PLUGIN_TESTS)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        ["calls: 4 test_alone test_grouped test_grouped_too test_in_process"]
    )


def test_a_child_that_died_hands_over_nothing(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    pytester.makeconftest(
        """
        def pytest_isolated_child_output(config, group, output):
            print(f"\\n{group}: {output!r}")
        """
    )
    pytester.makepyfile(
        test_crash="""
        import os
        import pytest
        import pytest_isolated

        @pytest.mark.isolated(group="g")
        def test_crashes():
            os._exit(3)

        @pytest.mark.isolated(group="g")
        def test_after(pytestconfig):
            pytest_isolated.child_output(pytestconfig)["ran"] = "after"
        """
    )
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1, failed=1)
    # The crashed child's nothing, then the fresh child's output.
    result.stdout.fnmatch_lines(["g: None", "g: {'ran': 'after'}"])


SNAPSHOTS_BEFORE = """
import pytest

def test_plain(snapshot):
    assert {"a": 1} == snapshot

@pytest.mark.isolated
def test_isolated(snapshot):
    assert "one" == snapshot

@pytest.mark.isolated(group="g")
def test_kept(snapshot):
    assert [2] == snapshot

@pytest.mark.isolated(group="g")
def test_removed_later(snapshot):
    assert "gone" == snapshot
"""

#: One snapshot changed in a plain and an isolated test, one kept, one new,
#: one whose test is gone.
SNAPSHOTS_AFTER = """
import pytest

def test_plain(snapshot):
    assert {"a": 2} == snapshot

@pytest.mark.isolated
def test_isolated(snapshot):
    assert "one, changed" == snapshot

@pytest.mark.isolated(group="g")
def test_kept(snapshot):
    assert [2] == snapshot

@pytest.mark.isolated(group="g")
def test_new(snapshot):
    assert {"new": True} == snapshot

def test_plain_without_snapshot():
    pass
"""

XDIST = {"in one process": [], "under -n 2": ["-p", "xdist", "-n", "2"]}


def _snapshot_lines(result: pytest.RunResult) -> list[str]:
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if "snapshot report summary" in line)
    return [line for line in lines[start + 1 :] if not line.startswith("=")]


@pytest.mark.parametrize("xdist", list(XDIST), ids=["plain", "xdist"])
def test_syrupy_snapshot_update_keeps_what_one_process_keeps(
    pytester: pytest.Pytester, every_start_method: str, xdist: str
) -> None:
    args = ["-p", "syrupy", *XDIST[xdist]]
    pytester.makepyfile(test_snap=SNAPSHOTS_BEFORE)
    pytester.runpytest_subprocess(*args, "--no-isolation", "--snapshot-update")
    ambr = pytester.path / "__snapshots__" / "test_snap.ambr"
    before = ambr.read_text()
    pytester.makepyfile(test_snap=SNAPSHOTS_AFTER)
    outcomes = {}
    for mode in ("--no-isolation", "--isolated"):
        ambr.write_text(before)
        result = pytester.runpytest_subprocess(*args, mode, "--snapshot-update")
        result.assert_outcomes(passed=5)
        outcomes[mode] = (_snapshot_lines(result), _tree(ambr.parent))
    assert outcomes["--isolated"] == outcomes["--no-isolation"]
    lines, files = outcomes["--isolated"]
    assert lines[0] == (
        "1 snapshot passed. 1 snapshot generated. 2 snapshots updated. "
        "1 unused snapshot deleted."
    )
    assert list(files) == ["test_snap.ambr"]  # no lock file left
    assert "test_removed_later" not in files["test_snap.ambr"]
    # What the update left passes, isolated or not.
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["4 snapshots passed."])
    result = pytester.runpytest_subprocess(*args, "--no-isolation")
    result.assert_outcomes(passed=5)


def test_syrupy_deletes_nothing_when_a_child_died(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    pytester.makepyfile(test_snap=SNAPSHOTS_BEFORE)
    pytester.runpytest_subprocess("-p", "syrupy", "--no-isolation", "--snapshot-update")
    ambr = pytester.path / "__snapshots__" / "test_snap.ambr"
    before = ambr.read_text()
    pytester.makepyfile(
        test_snap=SNAPSHOTS_BEFORE.replace(
            'assert "one" == snapshot',
            'assert "one" == snapshot\n    import os; os._exit(1)',
        )
    )
    result = pytester.runpytest_subprocess("-p", "syrupy", "--snapshot-update")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*SessionDataWarning: pytest-isolated: syrupy: the subprocess of group "
            "'test_snap.py::test_isolated' ended before it reported its snapshots "
            "(it crashed, timed out or was stopped); none is reported or deleted "
            "as unused in this session"
        ]
    )
    assert ambr.read_text() == before


BENCHMARKS = """
import pytest

def test_plain(benchmark):
    benchmark(sum, range(10))

@pytest.mark.isolated
def test_isolated(benchmark):
    benchmark.extra_info["where"] = "child"
    benchmark(sum, range(20))

@pytest.mark.isolated(group="g")
@pytest.mark.benchmark(group="grouped")
def test_grouped(benchmark):
    benchmark(sum, range(30))

def test_last(benchmark):
    benchmark(sum, range(40))
"""

BENCHMARK_ARGS = [
    "-p",
    "pytest_benchmark.plugin",
    "--benchmark-json=out.json",
    "--benchmark-autosave",
    "--benchmark-max-time=0.001",
    "--benchmark-min-rounds=3",
    "--benchmark-columns=min",
    "--benchmark-sort=name",
]


def _benchmarks(path: Path) -> list[tuple[str, str | None, object, list[str]]]:
    data = json.loads(path.read_text())
    return [
        (b["fullname"], b["group"], b["extra_info"], sorted(b["stats"]))
        for b in data["benchmarks"]
    ]


def _table(result: pytest.RunResult) -> list[str]:
    """The table's rows: the benchmarks' names, in their groups."""
    return [
        line.split()[0]
        for line in result.stdout.lines
        if line.startswith(("test_", "-- benchmark")) and ".py" not in line
    ]


@pytest.mark.parametrize("xdist", list(XDIST), ids=["plain", "xdist"])
def test_pytest_benchmark_saves_and_shows_every_benchmark_once(
    pytester: pytest.Pytester, every_start_method: str, xdist: str
) -> None:
    pytester.makepyfile(test_bench=BENCHMARKS)
    runs = {}
    for mode in ("--no-isolation", "--isolated"):
        for path in pytester.path.glob(".benchmarks/**/*.json"):
            path.unlink()
        (pytester.path / "out.json").unlink(missing_ok=True)
        result = pytester.runpytest_subprocess(*BENCHMARK_ARGS, *XDIST[xdist], mode)
        result.assert_outcomes(passed=4)
        out = pytester.path / "out.json"
        saved = sorted((pytester.path / ".benchmarks").rglob("*.json"))
        runs[mode] = (
            _benchmarks(out) if out.exists() else None,
            [_benchmarks(path) for path in saved],
            _table(result),
        )
    assert runs["--isolated"] == runs["--no-isolation"]
    if xdist == "in one process":
        in_json, autosaved, table = runs["--isolated"]
        assert [name for name, *_ in in_json or []] == [
            "test_bench.py::test_plain",
            "test_bench.py::test_isolated",
            "test_bench.py::test_grouped",
            "test_bench.py::test_last",
        ]
        # One saved run, of the same benchmarks (without their raw data).
        assert [[name for name, *_ in run] for run in autosaved] == [
            [name for name, *_ in in_json or []]
        ]
        assert sorted(n for n in table if n.startswith("test_")) == [
            "test_grouped",
            "test_isolated",
            "test_last",
            "test_plain",
        ]
    # Under pytest-xdist, pytest-benchmark turns itself off in both runs.


ALLURE_TESTS = """
import pytest

@pytest.fixture(scope="module")
def shared():
    return 1

def test_plain(shared):
    pass

@pytest.mark.isolated
def test_isolated(shared):
    pass

@pytest.mark.isolated(group="g")
def test_fails():
    assert 0

@pytest.mark.isolated(group="g")
def test_skips():
    pytest.skip("no")
"""


@pytest.mark.parametrize("xdist", list(XDIST), ids=["plain", "xdist"])
def test_allure_writes_one_result_per_test(
    pytester: pytest.Pytester, every_start_method: str, xdist: str
) -> None:
    pytester.makepyfile(test_allure=ALLURE_TESTS)
    results = {}
    for mode in ("--no-isolation", "--isolated"):
        result = pytester.runpytest_subprocess(
            "-p",
            "allure_pytest.plugin",
            "--alluredir=results",
            "--clean-alluredir",
            *XDIST[xdist],
            mode,
        )
        result.assert_outcomes(passed=2, failed=1, skipped=1)
        found = [
            json.loads(path.read_text())
            for path in (pytester.path / "results").glob("*-result.json")
        ]
        results[mode] = sorted((r["fullName"], r.get("status")) for r in found)
    assert results["--isolated"] == results["--no-isolation"]
    assert results["--isolated"] == [
        ("test_allure#test_fails", "failed"),
        ("test_allure#test_isolated", "passed"),
        ("test_allure#test_plain", "passed"),
        ("test_allure#test_skips", "skipped"),
    ]


def test_syrupy_deletes_nothing_of_a_group_stopped_by_x(
    pytester: pytest.Pytester, every_start_method: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        test_stop="""
        import os
        import time
        import pytest

        FAIL = os.environ.get("FAIL") == "1"

        @pytest.mark.isolated(group="g")
        def test_reported(snapshot):
            assert "a" == snapshot

        def test_fails():
            assert not FAIL

        @pytest.mark.isolated(group="g")
        def test_still_running(snapshot):
            time.sleep(30 if FAIL else 0)
            assert "b" == snapshot
        """
    )
    pytester.runpytest_subprocess("-p", "syrupy", "--snapshot-update")
    ambr = pytester.path / "__snapshots__" / "test_stop.ambr"
    before = ambr.read_text()
    assert "test_reported" in before
    # -x stops the session while the group's subprocess runs its second test:
    # what its first used is unknown, so nothing is deleted.
    monkeypatch.setenv("FAIL", "1")
    result = pytester.runpytest_subprocess("-p", "syrupy", "-x", "--snapshot-update")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*syrupy: the subprocess of group 'g' ended before*"])
    assert ambr.read_text() == before


def test_a_crash_that_used_no_plugin_s_fixture_says_nothing_of_it(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    """With syrupy and pytest-benchmark loaded, a crashed test that used
    neither brings no warning of theirs: the output reads as without them."""
    pytester.makepyfile(
        test_crash="""
        import os
        import pytest

        @pytest.mark.isolated
        def test_crashes():
            os._exit(3)

        def test_plain():
            pass
        """
    )
    args = ["-p", "syrupy", "-p", "pytest_benchmark.plugin"]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.no_fnmatch_line("*SessionDataWarning*")
    result.stdout.no_fnmatch_line("*Unused snapshot detection is disabled*")
