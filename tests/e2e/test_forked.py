"""The pytest-forked alias: its surface, its rules, and pytest-forked's own tests.

The "ported" tests are pytest-forked 1.7.5's test suite (testing/test_boxed.py
and testing/test_xfail_behavior.py), run against the alias.  Where the
expected output differs from pytest-forked's, the test says why.
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap

import pytest

needs_signals = pytest.mark.skipif(
    sys.platform == "win32", reason="POSIX signals: a process cannot SIGTERM itself"
)

# A test body that records which process ran it, for the tests below.
WHERE = """
import os, pathlib

def where(name):
    inside = os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS") == "1"
    log = pathlib.Path(os.environ["WHERE_LOG"])
    with log.open("a") as f:
        f.write(f"{name} {os.getpid()} {'child' if inside else 'parent'}\\n")
"""


def where_log(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHERE_LOG", str(pytester.path / "where.log"))
    pytester.makeconftest(WHERE + "\npytest_plugins = []\n")


def read_where(pytester: pytest.Pytester) -> dict[str, tuple[int, str]]:
    """test name -> (pid, "child" or "parent")"""
    found = {}
    for line in (pytester.path / "where.log").read_text().splitlines():
        name, pid, place = line.split()
        found[name] = (int(pid), place)
    return found


# -- ported from pytest-forked 1.7.5: testing/test_boxed.py ------------------


@needs_signals
def test_functional_boxed(pytester: pytest.Pytester) -> None:
    p1 = pytester.makepyfile(
        """
        import os
        def test_function():
            os.kill(os.getpid(), 15)
        """
    )
    result = pytester.runpytest_subprocess(p1, "--forked")
    result.stdout.fnmatch_lines(["*CRASHED*", "*1 failed*"])


@needs_signals
def test_functional_boxed_per_test(pytester: pytest.Pytester) -> None:
    p1 = pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.forked
        def test_function():
            os.kill(os.getpid(), 15)
        """
    )
    result = pytester.runpytest_subprocess(p1)
    result.stdout.fnmatch_lines(["*CRASHED*", "*1 failed*"])


CAPTURING = """
import os
import sys
def test_function():
    sys.stdout.write("hello\\n")
    sys.stderr.write("world\\n")
    os.kill(os.getpid(), 15)
"""


@needs_signals
@pytest.mark.parametrize("capmode", ["no", "sys", "fd"])
def test_functional_boxed_capturing(pytester: pytest.Pytester, capmode: str) -> None:
    # pytest-forked marks "sys" and "fd" xfail ("capture cleanup needed"): the
    # output of a crashed test is lost there.  Here it is in the report, and
    # under -s as well (where it was also shown as the test printed it).
    p1 = pytester.makepyfile(CAPTURING)
    result = pytester.runpytest_subprocess(p1, "--forked", f"--capture={capmode}")
    result.stdout.fnmatch_lines(
        [
            "*CRASHED*",
            "*stdout*",
            "hello",
            "*stderr*",
            "world",
            "*1 failed*",
        ]
    )


@needs_signals
def test_functional_boxed_capturing_no_is_live_too(pytester: pytest.Pytester) -> None:
    # With -s the child writes to the terminal as the test runs, exactly as
    # pytest does without isolation: the output comes first, then the report.
    p1 = pytester.makepyfile(CAPTURING)
    result = pytester.runpytest_subprocess(p1, "--forked", "--capture=no")
    result.stdout.fnmatch_lines(["hello", "*CRASHED*", "*Captured stdout*", "hello"])
    result.stderr.fnmatch_lines(["world"])


@needs_signals
def test_crash_message_shows_signal_name(pytester: pytest.Pytester) -> None:
    p1 = pytester.makepyfile(
        """
        import os, signal
        def test_function():
            os.kill(os.getpid(), signal.SIGTERM)
        """
    )
    result = pytester.runpytest_subprocess(p1, "--forked")
    result.stdout.fnmatch_lines(["*CRASHED with signal 15 (SIGTERM)*", "*1 failed*"])


