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
