"""--isolated-check-state: the tests that leave pytest's process changed.

One sub-run holds a test that changes each kind of state and one that touches
it and puts it back; the parametrised tests below read their kind's lines in
it.  The other sub-runs cover the modes, the configuration, which tests are
checked, wider-scoped fixtures, and the false positives that must never
appear: what pytest itself creates and restores around a test.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_isolated.finding import kinds as state_kinds
from pytest_isolated.finding import statecheck

POSIX = os.name == "posix"
LINUX = sys.platform.startswith("linux")
#: Older pytest versions put sys.unraisablehook and threading.excepthook back
#: after every phase of a test (no test can leave them changed); newer ones set
#: them once, at configure.
HOOKS_PUT_BACK = not hasattr(
    importlib.import_module("_pytest.threadexception"), "pytest_configure"
)


@pytest.fixture(autouse=True)
def _private_tmpdir(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sub-runs get a temporary directory of their own: another program's
    files appearing in the shared one would be blamed on their tests."""
    private = pytester.path / "private-tmp"
    private.mkdir()
    monkeypatch.setenv("TMPDIR", str(private))


# -- every kind of state ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Case:
    """A kind of state: a test body that changes it, one that does not."""

    name: str
    changes: str
    unchanged: str
    #: fnmatch pattern of the reported line, after "test_kinds.py::test_<name>_changes: "
    expected: str
    only_if: bool = True
    #: The platform or pytest limit that keeps the kind from being reported.
    why_not: str = ""