def test_crash_message_shows_exit_status(pytester: pytest.Pytester) -> None:
    p1 = pytester.makepyfile(
        """
        import os
        def test_function():
            os._exit(42)
        """
    )
    result = pytester.runpytest_subprocess(p1, "--forked")
    result.stdout.fnmatch_lines(["*EXITED with status 42*", "*1 failed*"])


def test_forked_followed_by_other_test_tears_down(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_a="""
        import pytest

        def test_unforked():
            assert True

        @pytest.mark.forked
        def test_forked():
            assert True
        """,
        test_b="""
        def test_other_module():
            assert True
        """,
    )
    result = pytester.runpytest_subprocess()
    result.stdout.fnmatch_lines(["*3 passed*"])
    assert result.ret == 0


def test_is_not_boxed_by_default(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfig(pytester.path)
    assert not config.option.forked


# -- ported from pytest-forked 1.7.5: testing/test_xfail_behavior.py ---------


@needs_signals
@pytest.mark.parametrize(
    ("is_crashing", "is_strict"),
    [
        pytest.param(True, True, id="strict xfail"),
        pytest.param(False, True, id="strict xpass"),
        pytest.param(True, False, id="non-strict xfail"),
        pytest.param(False, False, id="non-strict xpass"),
    ],
)
def test_xfail(pytester: pytest.Pytester, is_crashing: bool, is_strict: bool) -> None:
    body = "os.kill(os.getpid(), signal.SIGTERM)" if is_crashing else "assert True"
    test_module = pytester.makepyfile(
        test_xfail=f"""
        import os
        import signal

        import pytest

        @pytest.mark.xfail(
            reason='The process gets terminated',
            strict={is_strict!s},
        )
        @pytest.mark.forked
        def test_function():
            {body}
        """
    )
    result = pytester.runpytest_subprocess(test_module, "-ra")
    if is_crashing:
        # Marked xfail and crashing: XFAIL, strict or not.  pytest-forked's
        # reason reads "reason: ...; pytest-forked reason: <path>:<line>:
        # running the test CRASHED with signal 15"; here the crash follows the
        # reason, with the signal's name.  Unlike pytest-forked, no
        # RuntimeWarning about incomplete xfail support.
        lines = [
            "test_xfail.py x*",
            "*= short test summary info =*",
            "XFAIL test_xfail.py::test_function - The process gets terminated"
            " (CRASHED with signal 15 (SIGTERM))",
            "*= 1 xfailed in *s =*",
        ]
    elif is_strict:
        lines = [
            "test_xfail.py F*",
            "*= FAILURES =*",
            "*_ test_function _*",
            "[XPASS(strict)] The process gets terminated",
            "*= short test summary info =*",
            "FAILED test_xfail.py::test_function*The process gets termin*",
            "*= 1 failed in *s =*",
        ]
    else:
        lines = [
            "test_xfail.py X*",
            "*= short test summary info =*",
            "XPASS test_xfail.py::test_function - The process gets terminated",
            "*= 1 xpassed in *s =*",
        ]
    result.stdout.fnmatch_lines(lines)
    assert "warning" not in result.stdout.str()


# -- the surface -------------------------------------------------------------


def test_option_help_and_marker_are_listed(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(
        ["forked subprocess test execution:", "  --forked * box each test run in a *"]
    )
    result.stdout.re_match_lines([r"^\s+--forked\s+box each test run in a separate"])
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.forked: run the test in a fresh*"])


def test_plugin_name_and_option_values(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_values(pytestconfig):
            manager = pytestconfig.pluginmanager
            assert manager.hasplugin("pytest_forked")
            plugin = manager.get_plugin("pytest_forked")
            assert plugin.__name__ == "pytest_isolated.forked"
            assert pytestconfig.getoption("forked") is pytestconfig.option.forked
            print("FORKED", pytestconfig.option.forked)
        """
    )
    result = pytester.runpytest_subprocess("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*FORKED False*"])
    result = pytester.runpytest_subprocess("-s", "--forked")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*FORKED True*"])


def test_marker_at_every_level_gives_each_test_its_own_process(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    where_log(pytester, monkeypatch)
    pytester.makeconftest(
        WHERE
        + textwrap.dedent(
            """
            import pytest

            def pytest_collection_modifyitems(items):
                for item in items:
                    if "dynamic" in item.name:
                        item.add_marker(pytest.mark.forked)
            """
        )
    )
    pytester.makepyfile(
        test_levels="""
        import pytest
        from conftest import where

        @pytest.mark.forked
        def test_function():
            where("function")

        @pytest.mark.forked
        class TestClass:
            def test_one(self):
                where("class_one")

            def test_two(self):
                where("class_two")

        def test_dynamic_a():
            where("dynamic_a")

        def test_dynamic_b():
            where("dynamic_b")

        def test_plain():
            where("plain")
        """,
        test_module_mark="""
        import pytest
        from conftest import where

        pytestmark = pytest.mark.forked

        def test_module_one():
            where("module_one")

        def test_module_two():
            where("module_two")
        """,
    )
    result = pytester.runpytest_subprocess("--strict-markers")
    result.assert_outcomes(passed=8)
    found = read_where(pytester)
    forked = [name for name in found if name != "plain"]
    assert {found[name][1] for name in forked} == {"child"}
    assert len({found[name][0] for name in forked}) == len(forked) == 7
    assert found["plain"][1] == "parent"


def test_forked_option_boxes_every_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    where_log(pytester, monkeypatch)
    pytester.makepyfile(
        """
        from conftest import where

        def test_a():
            where("a")

        def test_b():
            where("b")

        class TestC:
            def test_c(self):
                where("c")
        """
    )
    result = pytester.runpytest_subprocess("--forked")
    result.assert_outcomes(passed=3)
    found = read_where(pytester)
    assert {place for _, place in found.values()} == {"child"}
    assert len({pid for pid, _ in found.values()}) == 3


@pytest.mark.parametrize("spelling", ["no:forked", "no:pytest_forked"])
def test_disabling_the_alias(pytester: pytest.Pytester, spelling: str) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.forked
        def test_marker_does_nothing(pytestconfig):
            assert "PYTEST_RUNNING_IN_SUBPROCESS" not in os.environ
            assert not pytestconfig.pluginmanager.hasplugin("pytest_forked")

        @pytest.mark.isolated
        def test_isolated_still_works():
            assert os.environ["PYTEST_RUNNING_IN_SUBPROCESS"] == "1"
        """
    )
    result = pytester.runpytest_subprocess("-p", spelling)
    result.assert_outcomes(passed=2)
    result = pytester.runpytest_subprocess("-p", spelling, "--forked")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unrecognized arguments: --forked*"])
    result = pytester.runpytest_subprocess("-p", spelling, "--strict-markers")
    result.stdout.fnmatch_lines(["*'forked' not found in `markers`*"])


def test_pytest_exit_in_a_forked_test_ends_the_session(
    pytester: pytest.Pytester,
) -> None:
    # As without isolation.  pytest-forked meant the same (its exit status 4
    # path) but reports "EXITED with status 3" and goes on.
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.forked
        def test_exits():
            pytest.exit("stop here")

        def test_after():
            pass
        """
    )
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*Exit: stop here*"])
    result.assert_outcomes()


def test_forked_test_under_w_error_with_autoloaded_plugins(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As users run it: pytest-isolated loaded through its entry points (which
    # marks its modules for assertion rewriting), every warning an error.
    monkeypatch.delenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    monkeypatch.delenv("PYTEST_PLUGINS")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.forked
        def test_forked():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-W", "error", *_other_plugins_off())
    result.assert_outcomes(passed=1)


def _other_plugins_off() -> list[str]:
    """-p no:NAME for every installed pytest plugin but pytest-isolated."""
    import importlib.metadata

    blocked = []
    for ep in importlib.metadata.entry_points(group="pytest11"):
        dist = getattr(ep, "dist", None)
        if dist is None or dist.metadata["Name"] != "pytest-isolated":
            blocked += ["-p", f"no:{ep.name}"]
    return blocked


# -- forked together with isolated markers and options -----------------------


COMBINED = """
import os
import pytest
from conftest import where

@pytest.mark.isolated(group="db")
class TestGrouped:
    @pytest.mark.forked
    def test_forked_in_grouped_class(self):
        where("forked_in_group_class")

    def test_grouped_1(self):
        where("grouped_1")

    def test_grouped_2(self):
        where("grouped_2")

@pytest.mark.forked
class TestForkedClass:
    @pytest.mark.isolated(group="db")
    def test_grouped_in_forked_class(self):
        where("grouped_in_forked_class")

def test_unmarked():
    where("unmarked")
"""


def test_closest_marker_wins(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    where_log(pytester, monkeypatch)
    pytester.makepyfile(COMBINED)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=5)
    found = read_where(pytester)
    group = {found[n][0] for n in ("grouped_1", "grouped_2", "grouped_in_forked_class")}
    assert len(group) == 1  # the named group, even inside a forked class
    assert found["forked_in_group_class"][1] == "child"
    assert found["forked_in_group_class"][0] not in group
    assert found["unmarked"][1] == "parent"


@pytest.mark.parametrize("options", [["--forked"], ["--forked", "--isolated"]])
def test_forked_option_keeps_named_groups(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, options: list[str]
) -> None:
    where_log(pytester, monkeypatch)
    pytester.makepyfile(COMBINED)
    result = pytester.runpytest_subprocess(*options)
    result.assert_outcomes(passed=5)
    found = read_where(pytester)
    assert {place for _, place in found.values()} == {"child"}
    group = {found[n][0] for n in ("grouped_1", "grouped_2", "grouped_in_forked_class")}
    assert len(group) == 1
    others = {found[n][0] for n in ("forked_in_group_class", "unmarked")}
    assert len(others) == 2
    assert not others & group


def test_no_isolation_beats_forked(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    where_log(pytester, monkeypatch)
    pytester.makepyfile(COMBINED)
    result = pytester.runpytest_subprocess("--forked", "--no-isolation")
    result.assert_outcomes(passed=5)
    found = read_where(pytester)
    assert {place for _, place in found.values()} == {"parent"}
    result = pytester.runpytest_subprocess("--isolated", "--no-isolation")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.slow
def test_forked_test_gets_the_session_time_limit(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import time
        import pytest

        @pytest.mark.forked
        def test_hangs():
            time.sleep(60)

        def test_after():
            pass
        """
    )
    result = pytester.runpytest_subprocess("--isolated-timeout=1")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(["*TIMED OUT*1s*"])


# -- pytest-forked installed as well ------------------------------------------

# A stand-in for the real pytest-forked 1.7.5: its options and marker, and a
# protocol hook that shows if it ever runs.  migration/run.py does the same
# with the real package installed in both sys.path orders.
FAKE_PYTEST_FORKED = """
import pytest

def pytest_addoption(parser):
    group = parser.getgroup("forked", "forked subprocess test execution")
    group.addoption(
        "--forked",
        action="store_true",
        dest="forked",
        default=False,
        help="box each test run in a separate process (unix)",
    )

def pytest_load_initial_conftests(early_config, parser, args):
    early_config.addinivalue_line("markers", "forked: Always fork for this test.")

@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    raise RuntimeError("the real pytest-forked ran")
"""

COEXIST_TEST = """
import os
import pytest

@pytest.mark.forked
def test_forked(pytestconfig):
    assert os.environ["PYTEST_RUNNING_IN_SUBPROCESS"] == "1"
    plugin = pytestconfig.pluginmanager.get_plugin("pytest_forked")
    assert plugin.__name__ == "pytest_isolated.forked"

def test_plain():
    pass
"""

SHADOW = "*pytest-forked is installed alongside pytest-isolated*"


@pytest.mark.parametrize("loaded_first", [True, False], ids=["loaded", "installed"])
@pytest.mark.parametrize("flag", [[], ["--forked"]], ids=["marker", "option"])
def test_real_pytest_forked_alongside(
    pytester: pytest.Pytester, loaded_first: bool, flag: list[str]
) -> None:
    pytester.makepyfile(pytest_forked=FAKE_PYTEST_FORKED, test_coexist=COEXIST_TEST)
    # "-p pytest_forked" registers the real plugin before pytest-isolated, as
    # when its distribution comes first; otherwise it is merely importable.
    first = ["-p", "pytest_forked"] if loaded_first else []
    result = pytester.runpytest_subprocess(*first, *flag, "test_coexist.py")
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines([SHADOW])
    assert result.stdout.str().count("is installed alongside") == 1
    assert (
        "Uninstall pytest-forked (pip uninstall pytest-forked)" in result.stdout.str()
    )
    assert "the real pytest-forked ran" not in result.stdout.str()


def test_real_pytest_forked_and_alias_both_disabled(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(pytest_forked=FAKE_PYTEST_FORKED)
    pytester.makepyfile(
        test_off="""
        import os
        import pytest

        @pytest.mark.forked
        def test_forked(pytestconfig):
            assert "PYTEST_RUNNING_IN_SUBPROCESS" not in os.environ
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:forked", "test_off.py")
    result.assert_outcomes(passed=1)
    assert "alongside" not in result.stdout.str()


def test_takeover_warning_under_w_error_says_what_to_do(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(pytest_forked=FAKE_PYTEST_FORKED, test_coexist=COEXIST_TEST)
    result = pytester.runpytest_subprocess("-W", "error", "test_coexist.py")
    assert result.ret != pytest.ExitCode.OK
    output = result.stdout.str() + result.stderr.str()
    assert "pip uninstall pytest-forked" in output
    assert "the real pytest-forked ran" not in output


def test_signal_name_lookup_matches_the_platform() -> None:
    # The wording above relies on signal 15 being SIGTERM where it runs.
    if hasattr(signal, "SIGTERM") and os.name == "posix":
        assert signal.Signals(15).name == "SIGTERM"


GUARDED = """
import os
import pytest

pytest_forked = pytest.importorskip("pytest_forked")

@pytest.mark.forked
def test_needs_forked():
    assert os.environ["PYTEST_RUNNING_IN_SUBPROCESS"] == "1"

def test_which_module():
    print("module:", pytest_forked.__doc__.split(":")[0])
"""


def test_importorskip_pytest_forked_passes_after_the_switch(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    """The usual guard of a test that needs --forked keeps passing without
    pytest-forked installed, in pytest's process and in every child."""
    pytester.makepyfile(test_guarded=GUARDED)
    result = pytester.runpytest_subprocess("-s", "-p", "no:randomly")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*module: pytest-forked's module name*"])


def test_importorskip_pytest_forked_skips_when_the_alias_is_off(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_guarded=GUARDED)
    result = pytester.runpytest_subprocess("-p", "no:forked", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*could not import 'pytest_forked'*"])


def test_importorskip_pytest_forked_finds_the_real_module(
    pytester: pytest.Pytester,
) -> None:
    """A real pytest-forked on sys.path is what ``import pytest_forked`` gets:
    the alias answers only when nothing else does."""
    pytester.makepyfile(
        pytest_forked=FAKE_PYTEST_FORKED + "\nREAL = True\n",
        test_guarded="""
        import pytest_forked

        def test_real():
            assert pytest_forked.REAL
        """,
    )
    result = pytester.runpytest_subprocess("test_guarded.py")
    result.assert_outcomes(passed=1, warnings=1)
    result.stdout.fnmatch_lines([SHADOW])
