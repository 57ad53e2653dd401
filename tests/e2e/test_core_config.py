"""Configuration: the time limit's precedence, --isolated, --no-isolation, and
clear usage errors for every bad input."""

from __future__ import annotations

import pytest

from pytest_isolated import plugin
from pytest_isolated.settings import Limit

#: A test that outlives any limit these tests set (it is killed long before).
SLEEPER = """
import time
import pytest

{marker}
def test_sleeps():
    time.sleep(30)
"""


def test_marker_beats_command_line_beats_ini(pytester: pytest.Pytester) -> None:
    # Limits of a few seconds: a subprocess starts well within them even on a
    # loaded machine, so the limit ends the tests, not their start-up.
    (pytester.path / "pytest.ini").write_text("[pytest]\nisolated_timeout = 100\n")
    pytester.makepyfile(
        test_limits="""
        import time
        import pytest

        @pytest.mark.isolated(group="slowpoke", timeout=3.5)
        def test_marker_limit():
            time.sleep(30)

        @pytest.mark.isolated
        def test_command_line_limit():
            time.sleep(30)

        @pytest.mark.isolated(timeout="0")
        def test_marker_lifts_the_limit():
            time.sleep(3.2)
        """
    )
    result = pytester.runpytest_subprocess("--isolated-timeout=3", "-rA")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*The time limit of group 'slowpoke' is 3.5s, from "
            "@pytest.mark.isolated(group='slowpoke', timeout=3.5) "
            "on test_limits.py::test_marker_limit, *",
            "*The time limit of group 'test_limits.py::test_command_line_limit' "
            "is 3s, from --isolated-timeout=3, *",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "PASSED test_limits.py::test_marker_lifts_the_limit",
            "FAILED test_limits.py::test_marker_limit - TIMED OUT after 3.5s *",
            "FAILED test_limits.py::test_command_line_limit - TIMED OUT after 3s",
        ]
    )


@pytest.mark.parametrize(
    ("ini_name", "ini_text", "shown"),
    [
        ("pytest.ini", "[pytest]\nisolated_timeout = 3\n", "'3'"),
        (
            "pyproject.toml",
            '[tool.pytest.ini_options]\nisolated_timeout = "3"\n',
            "'3'",
        ),
        ("pyproject.toml", "[tool.pytest.ini_options]\nisolated_timeout = 3\n", "*"),
    ],
    ids=["pytest.ini", "pyproject-string", "pyproject-number"],
)
def test_ini_limit(
    pytester: pytest.Pytester, ini_name: str, ini_text: str, shown: str
) -> None:
    # 3 s: long enough for the subprocess to start even on a loaded machine,
    # so that the limit ends the test and not its start-up.
    (pytester.path / ini_name).write_text(ini_text)
    pytester.makepyfile(test_ini=SLEEPER.format(marker="@pytest.mark.isolated"))
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"*is 3s, from isolated_timeout = {shown} in *{ini_name}, *",
            "FAILED test_ini.py::test_sleeps - TIMED OUT after 3s",
        ]
    )


def test_default_limit_is_300_seconds(pytester: pytest.Pytester) -> None:
    """Waiting for the default is out of the question; the resolved setting,
    with its source, is what the timeout message would print."""
    config = pytester.parseconfigure()
    resolved = config.stash[plugin.settings_key]
    assert resolved.timeout == Limit(300.0, "the default of 300s")
    assert not resolved.isolate_all
    assert not resolved.disabled


PROCESS_PROBE = """
import pytest

def test_plain_one():
    pass

def test_plain_two():
    pass

@pytest.mark.isolated
def test_marked():
    pass

@pytest.mark.isolated(group="pair")
def test_pair_one():
    pass

@pytest.mark.isolated(group="pair")
def test_pair_two():
    pass
"""

#: Logs "name PYTEST_RUNNING_IN_SUBPROCESS pid parent-pid" for every test.
WHERE_CONFTEST = """
import os
import pytest

def pytest_configure(config):
    if "PYTEST_RUNNING_IN_SUBPROCESS" not in os.environ:
        os.environ["PARENT_PID"] = str(os.getpid())

@pytest.fixture(autouse=True)
def _where(request):
    with open("where.txt", "a") as f:
        env = os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS", "-")
        parent = os.environ["PARENT_PID"]
        f.write(f"{request.node.name} {env} {os.getpid()} {parent}\\n")
"""