CASES = [
    Case(
        "environ_added",
        "os.environ['STATECHECK_SECRET'] = 'hunter2'",
        "os.environ['STATECHECK_TMP'] = 'x'; del os.environ['STATECHECK_TMP']",
        "os.environ: added STATECHECK_SECRET",
    ),
    Case(
        "environ_changed",
        "os.environ['STATECHECK_PRESET_A'] = 'hunter2'",
        "os.environ['STATECHECK_PRESET_A'] = os.environ['STATECHECK_PRESET_A']",
        "os.environ: changed STATECHECK_PRESET_A",
    ),
    Case(
        "environ_removed",
        "del os.environ['STATECHECK_PRESET_B']",
        "os.environ.get('STATECHECK_PRESET_B')",
        "os.environ: removed STATECHECK_PRESET_B",
    ),
    Case(
        "cwd",
        "os.chdir(os.path.dirname(os.getcwd()))",
        "here = os.getcwd(); os.chdir('..'); os.chdir(here)",
        "cwd: '*' -> '*'",
    ),
    Case(
        "sys_path",
        "sys.path.append('/statecheck/nowhere')",
        "sys.path.append('/statecheck/x'); sys.path.remove('/statecheck/x')",
        "sys.path: added '/statecheck/nowhere'",
    ),
    Case(
        "meta_path",
        "sys.meta_path.append(Finder)",
        "sys.meta_path.append(Finder); sys.meta_path.remove(Finder)",
        "sys.meta_path: added test_kinds.Finder",
    ),
    Case(
        "path_hooks",
        "sys.path_hooks.append(path_hook)",
        "sys.path_hooks.append(path_hook); sys.path_hooks.remove(path_hook)",
        "sys.path_hooks: added test_kinds.path_hook",
    ),
    Case(
        "stdin",
        "sys.stdin = Forward(sys.stdin)",
        "old = sys.stdin; sys.stdin = Forward(old); sys.stdin = old",
        "sys.stdin: <*> -> <Forward*>",
    ),
    Case(
        "stdout",
        "sys.stdout = Forward(sys.stdout)",
        "old = sys.stdout; sys.stdout = Forward(old); sys.stdout = old",
        "sys.stdout: <*> -> <Forward*>",
    ),
    Case(
        "stderr",
        "sys.stderr = Forward(sys.stderr)",
        "old = sys.stderr; sys.stderr = Forward(old); sys.stderr = old",
        "sys.stderr: <*> -> <Forward*>",
    ),
    Case(
        "excepthook",
        "sys.excepthook = hook",
        "old = sys.excepthook; sys.excepthook = hook; sys.excepthook = old",
        "sys.excepthook: sys.excepthook -> test_kinds.hook",
    ),
    Case(
        "displayhook",
        "sys.displayhook = hook",
        "old = sys.displayhook; sys.displayhook = hook; sys.displayhook = old",
        "sys.displayhook: sys.displayhook -> test_kinds.hook",
    ),
    Case(
        "unraisablehook",
        "sys.unraisablehook = hook",
        "old = sys.unraisablehook; sys.unraisablehook = hook; sys.unraisablehook = old",
        "sys.unraisablehook: * -> test_kinds.hook",
        only_if=not HOOKS_PUT_BACK,
        why_not="this pytest puts the hook back after every phase itself",
    ),
    Case(
        "threading_excepthook",
        "threading.excepthook = hook",
        "old = threading.excepthook; threading.excepthook = hook; threading.excepthook = old",
        "threading.excepthook: * -> test_kinds.hook",
        only_if=not HOOKS_PUT_BACK,
        why_not="this pytest puts the hook back after every phase itself",
    ),
    Case(
        "signal",
        "signal.signal(SIGNAL, hook)",
        "old = signal.signal(SIGNAL, hook); signal.signal(SIGNAL, old)",
        "signal handlers: SIG*: SIG_DFL -> test_kinds.hook",
    ),
    Case(
        "root_handlers",
        "logging.root.addHandler(logging.NullHandler())",
        "h = logging.NullHandler(); logging.root.addHandler(h); logging.root.removeHandler(h)",
        "root logger handlers: added <NullHandler (NOTSET)>",
    ),
    Case(
        "root_level",
        "logging.root.setLevel(logging.CRITICAL)",
        "old = logging.root.level; logging.root.setLevel(logging.DEBUG); logging.root.setLevel(old)",
        "root logger level: WARNING -> CRITICAL",
    ),
    Case(
        "logging_disable",
        "logging.disable(logging.INFO)",
        "logging.disable(logging.INFO); logging.disable(logging.NOTSET)",
        "logging.disable: NOTSET -> INFO",
    ),
    Case(
        "disabled_loggers",
        "logging.getLogger('statecheck.quiet').disabled = True",
        "log = logging.getLogger('statecheck.other'); log.disabled = True; log.disabled = False",
        "disabled loggers: disabled 'statecheck.quiet'",
    ),
    Case(
        "umask",
        "os.umask(os.umask(0) ^ 0o001)",
        "os.umask(os.umask(0o077))",
        "umask: 0?? -> 0??",
    ),
    Case(
        "locale",
        "other_numeric_locale()",
        "old = locale.setlocale(locale.LC_NUMERIC); other_numeric_locale(); "
        "locale.setlocale(locale.LC_NUMERIC, old)",
        "locale: LC_NUMERIC '*' -> '*'",
    ),
    Case(
        "faulthandler",
        "faulthandler.disable()",
        "faulthandler.disable(); faulthandler.enable()",
        "faulthandler: enabled -> disabled",
    ),
    Case(
        "threads",
        "threading.Thread(target=STOP.wait, name='statecheck-leaky', daemon=True).start()",
        "t = threading.Thread(target=len, args=((),)); t.start(); t.join()",
        "threads: 'statecheck-leaky' (daemon) still running",
    ),
    Case(
        "child_processes",
        "LEFT.append(subprocess.Popen([sys.executable, '-c', 'import sys; sys.stdin.read()'], "
        "stdin=subprocess.PIPE))",
        "subprocess.run([sys.executable, '-c', 'pass'], check=True)",
        "child processes: pid * still running: *python*",
        only_if=LINUX,
        why_not="child processes are found through /proc, on Linux only",
    ),
    Case(
        "fds",
        "LEFT.append(os.open(os.devnull, os.O_RDONLY))",
        "os.close(os.open(os.devnull, os.O_RDONLY))",
        "open fds: fd * still open (*)",
        only_if=POSIX,
        why_not="open fds are read on POSIX only",
    ),
    Case(
        "temp_files",
        "tempfile.mkdtemp(prefix='statecheck-')",
        "os.rmdir(tempfile.mkdtemp(prefix='statecheck-'))",
        "temp files: left *statecheck-*",
    ),
    Case(
        "asyncio_loop",
        "asyncio.set_event_loop(asyncio.new_event_loop())",
        "asyncio.run(asyncio.sleep(0))",  # creates the default policy: no change
        "asyncio: current loop None -> <*EventLoop*>",
    ),
    Case(
        "asyncio_policy",
        "set_policy(Policy())",
        "old = get_policy(); set_policy(Policy()); set_policy(old)",
        "asyncio: policy default -> <test_kinds.Policy object>*",
    ),
    Case(
        "socket_timeout",
        "socket.setdefaulttimeout(5.0)",
        "socket.setdefaulttimeout(5.0); socket.setdefaulttimeout(None)",
        "socket default timeout: None -> 5.0",
    ),
    Case(
        "decimal",
        "decimal.getcontext().prec = 7",
        "with decimal.localcontext() as ctx: ctx.prec = 7",
        "decimal context: prec 28 -> 7",
    ),
    Case(
        "warnings_filters",
        "warnings.filterwarnings('ignore', message='statecheck')",
        "with warnings.catch_warnings(): warnings.simplefilter('ignore')",
        "warnings.filters: added ignore:statecheck:Warning",
    ),
    Case(
        "showwarning",
        "warnings.showwarning = hook",
        "old = warnings.showwarning; warnings.showwarning = hook; warnings.showwarning = old",
        "warnings.showwarning: * -> test_kinds.hook",
    ),
]

