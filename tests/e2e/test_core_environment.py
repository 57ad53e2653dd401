"""The child's environment: it imports like the parent, collects only its
group's files, and never touches the parent's session outputs; tests that are
not isolated run exactly as without the plugin."""

from __future__ import annotations

import json
import os
import re
import sys
import sysconfig
import textwrap
from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).parent / "corpus" / "outcomes.py.txt"


def test_children_leave_the_parents_outputs_alone(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No JUnit file, cache entry or temporary directory of the parent is
    written or pruned by a child, with the default temp root and --basetemp."""
    pytester.makepyfile(
        test_outputs="""
        import os
        import pytest

        KEPT = []

        def test_makes_a_tmp_path(tmp_path):
            kept = tmp_path / "kept.txt"
            kept.write_text("still here")
            KEPT.append(kept)

        @pytest.mark.isolated
        @pytest.mark.parametrize("n", range(5))
        def test_isolated(n, tmp_path, record_property):
            record_property("n", n)
            (tmp_path / "child.txt").write_text(str(n))
            assert n != 4

        def test_nothing_written_behind_the_parents_back():
            # The parent writes these at the end of its session, not before.
            assert not os.path.exists("out.xml")
            assert not os.path.exists(".pytest_cache/v/cache/lastfailed")
            assert KEPT[0].read_text() == "still here"
        """
    )
    lastfailed = pytester.path / ".pytest_cache" / "v" / "cache" / "lastfailed"
    # The default temp root, made private so that pruning cannot hit this suite.
    monkeypatch.setenv("PYTEST_DEBUG_TEMPROOT", str(pytester.mkdir("temproot")))
    default = pytester.run(
        sys.executable, "-m", "pytest", "-p", "cacheprovider", "--junitxml=out.xml"
    )
    assert_outcomes_and_outputs(default, pytester.path / "out.xml", lastfailed)
    (user_root,) = (pytester.path / "temproot").iterdir()
    assert [p.name for p in user_root.iterdir() if p.name != "pytest-current"] == [
        "pytest-0"
    ]

    (pytester.path / "out.xml").unlink()
    lastfailed.unlink()
    basetemp = pytester.path / "base"
    given = pytester.runpytest_subprocess(
        "-p", "cacheprovider", "--junitxml=out.xml", f"--basetemp={basetemp}"
    )
    assert_outcomes_and_outputs(given, pytester.path / "out.xml", lastfailed)
    assert (basetemp / "test_makes_a_tmp_path0" / "kept.txt").exists()


def assert_outcomes_and_outputs(
    result: pytest.RunResult, junit: Path, lastfailed: Path
) -> None:
    result.assert_outcomes(passed=6, failed=1)
    text = junit.read_text()
    assert text.count("<testcase ") == 7
    assert text.count("<failure ") == 1
    assert 'name="test_isolated[4]"' in text
    assert '<property name="n" value="3" />' in text
    assert json.loads(lastfailed.read_text()) == {
        "test_outputs.py::test_isolated[4]": True
    }


#: Records, from a test, what pytest and Python look like in its process.
PROBE_CONFTEST = """
import json
import os
import sys
import pytest

@pytest.fixture
def probe(request, pytestconfig):
    import helper_on_pythonpath

    data = {
        "rootpath": str(pytestconfig.rootpath),
        "inipath": str(pytestconfig.inipath),
        "importmode": pytestconfig.getoption("importmode"),
        "probe_ini": pytestconfig.getini("probe_ini"),
        "probe_option": pytestconfig.getoption("probe"),
        "local_plugin": pytestconfig.pluginmanager.has_plugin("local_plugin"),
        "helper": helper_on_pythonpath.VALUE,
        "sys_path": sys.path,
        "cwd": os.getcwd(),
        "in_child": os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS"),
        "pid": os.getpid(),
    }
    name = request.node.name
    with open(os.path.join(str(pytestconfig.rootpath), name + ".json"), "w") as f:
        json.dump(data, f)
"""


@pytest.mark.parametrize("launcher", ["python -m pytest", "pytest script"])
def test_child_imports_like_the_parent(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, launcher: str
) -> None:
    (pytester.path / "pytest.ini").write_text("[pytest]\npythonpath = extra\n")
    pytester.mkdir("extra")
    (pytester.path / "extra" / "helper_on_pythonpath.py").write_text(
        "VALUE = 'from the pythonpath ini'\n"
    )
    pytester.mkdir("plugins")
    (pytester.path / "plugins" / "local_plugin.py").write_text(
        "def pytest_addoption(parser):\n"
        "    parser.addoption('--probe', default='unset')\n"
        "    parser.addini('probe_ini', 'a probe', default='unset')\n"
    )
    pytester.makeconftest(PROBE_CONFTEST)
    tests = pytester.mkpydir("tests")
    (tests / "test_env.py").write_text(
        "import pytest\n"
        "\n"
        "def test_parent(probe):\n"
        "    pass\n"
        "\n"
        "@pytest.mark.isolated\n"
        "def test_child(probe):\n"
        "    pass\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(pytester.path / "plugins"))
    addopts = os.environ.get("PYTEST_ADDOPTS", "")
    monkeypatch.setenv("PYTEST_ADDOPTS", f"{addopts} --probe=from-addopts")
    if launcher == "pytest script":
        script = Path(sysconfig.get_path("scripts")) / "pytest"
        command: list[str | Path] = [script]
    else:
        command = [sys.executable, "-m", "pytest"]
    result = pytester.run(
        *command,
        "-p",
        "local_plugin",
        "-o",
        "probe_ini=overridden",
        "--import-mode=importlib",
        "tests",
    )
    result.assert_outcomes(passed=2)

    def load(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((pytester.path / name).read_text())
        return data

    parent, child = load("test_parent.json"), load("test_child.json")
    assert parent.pop("in_child") is None
    assert child.pop("in_child") == "1"
    assert parent.pop("pid") != child.pop("pid")
    assert parent == child
    assert parent["rootpath"] == str(pytester.path)
    assert parent["inipath"] == str(pytester.path / "pytest.ini")
    assert parent["importmode"] == "importlib"
    assert parent["probe_ini"] == "overridden"
    assert parent["probe_option"] == "from-addopts"
    assert parent["local_plugin"] is True
    assert parent["helper"] == "from the pythonpath ini"


def test_child_collects_only_its_groups_files(pytester: pytest.Pytester) -> None:
    """Cost per group does not grow with the suite, and --collect-only starts
    no subprocess at all."""
    pytester.makeconftest(
        """
        import os

        IN_CHILD = "PYTEST_RUNNING_IN_SUBPROCESS" in os.environ

        def pytest_configure(config):
            if IN_CHILD:
                open(os.path.join(str(config.rootpath), "child-started"), "a").close()

        def pytest_itemcollected(item):
            if IN_CHILD:
                with open(os.path.join(str(item.config.rootpath), "collected"), "a") as f:
                    f.write(item.nodeid + "\\n")
        """
    )
    others = {f"test_other_{n:02d}": f"def test_{n}():\n    pass\n" for n in range(30)}
    others["test_other_15"] = (
        "import os\n"
        "if os.environ.get('PYTEST_RUNNING_IN_SUBPROCESS'):\n"
        "    raise ImportError('collected in a subprocess')\n"
        "def test_15():\n"
        "    pass\n"
    )
    pytester.makepyfile(
        **others,
        test_target="""
        import pytest

        @pytest.mark.isolated(group="spanning")
        def test_isolated():
            pass
        """,
        test_zzz="""
        import pytest

        @pytest.mark.isolated(group="spanning")
        def test_isolated_too():
            pass
        """,
    )
    listing = pytester.runpytest_subprocess("--collect-only", "-q")
    assert listing.ret == pytest.ExitCode.OK
    listing.stdout.fnmatch_lines(
        ["test_target.py::test_isolated", "test_zzz.py::test_isolated_too"]
    )
    assert not (pytester.path / "child-started").exists()

    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=32)
    assert (pytester.path / "child-started").exists()
    # pytest_collect_file sees every file in a collected directory, even
    # with a file argument; what counts is that no other module was imported.
    assert (pytester.path / "collected").read_text().split() == [
        "test_target.py::test_isolated",
        "test_zzz.py::test_isolated_too",
    ]


def _normalise(output: str) -> str:
    return re.sub(r" in \d+\.\d+s", " in Ns", output)


def test_in_process_tests_run_exactly_as_without_the_plugin(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_corpus=CORPUS.read_text(encoding="utf-8"))
    with_plugin = pytester.runpytest_subprocess("-rA", "-v")
    monkeypatch.delenv("PYTEST_PLUGINS")
    without = pytester.runpytest_subprocess("-rA", "-v")
    assert _normalise(with_plugin.stdout.str()) == _normalise(without.stdout.str())
    assert with_plugin.ret == without.ret == pytest.ExitCode.TESTS_FAILED


# Every behaviour here holds for each start method.
pytestmark = pytest.mark.usefixtures("every_start_method")


def test_an_in_process_run_gives_children_its_own_path(
    pytester: pytest.Pytester,
) -> None:
    """A second pytest.main() in one interpreter (pytester's in-process runs)
    hands its children the sys.path of its own start, not the one the
    interpreter had when it first imported the plugin."""
    plugins = pytester.mkdir("plugins")
    (plugins / "late_plugin.py").write_text(
        "def pytest_configure(config):\n    config.late_plugin_loaded = True\n"
    )
    pytester.syspathinsert(plugins)
    pytester.makepyfile(
        test_x="""
        import os
        import pytest

        @pytest.mark.isolated
        def test_child(pytestconfig):
            assert os.environ["PYTEST_RUNNING_IN_SUBPROCESS"] == "1"
            assert pytestconfig.late_plugin_loaded
        """
    )
    result = pytester.runpytest_inprocess("-p", "late_plugin")
    result.assert_outcomes(passed=1)


ENVIRONMENT_PROBE = """
import json
import os
import pytest

def test_0_in_process():
    # A change made after the start-up, by a test in pytest's process: a
    # group that starts later inherits it.
    os.environ["LATER"] = "set by an earlier test"

@pytest.mark.isolated
def test_1_isolated(request):
    seen = {name: os.environ.get(name) for name in ("PATH", "LATER", "AT_IMPORT")}
    (request.config.rootpath / "seen.json").write_text(json.dumps(seen))
"""


def seen_environment(pytester: pytest.Pytester, *args: str) -> dict[str, Any]:
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=2)
    seen: dict[str, Any] = json.loads((pytester.path / "seen.json").read_text())
    return seen


def test_a_conftest_changes_the_environment_once_in_a_child(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    """A conftest that prepends to PATH at import: the child's own import of
    it must not prepend a second time."""
    pytester.makeconftest(
        """
        import os
        os.environ["PATH"] = "/extra:" + os.environ["PATH"]
        os.environ["AT_IMPORT"] = os.environ["PATH"].split(os.pathsep)[0]
        """
    )
    pytester.makepyfile(test_env=ENVIRONMENT_PROBE)
    isolated = seen_environment(pytester)
    in_process = seen_environment(pytester, "--no-isolation")
    assert isolated == in_process
    assert isolated["PATH"].startswith("/extra:")
    assert not isolated["PATH"].startswith("/extra:/extra:")
    assert isolated["LATER"] == "set by an earlier test"


def test_a_basetemp_whose_folder_is_missing_errors_as_in_process(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    """pytest cannot make --basetemp=build/new/bt when build/new is missing:
    a test asking for tmp_path errors at setup, the others run, isolated or
    not; never an INTERNALERROR."""
    pytester.makepyfile(
        test_bt="""
        import pytest

        @pytest.mark.isolated
        def test_needs_tmp_path(tmp_path):
            pass

        @pytest.mark.isolated
        def test_isolated():
            pass

        def test_plain():
            pass
        """
    )
    runs = [
        pytester.runpytest_subprocess("--basetemp=build/new/bt", *mode)
        for mode in ([], ["--no-isolation"])
    ]
    for result in runs:
        result.assert_outcomes(passed=2, errors=1)
        result.stdout.fnmatch_lines(
            ["ERROR test_bt.py::test_needs_tmp_path - FileNotFoundError: *"]
        )
        assert "INTERNALERROR" not in result.stdout.str()
    assert not (pytester.path / "build").exists()


OUTSIDE_THE_ROOTDIR = """
import pytest

@pytest.mark.isolated
@pytest.mark.parametrize("n", [1, 2])
def test_y(n):
    assert n == 1

@pytest.mark.isolated(group="g")
class TestGroup:
    def test_m(self):
        pass

def test_plain():
    pass
"""


def outcome_lines(result: pytest.RunResult) -> list[str]:
    """The short summary's line for each test (``-rA``), in order."""
    words = ("PASSED ", "FAILED ", "ERROR ", "SKIPPED ", "XFAIL ", "XPASS ")
    return [line for line in result.outlines if line.startswith(words)]


@pytest.mark.parametrize(
    "args",
    [
        ["-c", "ci/pytest.ini", "pkg"],
        ["--rootdir=src", "pkg"],
        ["--rootdir=src", "pkg/"],
        ["--rootdir=src", "pkg/test_x.py::test_y"],
        ["--rootdir=src", "pkg/test_x.py::TestGroup", "pkg/test_x.py::test_plain"],
        ["--rootdir=src", "--confcutdir=pkg", "pkg"],
        ["--rootdir=src", "--pyargs", "pkg"],
        ["-c", "ci/pytest.ini", "--pyargs", "pkg.test_x"],
    ],
    ids=[
        "config-in-a-subfolder",
        "rootdir-elsewhere",
        "folder-with-slash",
        "one-function",
        "class-and-function",
        "confcutdir",
        "pyargs",
        "pyargs-module",
    ],
)
def test_node_ids_are_the_parents_whatever_the_rootdir(
    pytester: pytest.Pytester, every_start_method: str, args: list[str]
) -> None:
    """Tests outside the rootdir have ids relative to the argument they were
    found under: a child collects from the same arguments, so it finds every
    test under the parent's id."""
    pytester.mkdir("ci")
    (pytester.path / "ci" / "pytest.ini").write_text("[pytest]\n")
    pytester.mkdir("src")
    package = pytester.mkpydir("pkg")
    (package / "test_x.py").write_text(textwrap.dedent(OUTSIDE_THE_ROOTDIR))
    isolated = pytester.runpytest_subprocess("-rA", *args)
    in_process = pytester.runpytest_subprocess("-rA", "--no-isolation", *args)
    assert "not collected" not in isolated.stdout.str()
    assert outcome_lines(isolated) == outcome_lines(in_process)
    assert isolated.ret == in_process.ret
    assert outcome_lines(isolated)  # the tests ran


def test_an_id_a_child_cannot_make_again_is_explained(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    """Parameters that differ from one process to the next give ids the
    child cannot find: the error says so, why, and what to do."""
    pytester.makepyfile(
        test_random="""
        import random
        import pytest

        @pytest.mark.isolated
        @pytest.mark.parametrize("value", [random.random()])
        def test_drawn(value):
            pass

        @pytest.mark.isolated
        @pytest.mark.parametrize("value", [1], ids=["stable"])
        def test_stable(value):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-rA", "-p", "no:randomly")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*the test was not collected in its subprocess under the same id",
            "pytest's process collected test_random.py::test_drawn[[]0.*, and the "
            "subprocess, which collects the same file again, made other ids for "
            "the same function:",
            "    test_random.py::test_drawn[[]0.*",
            "*Give the parameters ids of their own*",
            "ERROR test_random.py::test_drawn[[]0.*] - its id*",
        ]
    )
    assert "not collected in its subprocess:" not in result.stdout.str()