def _where(pytester: pytest.Pytester) -> dict[str, tuple[str, int, int]]:
    """Test name -> (PYTEST_RUNNING_IN_SUBPROCESS or "-", pid, parent's pid)."""
    found: dict[str, tuple[str, int, int]] = {}
    for line in (pytester.path / "where.txt").read_text().splitlines():
        name, env, pid, parent = line.split()
        assert name not in found, "ran twice"
        found[name] = (env, int(pid), int(parent))
    return found


def test_isolated_flag_isolates_every_test(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(WHERE_CONFTEST)
    pytester.makepyfile(test_probe=PROCESS_PROBE)
    result = pytester.runpytest_subprocess("--isolated")
    result.assert_outcomes(passed=5)
    seen = _where(pytester)
    assert sorted(seen) == sorted(
        [
            "test_plain_one",
            "test_plain_two",
            "test_marked",
            "test_pair_one",
            "test_pair_two",
        ]
    )
    parent = seen["test_plain_one"][2]
    assert {env for env, _, _ in seen.values()} == {"1"}
    assert len({parent for _, _, parent in seen.values()}) == 1
    pids = {name: pid for name, (_, pid, _) in seen.items()}
    assert parent not in pids.values()
    assert pids["test_pair_one"] == pids["test_pair_two"]
    assert len(set(pids.values())) == 4  # each alone, except the named group


def test_no_isolation_runs_everything_in_process(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(WHERE_CONFTEST)
    pytester.makepyfile(test_probe=PROCESS_PROBE)
    result = pytester.runpytest_subprocess("--no-isolation")
    result.assert_outcomes(passed=5)
    seen = _where(pytester)
    assert len(seen) == 5
    for env, pid, parent in seen.values():
        assert env == "-"
        assert pid == parent


def _assert_usage_error(result: pytest.RunResult, *lines: str) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(list(lines))
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            'isolated(timeout="abc")',
            "invalid @pytest.mark.isolated(timeout='abc'): "
            "timeout: expected a number of seconds, got 'abc'",
        ),
        (
            "isolated(timeout=-1)",
            "invalid @pytest.mark.isolated(timeout=-1): "
            "timeout: expected a number of seconds >= 0, got -1",
        ),
        (
            'isolated(grup="g")',
            "invalid @pytest.mark.isolated(grup='g'): "
            "unknown keyword argument grup (expected group=*",
        ),
        (
            'isolated("a", "b")',
            "invalid @pytest.mark.isolated('a', 'b'): "
            "takes one positional argument (the group name), got 2",
        ),
        (
            "isolated(group=3)",
            "invalid @pytest.mark.isolated(group=3): "
            "group must be a non-empty string, got 3",
        ),
        (
            'isolated("", timeout=5)',
            "invalid @pytest.mark.isolated('', timeout=5): "
            "group must be a non-empty string, got ''",
        ),
    ],
)
def test_bad_marker_is_a_usage_error(
    pytester: pytest.Pytester, marker: str, message: str
) -> None:
    pytester.makepyfile(
        test_bad=f"""
        import pytest

        def test_fine():
            pass

        @pytest.mark.{marker}
        def test_marked():
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    _assert_usage_error(result, f"ERROR: test_bad.py::test_marked: {message}")


@pytest.mark.parametrize(
    ("args", "ini", "lines"),
    [
        (
            ["--isolated-timeout=abc"],
            None,
            [
                "*error: argument --isolated-timeout: "
                "expected a number of seconds, got 'abc'"
            ],
        ),
        (
            ["--isolated-timeout=-3"],
            None,
            [
                "*error: argument --isolated-timeout: "
                "expected a number of seconds >= 0, got '-3'"
            ],
        ),
        (
            [],
            "[pytest]\nisolated_timeout = soon\n",
            [
                "ERROR: isolated_timeout = 'soon' in *pytest.ini: "
                "expected a number of seconds, got 'soon'"
            ],
        ),
        (
            ["--isolated", "--no-isolation"],
            None,
            ["ERROR: --isolated and --no-isolation cannot be used together"],
        ),
    ],
    ids=["option-not-a-number", "option-negative", "ini", "both-flags"],
)
def test_bad_option_is_a_usage_error(
    pytester: pytest.Pytester, args: list[str], ini: str | None, lines: list[str]
) -> None:
    if ini is not None:
        (pytester.path / "pytest.ini").write_text(ini)
    pytester.makepyfile(test_fine="def test_fine(): pass")
    result = pytester.runpytest_subprocess(*args)
    _assert_usage_error(result, *lines)


# Every behaviour here holds for each start method.
pytestmark = pytest.mark.usefixtures("every_start_method")


SETTINGS_PROBE = """
import pytest
from pytest_isolated import plugin
from pytest_isolated.settings import request_of

def test_settings(pytestconfig):
    print("parallel:", pytestconfig.stash[plugin.settings_key].parallel)

@pytest.mark.isolated(group="g", serial=True)
def test_in_group():
    pass

def pytest_collection_modifyitems(items):
    pass
"""

CONFTEST_SHOW_EXCLUSIVE = """
import pytest
from pytest_isolated.settings import request_of

@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        request = request_of(item, False)
        if request is not None:
            print("exclusive:", item.name, request.exclusive)
"""


@pytest.mark.parametrize(
    ("args", "ini", "source"),
    [
        (["--isolated-numprocesses=2"], "", "--isolated-numprocesses"),
        ([], "isolated_numprocesses = 2", "isolated_numprocesses"),
    ],
    ids=["option", "ini"],
)
def test_spellings_of_pytest_isolated_0_6_are_aliases(
    pytester: pytest.Pytester, args: list[str], ini: str, source: str
) -> None:
    """pytest-isolated 0.6's names work as ours do, each with a deprecation
    warning that names ours."""
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makeconftest(CONFTEST_SHOW_EXCLUSIVE)
    pytester.makepyfile(test_old=SETTINGS_PROBE)
    result = pytester.runpytest_subprocess("-s", *args)
    result.assert_outcomes(passed=2, warnings=2)
    result.stdout.fnmatch_lines_random(
        [
            "*parallel: 2*",
            "*exclusive: test_in_group True*",
            f"*IsolatedDeprecationWarning: {source} is pytest-isolated 0.6's name"
            f" for *isolated*parallel: use *isolated*parallel",
            "*IsolatedDeprecationWarning: serial= is pytest-isolated 0.6's name for"
            " exclusive=: use exclusive=",
        ]
    )


def test_ours_beat_the_0_6_spellings(pytester: pytest.Pytester) -> None:
    """Given both, ours is used and the old one is not even read."""
    pytester.makeini("[pytest]\nisolated_numprocesses = 3\nisolated_parallel = 2\n")
    pytester.makepyfile(test_old=SETTINGS_PROBE.replace("serial", "exclusive"))
    result = pytester.runpytest_subprocess("-s", "-W", "error::DeprecationWarning")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*parallel: 2*"])


@pytest.mark.parametrize("spelling", ["option", "marker"])
def test_0_6_spellings_under_w_error_are_usage_errors(
    pytester: pytest.Pytester, spelling: str
) -> None:
    """-W error turns the deprecation into a clear usage error, never an
    INTERNALERROR."""
    source = SETTINGS_PROBE
    args = ["--isolated-numprocesses=2"] if spelling == "option" else []
    if spelling == "option":
        source = source.replace("serial", "exclusive")
    pytester.makepyfile(test_old=source)
    result = pytester.runpytest_subprocess("-W", "error::DeprecationWarning", *args)
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*is pytest-isolated 0.6's name for*"])


def test_a_bad_0_6_value_names_the_old_key(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nisolated_numprocesses = many\n")
    pytester.makepyfile(test_old="def test_x(): pass")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*isolated_numprocesses = 'many' in *tox.ini*: expected a whole number*"]
    )


@pytest.mark.parametrize("debugger", ["--pdb", "--trace"])
def test_a_debugger_option_says_it_does_not_reach_isolated_tests(
    pytester: pytest.Pytester, debugger: str
) -> None:
    pytester.makepyfile(
        test_dbg="""
        import pytest

        @pytest.mark.isolated
        def test_fails():
            assert 0
        """
    )
    result = pytester.runpytest_subprocess(debugger, "-p", "no:randomly")
    result.assert_outcomes(failed=1, warnings=1)
    result.stdout.fnmatch_lines(
        [
            "*PytestIsolatedWarning: pytest-isolated: --pdb and --trace do not reach"
            " into the subprocesses of isolated tests; run with --no-isolation to"
            " debug them"
        ]
    )
    quiet = pytester.runpytest_subprocess(debugger, "--no-isolation", "-k", "nothing")
    quiet.stdout.no_fnmatch_line("*do not reach into the subprocesses*")