KINDS_HEADER = """
import asyncio, decimal, faulthandler, locale, logging, os, signal, socket
import subprocess, sys, tempfile, threading, warnings

import pytest

LEFT = []  # what the tests leave open
STOP = threading.Event()
SIGNAL = getattr(signal, "SIGUSR2", signal.SIGTERM)


class Finder:
    @classmethod
    def find_spec(cls, *args):
        return None


def path_hook(path):
    raise ImportError


def hook(*args):
    pass


class Forward:
    def __init__(self, stream):
        self.stream = stream

    def __getattr__(self, name):
        return getattr(self.stream, name)


with warnings.catch_warnings():  # the policy API is deprecated in Python 3.14
    warnings.simplefilter("ignore", DeprecationWarning)
    Policy = type("Policy", (type(asyncio.get_event_loop_policy()),), {})
    get_policy, set_policy = asyncio.get_event_loop_policy, asyncio.set_event_loop_policy
    set_policy(None)  # back to "not created yet"


def other_numeric_locale():
    current = locale.setlocale(locale.LC_NUMERIC)
    for name in ("C.UTF-8", "en_US.UTF-8", "C"):
        if name != current:
            try:
                locale.setlocale(locale.LC_NUMERIC, name)
                return
            except locale.Error:
                pass
    pytest.skip("no second locale")
"""


def _kinds_source() -> str:
    tests = []
    for case in CASES:
        # The unchanged test first: the changes tests leave their changes.
        for role, body in (("unchanged", case.unchanged), ("changes", case.changes)):
            tests.append(f"\n\ndef test_{case.name}_{role}():\n    {body}\n")
    return KINDS_HEADER + "".join(tests)


def _run(folder: Path, files: dict[str, str], *args: str) -> pytest.RunResult:
    """``python -m pytest *args`` in *folder*, as pytester's sub-runs are set
    up (``tests/conftest.py``), for a result that many tests share."""
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / "tmp").mkdir()
    env = dict(
        os.environ,
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        PYTEST_PLUGINS="pytest_isolated.plugin",
        TMPDIR=str(folder / "tmp"),
        STATECHECK_PRESET_A="1",
        STATECHECK_PRESET_B="1",
    )
    for name in (
        "PYTEST_ADDOPTS",
        "PYTEST_RUNNING_IN_SUBPROCESS",
        "PYTEST_XDIST_WORKER",
    ):
        env.pop(name, None)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=folder,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return pytest.RunResult(
        done.returncode,
        done.stdout.splitlines(),
        done.stderr.splitlines(),
        time.monotonic() - started,
    )


@pytest.fixture(scope="module")
def kinds_run(tmp_path_factory: pytest.TempPathFactory) -> pytest.RunResult:
    """Every case in one sub-run: ``-v`` (to see what it skipped), ``-s`` (so that the standard streams are
    not put back by pytest's capture), ``-p no:warnings`` (so that the
    warning filters are not)."""
    folder = tmp_path_factory.mktemp("kinds") / "run"
    return _run(
        folder,
        {"test_kinds.py": _kinds_source()},
        "-v",
        "-s",
        "-p",
        "no:warnings",
        "--isolated-check-state",
    )


def _lines_of(result: pytest.RunResult, test: str) -> list[str]:
    return [
        line for line in result.outlines if line.startswith(f"test_kinds.py::{test}: ")
    ]


def _skipped(result: pytest.RunResult, case: Case) -> bool:
    name = f"test_kinds.py::test_{case.name}_changes SKIPPED"
    return any(line.startswith(name) for line in result.outlines)


CASE_PARAMS = [pytest.param(case, id=case.name) for case in CASES]


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_a_change_is_reported(kinds_run: pytest.RunResult, case: Case) -> None:
    if not case.only_if:
        pytest.skip(case.why_not)
    lines = _lines_of(kinds_run, f"test_{case.name}_changes")
    if not lines and _skipped(kinds_run, case):
        # The one skip the sub-run has: a machine with a single locale.
        assert case.name == "locale", f"the sub-run skipped {case.name}"
        pytest.skip("this machine has no second locale to switch to")
    expected = f"test_kinds.py::test_{case.name}_changes: {case.expected}"
    pytest.LineMatcher(lines).fnmatch_lines([expected])


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_no_change_no_report(kinds_run: pytest.RunResult, case: Case) -> None:
    assert _lines_of(kinds_run, f"test_{case.name}_unchanged") == []


def test_kinds_run_summary(kinds_run: pytest.RunResult) -> None:
    """Warn mode passes; the summary counts the tests; values are never shown."""
    text = kinds_run.stdout.str()
    assert kinds_run.ret == 0, text + kinds_run.stderr.str()
    kinds_run.stdout.fnmatch_lines(
        [f"*= {statecheck.SECTION} =*", "test_kinds.py::*", statecheck.HINT]
    )
    changed = [c for c in CASES if c.only_if]
    skipped = kinds_run.parseoutcomes().get("skipped", 0)
    assert kinds_run.parseoutcomes()["changed"] == len(changed) - skipped
    assert "hunter2" not in text


def test_every_kind_has_a_case() -> None:
    """A kind added to ProcessState gets a case here (and in the docs)."""
    kinds = {kind.name for kind in state_kinds.ProcessState(warnings_kept=False).kinds}
    covered = {
        "os.environ": "environ_added",
        "cwd": "cwd",
        "sys.path": "sys_path",
        "sys.meta_path": "meta_path",
        "sys.path_hooks": "path_hooks",
        "sys.stdin": "stdin",
        "sys.stdout": "stdout",
        "sys.stderr": "stderr",
        "sys.excepthook": "excepthook",
        "sys.displayhook": "displayhook",
        "sys.unraisablehook": "unraisablehook",
        "threading.excepthook": "threading_excepthook",
        "signal handlers": "signal",
        "root logger handlers": "root_handlers",
        "root logger level": "root_level",
        "logging.disable": "logging_disable",
        "disabled loggers": "disabled_loggers",
        "umask": "umask",
        "locale": "locale",
        "faulthandler": "faulthandler",
        "threads": "threads",
        "child processes": "child_processes",
        "open fds": "fds",
        "temp files": "temp_files",
        "asyncio": "asyncio_loop",
        "socket default timeout": "socket_timeout",
        "decimal context": "decimal",
        "warnings.filters": "warnings_filters",
        "warnings.showwarning": "showwarning",
    }
    assert kinds <= covered.keys()
    assert set(covered.values()) <= {case.name for case in CASES}
    docs = (Path(__file__).parents[2] / "docs" / "finding-tests.md").read_text()
    assert [kind for kind in kinds if f"`{kind}`" not in docs] == []


# -- modes and configuration -------------------------------------------------------

LEAKS = """
import os

def test_clean():
    pass

def test_leaks():
    os.environ["STATECHECK_LEAK"] = "1"
    os.environ["STATECHECK_MORE"] = "1"
    os.chdir("..")

def test_after():
    pass
"""


def test_warn_lists_and_counts(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaks=LEAKS)
    result = pytester.runpytest_subprocess("--isolated-check-state")  # bare: warn
    result.assert_outcomes(passed=3)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            f"*= {statecheck.SECTION} =*",
            "test_leaks.py::test_leaks: os.environ: added STATECHECK_LEAK",
            "test_leaks.py::test_leaks: os.environ: added STATECHECK_MORE",
            "test_leaks.py::test_leaks: cwd: '*' -> '*'",
            statecheck.HINT,
            "*= 3 passed, 1 changed state in *",
        ]
    )
    assert "test_clean:" not in result.stdout.str()
    assert "test_after:" not in result.stdout.str()


def test_fail_makes_a_teardown_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaks=LEAKS)
    result = pytester.runpytest_subprocess("--isolated-check-state=fail")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*_ ERROR at teardown of test_leaks _*",
            "changed the process state: os.environ: added STATECHECK_LEAK",
            "                           os.environ: added STATECHECK_MORE",
            "                           cwd: '*' -> '*'",
            f"*= {statecheck.SECTION} =*",
            "test_leaks.py::test_leaks: os.environ: added STATECHECK_LEAK",
            "*short test summary info*",
            "ERROR test_leaks.py::test_leaks - Failed: changed the process state: *",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_fail_keeps_the_teardown_own_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_both="""
        import os
        import pytest

        @pytest.fixture
        def broken():
            yield
            raise RuntimeError("teardown went wrong")

        def test_both(broken):
            os.environ["STATECHECK_LEAK"] = "1"
        """
    )
    result = pytester.runpytest_subprocess("--isolated-check-state=fail")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*RuntimeError: teardown went wrong",
            "test_both.py::test_both: os.environ: added STATECHECK_LEAK",
            "ERROR test_both.py::test_both - RuntimeError: teardown went wrong",
        ]
    )


@pytest.mark.parametrize(
    ("ini", "args", "errors"),
    [
        pytest.param("fail", [], 1, id="ini-fail"),
        pytest.param("warn", [], 0, id="ini-warn"),
        pytest.param("fail", ["--isolated-check-state=warn"], 0, id="option-wins"),
        pytest.param("fail", ["-o", "isolated_check_state="], None, id="o-turns-off"),
        pytest.param(None, [], None, id="off-by-default"),
    ],
)
def test_configuration(
    pytester: pytest.Pytester, ini: str | None, args: list[str], errors: int | None
) -> None:
    if ini is not None:
        pytester.makeini(f"[pytest]\nisolated_check_state = {ini}\n")
    pytester.makepyfile(test_leaks=LEAKS)
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=3, errors=errors or 0)
    assert (statecheck.SECTION in result.stdout.str()) == (errors is not None)


@pytest.mark.parametrize(
    ("ini", "args", "message"),
    [
        pytest.param(
            None,
            ["--isolated-check-state=loud"],
            "*argument --isolated-check-state: expected one of warn, fail, got 'loud'",
            id="option",
        ),
        pytest.param(
            "loud",
            [],
            "ERROR: isolated_check_state = 'loud' in *tox.ini: "
            "expected one of warn, fail, got 'loud'",
            id="ini",
        ),
        pytest.param(
            None,
            ["-o", "isolated_check_state=loud"],
            "ERROR: -o isolated_check_state=loud: expected one of warn, fail, got 'loud'",
            id="override",
        ),
    ],
)
def test_bad_value_is_a_usage_error(
    pytester: pytest.Pytester, ini: str | None, args: list[str], message: str
) -> None:
    if ini is not None:
        pytester.makefile(".ini", tox=f"[pytest]\nisolated_check_state = {ini}\n")
    pytester.makepyfile(test_leaks=LEAKS)
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


# -- which tests are checked -------------------------------------------------------

MIXED = """
import os
import pytest

@pytest.fixture(scope="module")
def resource():
    yield

def test_in_process(resource):
    os.environ["STATECHECK_IN_PROCESS"] = "1"

@pytest.mark.isolated
def test_isolated():
    os.environ["STATECHECK_ISOLATED"] = "1"

def test_between(resource):
    pass

@pytest.mark.isolated(group="g")
def test_grouped_1():
    pass

@pytest.mark.isolated(group="g")
def test_grouped_2():
    pass

def test_last(resource):
    pass
"""


@pytest.mark.parametrize(
    ("args", "reported"),
    [
        pytest.param([], ["test_in_process"], id="default"),
        pytest.param(
            ["--isolated-start=fork"],
            ["test_in_process"],
            id="fork",
            marks=pytest.mark.skipif(not POSIX, reason="POSIX only"),
        ),
        pytest.param(["--isolated-parallel=2"], ["test_in_process"], id="parallel"),
        pytest.param(
            ["--no-isolation"], ["test_in_process", "test_isolated"], id="no-isolation"
        ),
        pytest.param(["--isolated"], [], id="all-isolated"),
    ],
)
def test_only_tests_in_this_process_are_checked(
    pytester: pytest.Pytester, args: list[str], reported: list[str]
) -> None:
    """An isolated test's state dies with its subprocess; and the children,
    threads, pipes and folders of the plugin itself are never blamed on the
    tests that run beside them."""
    pytester.makepyfile(test_mixed=MIXED)
    result = pytester.runpytest_subprocess("--isolated-check-state=fail", *args)
    result.assert_outcomes(passed=6, errors=len(reported))
    lines = [
        line
        for line in result.outlines
        if line.startswith("test_mixed") and "::" in line
    ]
    expected = [
        f"test_mixed.py::{name}: os.environ: added STATECHECK_{name[5:].upper()}"
        for name in reported
    ]
    assert lines == expected


# -- wider-scoped fixtures -----------------------------------------------------------


def test_wider_scoped_fixtures(pytester: pytest.Pytester) -> None:
    """Set up in one test, torn down in another: what they put back is not a
    change; what they leave is reported when their scope ends, once."""
    pytester.makeconftest(
        """
        import os, threading
        import pytest

        @pytest.fixture(scope="session")
        def server():
            stop = threading.Event()
            thread = threading.Thread(target=stop.wait, name="server")
            thread.start()
            os.environ["STATECHECK_SESSION"] = "1"
            yield
            del os.environ["STATECHECK_SESSION"]
            stop.set()
            thread.join()
        """
    )
    pytester.makepyfile(
        test_scopes="""
        import os, sys, tempfile
        import pytest

        @pytest.fixture(scope="module")
        def tidy():
            old = os.getcwd()
            os.chdir(tempfile.gettempdir())
            yield
            os.chdir(old)

        @pytest.fixture(scope="module")
        def untidy():
            os.environ["STATECHECK_MODULE"] = "1"
            yield

        @pytest.fixture(scope="module")
        def late():  # first requested by the module's second test
            os.environ["STATECHECK_LATE"] = "1"
            yield
            del os.environ["STATECHECK_LATE"]

        @pytest.fixture(scope="module", params=["x", "y"])
        def param(request):
            os.environ["STATECHECK_PARAM"] = request.param
            yield
            del os.environ["STATECHECK_PARAM"]

        def test_first(server, tidy, untidy):
            os.environ["STATECHECK_FIRST"] = "1"

        def test_second(server, tidy, untidy, late):
            pass

        def test_param(param):
            pass

        @pytest.fixture(scope="class")
        def path():
            sys.path.append("/statecheck/class")
            yield
            sys.path.remove("/statecheck/class")

        @pytest.mark.usefixtures("path")
        class TestClass:
            def test_a(self):
                pass

            def test_b(self):
                pass

        def test_last_of_module():
            pass
        """,
        test_other="""
        def test_other(server):
            pass
        """,
    )
    result = pytester.runpytest_subprocess("--isolated-check-state")
    result.assert_outcomes(passed=8)
    lines = [line for line in result.outlines if "::" in line]
    assert lines == [
        "test_scopes.py::test_first: os.environ: added STATECHECK_FIRST",
        "module-scoped fixture 'untidy' (set up with test_scopes.py::test_first): "
        "os.environ: added STATECHECK_MODULE",
    ]
    result.stdout.fnmatch_lines(["*= 8 passed, 2 changed state in *"])


def test_fixture_torn_down_in_an_isolated_slot(pytester: pytest.Pytester) -> None:
    """When the module's last test is isolated, the parent tears its fixtures
    down in that test's slot: checked at the next test in this process (which
    it does not fail), or at the end of the session."""
    source = """
        import os
        import pytest

        @pytest.fixture(scope="module")
        def untidy():
            os.environ["STATECHECK_{name}"] = "1"
            yield

        def test_uses(untidy):
            pass

        @pytest.mark.isolated
        def test_isolated_last():
            pass
        """
    pytester.makepyfile(
        test_a=source.format(name="A"),
        test_b="def test_next():\n    pass\n",
        test_c=source.format(name="C"),
    )
    result = pytester.runpytest_subprocess("--isolated-check-state=fail")
    result.assert_outcomes(passed=5)
    assert [line for line in result.outlines if "::" in line] == [
        "module-scoped fixture 'untidy' (set up with test_a.py::test_uses): "
        "os.environ: added STATECHECK_A",
        "module-scoped fixture 'untidy' (set up with test_c.py::test_uses): "
        "os.environ: added STATECHECK_C",
    ]


def test_pytest_asyncio_loops_are_not_reported(pytester: pytest.Pytester) -> None:
    """Its event loops are fixtures, of the scope a test asks for."""
    pytest.importorskip("pytest_asyncio")
    pytester.makepyfile(
        test_loops="""
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_function_loop():
            await asyncio.sleep(0)

        @pytest.mark.asyncio(loop_scope="module")
        async def test_module_loop():
            await asyncio.sleep(0)

        @pytest.mark.asyncio(loop_scope="module")
        async def test_module_loop_again():
            await asyncio.sleep(0)

        def test_sync():
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "asyncio", "--isolated-check-state=fail"
    )
    result.assert_outcomes(passed=4)
    assert statecheck.SECTION not in result.stdout.str()


# -- false positives -----------------------------------------------------------------

HARMLESS = """
import asyncio, decimal, io, logging, os, subprocess, sys, tempfile, threading, warnings
import pytest


def test_monkeypatch(monkeypatch, tmp_path):
    monkeypatch.setenv("STATECHECK_X", "1")
    monkeypatch.delenv("HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(sys, "excepthook", lambda *args: None)
    monkeypatch.setattr(logging.root, "level", logging.DEBUG)


def test_capsys(capsys):
    print("out")
    sys.stderr.write("err")
    assert capsys.readouterr().out == "out\\n"


def test_capsysbinary(capsysbinary):
    print("out")


def test_capfd(capfd):
    os.write(1, b"out")
    capfd.readouterr()


def test_capfdbinary(capfdbinary):
    os.write(2, b"err")


def test_caplog(caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="statecheck")
    logging.getLogger("statecheck").info("hello")
    with caplog.at_level(logging.ERROR):
        logging.error("there")


def test_tmp_path(tmp_path, tmp_path_factory):
    (tmp_path / "file").write_text("x")
    tmp_path_factory.mktemp("more")


def test_recwarn(recwarn):
    warnings.warn("recorded", UserWarning)
    warnings.simplefilter("ignore")


def test_pytest_warns():
    with pytest.warns(UserWarning):
        warnings.warn("expected", UserWarning)
    with pytest.deprecated_call():
        warnings.warn("old", DeprecationWarning)


def test_warning_filters_set_and_left():
    warnings.simplefilter("ignore")  # pytest's warnings plugin puts them back


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_filterwarnings_marker():
    warnings.warn("ignored", UserWarning)


def test_a_warning():
    warnings.warn("shown in the summary", UserWarning)


def test_output_and_logs():
    print("printed")
    sys.stderr.write("written")
    logging.getLogger("statecheck").error("logged")


def test_std_streams_replaced():
    sys.stdout = io.StringIO()  # pytest's capture puts them back
    sys.stderr = io.StringIO()


def test_raises_and_skips():
    with pytest.raises(ValueError):
        raise ValueError


def test_fails():
    assert 0


def test_skips():
    pytest.skip("skipped")


@pytest.mark.xfail(strict=True)
def test_xfails():
    assert 0


def test_asyncio_run():
    asyncio.run(asyncio.sleep(0))


def test_decimal_localcontext():
    with decimal.localcontext() as ctx:
        ctx.prec = 3


def test_thread_joined():
    thread = threading.Thread(target=len, args=((),))
    thread.start()
    thread.join()


def test_subprocess_waited():
    subprocess.run([sys.executable, "-c", "pass"], check=True)


def test_temporary_files():
    with tempfile.TemporaryDirectory():
        pass
    with tempfile.NamedTemporaryFile():
        pass
    with tempfile.TemporaryFile():
        pass


def test_first_imports():
    import decimal, socket, asyncio, multiprocessing  # noqa


@pytest.fixture
def finalized(request):
    os.environ["STATECHECK_FINALIZED"] = "1"
    request.addfinalizer(lambda: os.environ.pop("STATECHECK_FINALIZED"))


def test_finalizer(finalized):
    pass
"""


@pytest.mark.parametrize(
    "args",
    [
        pytest.param([], id="capture-fd"),
        pytest.param(
            ["--capture=sys", "--log-level=DEBUG", "--log-cli-level=INFO"],
            id="capture-sys-and-log-levels",
        ),
        pytest.param(["-s", "-k", "not std_streams"], id="no-capture"),
        pytest.param(
            ["-p", "no:warnings", "-k", "not warning_filters_set"],
            id="no-warnings-plugin",
        ),
    ],
)
def test_what_pytest_restores_is_never_reported(
    pytester: pytest.Pytester, args: list[str]
) -> None:
    pytester.makepyfile(test_harmless=HARMLESS)
    result = pytester.runpytest_subprocess("--isolated-check-state=fail", *args)
    text = result.stdout.str()
    assert statecheck.SECTION not in text, text
    outcomes = result.parseoutcomes()
    assert "errors" not in outcomes, text
    assert "error" not in outcomes, text
    assert outcomes["failed"] == 1
    assert outcomes["skipped"] == 1
    assert outcomes["xfailed"] == 1


def test_under_xdist(pytester: pytest.Pytester) -> None:
    """The changes travel with the teardown reports to the controller."""
    pytest.importorskip("xdist")
    pytester.makepyfile(test_leaks=LEAKS)
    result = pytester.runpytest_subprocess(
        "-p", "xdist", "-n", "2", "--isolated-check-state"
    )
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "test_leaks.py::test_leaks: os.environ: added STATECHECK_LEAK",
            "*3 passed, 1 changed state in *",
        ]
    )


# -- the comparison itself ---------------------------------------------------------


def _kinds() -> Iterator[state_kinds.Kind]:
    yield state_kinds.Kind(
        "v", lambda: 0, state_kinds.VALUE, lambda k, b, a: f"{b}>{a}"
    )
    yield state_kinds.Kind(
        "m", lambda: {}, state_kinds.MAPPING, lambda k, b, a: f"{k}:{b}>{a}"
    )
    yield state_kinds.Kind("g", frozenset, state_kinds.GROWING, lambda k, b, a: f"+{k}")


def test_compare_allowed_and_required() -> None:
    kinds = list(_kinds())
    before = (1, {"a": 1, "b": 1}, frozenset({1}))
    after = (2, {"a": 2, "c": 1}, frozenset({1, 2, 3}))
    found = [c.text for c in state_kinds.compare(kinds, before, after)]
    assert found == ["1>2", "a:1>2", "b:1><missing>", "c:<missing>>1", "+2", "+3"]
    # A value equal to an allowed snapshot's (absent, for b) is no change...
    allowed = (2, {"a": 2}, frozenset({2}))
    found = [c.text for c in state_kinds.compare(kinds, before, after, [allowed])]
    assert found == ["c:<missing>>1", "+3"]
    # ... and with *required*, only the values it has count.
    found = [c.text for c in state_kinds.compare(kinds, before, after, (), allowed)]
    assert found == ["1>2", "a:1>2", "b:1><missing>", "+2"]
    assert state_kinds.compare(kinds, before, before) == []


def test_an_unreadable_kind_is_skipped() -> None:
    """A get function that raises, or a describer, never breaks the session."""

    def broken() -> object:
        raise OSError("no such thing")

    def show(key: object, before: object, after: object) -> str:
        raise ValueError

    kinds = [
        state_kinds.Kind("broken", broken, state_kinds.VALUE, show),
        state_kinds.Kind("shown", lambda: 0, state_kinds.VALUE, show),
    ]
    state = state_kinds.ProcessState()
    state.kinds, state._getters = tuple(kinds), (broken, lambda: 0)
    snapshot = state.snapshot()
    assert snapshot == (state_kinds.UNREADABLE, 0)
    after = (1, 1)
    found = state_kinds.compare(kinds, snapshot, after)
    assert [(c.kind, c.text) for c in found] == [("shown", "0 -> 1")]
