"""Fidelity: an isolated run prints and writes what the same run in process does.

A differential corpus.  Each case is a few of the inline test files below and a
set of report-affecting pytest options.  For each case and start method, the
same files run with the same options twice: once with ``--no-isolation``
(pytest's own behaviour, the reference; made once per case and worker) and
once with ``--isolated --isolated-start=<method>``.  Then the whole terminal text after the header,
the exit code and stderr, each JUnit XML test element and the ``--log-file``
are compared, after normalising only what differs from run to run: durations,
pids, temporary paths, timestamps in the log file, and the line that
pytest-isolated adds on purpose under ``-v``.  Nothing else is forgiven: a
difference fails the test with a unified diff of the two normalised texts.

Each reference run is checked for the text its case is about (``expect``), so
that no case compares two runs that never exercised the option.

The same corpus runs again with both runs under pytest-xdist (``-n 2``, the
``xdist`` variant, with the fork server): the reports then travel on from a
worker to xdist's controller, which writes the terminal and the JUnit XML.
"""

from __future__ import annotations

import difflib
import os
import re
import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import START_METHODS

#: Bound on every sub-run: a regression must fail the test, not hang the suite.
RUN_TIMEOUT = 120.0

PYTEST_MAJOR = int(pytest.__version__.split(".")[0])

JUNIT_XML = "junit.xml"
LOG_FILE = "run.log"

# -- the corpus ----------------------------------------------------------------

#: Test files by path.  ``test_outcomes.py`` and ``test_scopes.py`` run as one
#: subprocess per module (a module marker, ignored under ``--no-isolation``);
#: every other file's tests run one subprocess each under ``--isolated``.
FILES: dict[str, str] = {
    "test_outcomes.py": """
        import logging
        import sys

        import pytest

        pytestmark = pytest.mark.isolated

        log = logging.getLogger("corpus")


        class Interrupted(BaseException):
            pass


        @pytest.fixture
        def broken_setup():
            print("stdout of a setup that breaks")
            raise RuntimeError("setup broke")


        @pytest.fixture
        def broken_teardown():
            yield "resource"
            print("stdout of a teardown that breaks")
            raise RuntimeError("teardown broke")


        def total(numbers):
            result = sum(numbers)
            return result


        def test_passes():
            print("stdout of a passing test")


        def test_assertion_rewrite():
            expected = {"name": "corpus", "items": [1, 2, 3], "size": 3}
            actual = {"name": "corpus", "items": [1, 2, 4], "size": 3}
            print("stdout of a failing test")
            sys.stderr.write("stderr of a failing test\\n")
            log.warning("warning logged by a failing test")
            log.info("info logged by a failing test")
            log.debug("debug logged by a failing test")
            assert actual == expected


        def test_nested_call():
            numbers = [1, 2]
            assert total(numbers) == 4


        def test_setup_error(broken_setup):
            pass


        def test_teardown_error(broken_teardown):
            assert broken_teardown == "resource"


        def test_system_exit():
            code = 3
            raise SystemExit(code)


        def test_base_exception():
            raise Interrupted("raised by the test itself")


        def test_skip():
            pytest.skip("skipped on purpose")


        @pytest.mark.xfail(reason="a known bug")
        def test_xfail():
            assert 1 == 2


        @pytest.mark.xfail(reason="fixed since")
        def test_xpass():
            pass
        """,
    "test_scopes.py": """
        import pytest

        pytestmark = pytest.mark.isolated


        @pytest.fixture(scope="session")
        def session_resource():
            yield "session"


        @pytest.fixture(scope="module")
        def module_resource(session_resource):
            yield "module"


        @pytest.fixture(scope="class")
        def class_resource(module_resource):
            return "class"


        @pytest.fixture(params=["one", "two"])
        def flavour(request):
            return request.param


        class TestScopes:
            @pytest.mark.parametrize("number", [1, 2])
            def test_parametrised(self, class_resource, number):
                assert class_resource == "class"


        def test_flavours(flavour, module_resource):
            assert flavour != "two"
        """,
    "test_capture.py": """
        import logging
        import os
        import sys


        def test_capsys(capsys):
            print("to stdout")
            sys.stderr.write("to stderr\\n")
            out, err = capsys.readouterr()
            assert (out, err) == ("to stdout\\n", "to stderr\\n")
            print("stdout after readouterr")


        def test_capfd(capfd):
            os.write(1, b"to fd 1\\n")
            os.write(2, b"to fd 2\\n")
            out, err = capfd.readouterr()
            assert (out, err) == ("to fd 1\\n", "to fd 2\\n")
            os.write(1, b"fd 1 after readouterr\\n")


        def test_caplog(caplog):
            with caplog.at_level(logging.INFO):
                logging.getLogger("corpus").info("info for caplog")
            assert caplog.messages == ["info for caplog"]
            assert caplog.records[0].levelname == "INFO"


        def test_capture_fails():
            print("stdout before failing")
            sys.stderr.write("stderr before failing\\n")
            logging.getLogger("corpus").error("error logged before failing")
            assert "stdout" == "something else"
        """,
    "test_live.py": """
        def test_capsys_disabled(capsys):
            print("captured before")
            with capsys.disabled():
                print("printed live, past the capture")
            print("captured after")


        def test_next():
            pass
        """,
    "test_warns.py": """
        import warnings

        import pytest


        def test_pytest_warns():
            with pytest.warns(UserWarning, match="expected"):
                warnings.warn("an expected warning", UserWarning)


        def test_recwarn(recwarn):
            warnings.warn("recorded", DeprecationWarning)
            assert len(recwarn) == 1
            assert str(recwarn.pop(DeprecationWarning).message) == "recorded"


        def test_unhandled_warning():
            warnings.warn("left for the warnings summary", UserWarning)


        def test_did_not_warn():
            with pytest.warns(RuntimeWarning):
                warnings.warn("a warning of the wrong class", UserWarning)
        """,
    "test_properties.py": """
        import pytest


        @pytest.fixture
        def stage(record_property):
            # A failing test's arguments show in its traceback: a string's repr,
            # unlike record_property's, holds no address.
            record_property("stage", "before the failure")
            return "failing"


        def test_record_property(record_property):
            record_property("answer", 42)
            record_property("label", "text")


        def test_record_property_fails(stage):
            assert stage == "passing"
        """,
    "test_xml_attribute.py": """
        def test_record_xml_attribute(record_xml_attribute):
            record_xml_attribute("assertions", "2")
            record_xml_attribute("classname", "custom.classname")
        """,
    "test_suite_property.py": """
        def test_record_testsuite_property(record_testsuite_property):
            record_testsuite_property("build", "1234")
            record_testsuite_property("stage", "ci")
        """,
    "test_subtests.py": """
        import pytest


        class Checks:
            \"\"\"The subtests fixture, under a repr that holds no address (a
            failing test's arguments show in its traceback).\"\"\"

            def __init__(self, subtests):
                self.test = subtests.test

            def __repr__(self):
                return "<checks>"


        @pytest.fixture
        def checks(subtests):
            return Checks(subtests)


        def test_subtests(checks):
            for number in range(4):
                with checks.test(msg="even", number=number):
                    assert number % 2 == 0
            print("stdout after the subtests")


        def test_subtests_pass(checks):
            with checks.test(msg="fine"):
                pass
        """,
    "doctested.py": """
        def add(a, b):
            \"\"\"Add.

            >>> add(1, 2)
            4
            \"\"\"
            return a + b
        """,
    "hooked/conftest.py": """
        def pytest_runtest_logreport(report):
            if report.when == "call":
                report.sections.append(
                    ("added by a logreport hook", f"outcome: {report.outcome}")
                )
        """,
    "hooked/test_hooked.py": """
        def test_hooked_fails():
            assert 2 * 2 == 5


        def test_hooked_passes():
            pass
        """,
}


def line_of(name: str, text: str) -> int:
    """The line number of *text* in the corpus file *name*."""
    lines = textwrap.dedent(FILES[name]).lstrip("\n").splitlines()
    return next(n for n, line in enumerate(lines, 1) if text in line)


OUTCOMES = ("test_outcomes.py",)
OUTCOMES_SCOPES = ("test_outcomes.py", "test_scopes.py")
OUTCOMES_CAPTURE = ("test_outcomes.py", "test_capture.py")


@dataclass(frozen=True)
class Case:
    """Some of the corpus's files, run with some options."""

    name: str
    files: tuple[str, ...]
    args: tuple[str, ...] = ()
    #: Text the reference run must hold (its terminal, JUnit or log text).
    expect: tuple[str, ...] = ()
    min_pytest: int = 0
    #: The same under pytest-xdist, where it differs (None: ``expect``).  Its
    #: workers show no live output (``--setup-show``, live logs,
    #: ``capsys.disabled()``) and its controller writes no
    #: ``record_xml_attribute`` or ``record_testsuite_property``: those cases
    #: then compare what is left, which must still agree.
    xdist_expect: tuple[str, ...] | None = None
    #: Whether the case runs under pytest-xdist too.
    under_xdist: bool = True

    def expected(self, xdist: bool) -> tuple[str, ...]:
        if xdist and self.xdist_expect is not None:
            return self.xdist_expect
        return self.expect

    @property
    def verbose(self) -> bool:
        """Run verbosely: -v, or live logs, which imply it."""
        return any(re.fullmatch(r"-v+|--verbose|log_cli=true", a) for a in self.args)

    @property
    def junit(self) -> bool:
        return f"--junitxml={JUNIT_XML}" in self.args

    @property
    def log_file(self) -> bool:
        return f"--log-file={LOG_FILE}" in self.args


JUNIT = f"--junitxml={JUNIT_XML}"
NESTED_CALL = line_of("test_outcomes.py", "assert total(numbers) == 4")

#: Each --tb style, with a line of its own that the reference run must show.
TB_STYLES: dict[str, tuple[str, ...]] = {
    "auto": (">       assert total(numbers) == 4",),
    "long": (">       assert total(numbers) == 4",),
    "short": (f"test_outcomes.py:{NESTED_CALL}: in test_nested_call",),
    "line": (f"test_outcomes.py:{NESTED_CALL}: assert 3 == 4",),
    "native": ("Traceback (most recent call last):",),
    "no": (),
}

CASES = [
    Case(
        "default",
        (*OUTCOMES_SCOPES, "test_capture.py", "test_warns.py"),
        expect=(
            # A BaseException of the test's own, reported at the test's line.
            "E       SystemExit: 3",
            f"test_outcomes.py:{line_of('test_outcomes.py', 'SystemExit(code)')}: "
            "SystemExit",
            "E       test_outcomes.Interrupted: raised by the test itself",
            f"test_outcomes.py:{line_of('test_outcomes.py', 'raise Interrupted')}: "
            "Interrupted",
        ),
    ),
    *(
        Case(f"tb-{style}", OUTCOMES, (f"--tb={style}",), expect=expected)
        for style, expected in TB_STYLES.items()
    ),
    Case("showlocals", OUTCOMES, ("-l",), expect=("numbers    = [1, 2]",)),
    Case(
        "report-A",
        (*OUTCOMES_CAPTURE, "test_warns.py"),
        ("-rA",),
        expect=("PASSED test_outcomes.py::test_passes",),
    ),
    Case("report-fE", OUTCOMES, ("-rfE",), expect=("ERROR test_outcomes.py",)),
    Case("report-xXs", OUTCOMES, ("-rxXs",), expect=("XPASS test_outcomes.py",)),
    *(
        Case(f"show-capture-{what}", OUTCOMES, (f"--show-capture={what}",))
        for what in ("no", "stdout", "all")
    ),
    Case("quiet", OUTCOMES_SCOPES, ("-q",)),
    Case("quiet-quiet", OUTCOMES_SCOPES, ("-qq",)),
    Case(
        "verbose",
        OUTCOMES_SCOPES,
        ("-v",),
        expect=("test_outcomes.py::test_passes PASSED",),
        xdist_expect=("PASSED test_outcomes.py::test_passes",),
    ),
    Case(
        "very-verbose",
        OUTCOMES_SCOPES,
        ("-vv",),
        expect=("test_outcomes.py::test_passes PASSED", "Full diff:"),
        xdist_expect=("PASSED test_outcomes.py::test_passes", "Full diff:"),
    ),
    Case("color", OUTCOMES, ("--color=yes",), expect=("\x1b[",)),
    Case(
        "durations",
        OUTCOMES_SCOPES,
        ("--durations=0", "--durations-min=0"),
        expect=("slowest durations",),
    ),
    Case(
        "setup-show",
        OUTCOMES_SCOPES,
        ("--setup-show",),
        expect=("SETUP    M module",),
        xdist_expect=(),
    ),
    Case(
        "setup-plan",
        OUTCOMES_SCOPES,
        ("--setup-plan",),
        expect=("SETUP    M module",),
        xdist_expect=(),
    ),
    Case(
        "log-cli",
        OUTCOMES_CAPTURE,
        ("-o", "log_cli=true", "--log-cli-level=INFO"),
        expect=("live log call", "info logged by a failing test"),
        xdist_expect=("info logged by a failing test",),
    ),
    Case(
        "log-level-debug",
        OUTCOMES,
        ("--log-level=DEBUG",),
        expect=("debug logged by a failing test",),
    ),
    Case(
        "log-file",
        OUTCOMES_CAPTURE,
        (f"--log-file={LOG_FILE}", "--log-file-level=DEBUG"),
        expect=("debug logged by a failing test",),
        # Every xdist worker opens the one log file and writes it from its own
        # offset: with or without isolation, the lines overwrite each other.
        under_xdist=False,
    ),
    Case(
        "junit-xunit1",
        (*OUTCOMES, "test_properties.py"),
        (JUNIT, "-o", "junit_family=xunit1"),
        expect=('<property name="answer" value="42"',),
    ),
    Case(
        "junit-xunit2",
        (*OUTCOMES, "test_properties.py"),
        (JUNIT, "-o", "junit_family=xunit2"),
        expect=('<property name="answer" value="42"',),
    ),
    Case(
        "junit-logging-all",
        OUTCOMES_CAPTURE,
        (JUNIT, "-o", "junit_logging=all"),
        expect=("<system-err", "warning logged by a failing test"),
    ),
    Case(
        "junit-logging-system-out",
        OUTCOMES,
        (JUNIT, "-o", "junit_logging=system-out"),
        expect=("<system-out",),
    ),
    Case(
        "junit-xml-attribute",
        ("test_xml_attribute.py",),
        (JUNIT, "-o", "junit_family=xunit1"),
        expect=('classname="custom.classname"',),
        xdist_expect=(),
    ),
    Case(
        "junit-testsuite-property",
        ("test_suite_property.py",),
        (JUNIT,),
        expect=('<property name="build" value="1234"',),
        xdist_expect=(),
    ),
    Case("capture", ("test_capture.py",), expect=("stdout before failing",)),
    Case(
        "capsys-disabled",
        ("test_live.py",),
        expect=("printed live, past the capture",),
        xdist_expect=(),
    ),
    Case("warnings", ("test_warns.py",), expect=("left for the warnings summary",)),
    Case(
        "subtests",
        ("test_subtests.py",),
        expect=("number=1",),
        min_pytest=9,
        # Rebuilt in the controller, a subtest's values are quoted once more.
        xdist_expect=("number='1'",),
    ),
    Case(
        "subtests-verbose",
        ("test_subtests.py",),
        ("-v", "-rA"),
        expect=("number=1",),
        min_pytest=9,
        # Rebuilt in the controller, a subtest's values are quoted once more.
        xdist_expect=("number='1'",),
    ),
    *(
        # A doctest's failure has no crash line: no message in the summary.
        Case(
            f"doctest{suffix}",
            ("doctested.py",),
            ("--doctest-modules", *args),
            expect=("FAILED doctested.py::doctested.add\n",),
            # pytest-xdist's controller shows the text's first line there.
            xdist_expect=(),
        )
        for suffix, args in (("", ()), ("-very-verbose", ("-vv",)))
    ),
    Case(
        "logreport-hook",
        ("hooked/conftest.py", "hooked/test_hooked.py"),
        ("-rA",),
        expect=("added by a logreport hook",),
    ),
]

# -- normalisation -------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*m")
COLLECTED = re.compile(
    r"(collecting \.\.\. )?collected \d+ items?\b|\d+ workers? \[\d+ items?\]"
)
#: The session's duration in the last line: "in 0.12s" and "(0:00:01)".
SESSION_TIME = re.compile(r"\bin \d+(?:\.\d+)?s\b(?: \(\d+:\d\d:\d\d\))?")
#: A figure of --durations: "0.01s call     test_x.py::test_a".
DURATION_LINE = re.compile(r"^\d+\.\d\ds (?=(setup|call|teardown) )")
DURATIONS_HEADER = re.compile(r"=+ slowest (\d+ )?durations =+")
PID = re.compile(r"\bpid[ =]\d+")
#: Which pytest-xdist worker ran a test ("[gw1] PASSED ..."): whichever was free.
WORKER = re.compile(r"\[gw\d+\]")
BASETEMP = re.compile(r"pytest-of-[^/\\\s]+([/\\])pytest-\d+")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?")
#: The scheduler pytest-xdist names under -v: pytest-isolated's own, on purpose.
XDIST_SCHEDULER = re.compile(r"^scheduling tests via \w+$")


class Normaliser:
    """Replaces what differs from run to run, and nothing else."""

    def __init__(self, path: Path) -> None:
        self.paths = sorted({str(path), os.path.realpath(path)}, key=len, reverse=True)

    def text(self, line: str) -> str:
        for path in self.paths:
            line = line.replace(path, "<DIR>")
        line = BASETEMP.sub(r"pytest-of-<USER>\1pytest-<N>", line)
        line = WORKER.sub("[gw<N>]", line)
        return PID.sub("pid <PID>", line)

    def terminal(self, lines: list[str], verbose: bool) -> list[str]:
        out: list[str] = []
        in_durations = False
        block: list[str] = []
        for raw in lines:
            plain = ANSI.sub("", raw)
            if verbose and XDIST_SCHEDULER.match(plain):
                continue
            line = self.text(raw)
            if SESSION_TIME.search(line):
                # The separator's fill depends on the length of the figure.
                line = re.sub(r"={2,}", "==", SESSION_TIME.sub("in <T>s", line))
            if in_durations:
                if DURATION_LINE.match(line):
                    block.append(DURATION_LINE.sub("<T>s ", line))
                    continue
                # The figures order the lines: order them by their text instead.
                out.extend(sorted(block))
                block, in_durations = [], False
            if DURATIONS_HEADER.match(plain):
                in_durations = True
            out.append(line)
        out.extend(sorted(block))
        return out


def after_header(lines: list[str]) -> list[str]:
    """The lines after the "collected N items" line (all of them under -q,
    which prints no header)."""
    for index, line in enumerate(lines):
        if COLLECTED.match(ANSI.sub("", line)):
            return lines[index + 1 :]
    return lines


def junit_lines(path: Path, normalise: Normaliser) -> list[str]:
    """Each test suite's attributes (but times, timestamp, hostname) and
    properties, and each test element's whole content (but its time)."""
    root = ET.parse(path).getroot()
    out: list[str] = []
    for suite in root.iter("testsuite"):
        attributes = {
            key: value
            for key, value in suite.attrib.items()
            if key not in ("time", "timestamp", "hostname")
        }
        out.append(f"<testsuite {sorted(attributes.items())}>")
        for child in suite:
            out.extend(element_lines(child, normalise, 1))
    return out


def element_lines(element: ET.Element, normalise: Normaliser, depth: int) -> list[str]:
    indent = "  " * depth
    attributes = {
        key: normalise.text(value)
        for key, value in element.attrib.items()
        if not (element.tag == "testcase" and key == "time")
    }
    out = [f"{indent}<{element.tag} {sorted(attributes.items())}>"]
    if element.text:
        out.extend(
            f"{indent}  | {normalise.text(line)}" for line in element.text.splitlines()
        )
    for child in element:
        out.extend(element_lines(child, normalise, depth + 1))
        if child.tail:
            out.append(f"{indent}  tail {normalise.text(child.tail)!r}")
    return out


def log_file_lines(path: Path, normalise: Normaliser) -> list[str]:
    text = path.read_text(encoding="utf-8") if path.exists() else "<no log file>"
    return [normalise.text(TIMESTAMP.sub("<TIME>", line)) for line in text.splitlines()]


# -- the runs ------------------------------------------------------------------


@dataclass
class Outputs:
    """One sub-run's normalised outputs, by name."""

    parts: dict[str, list[str]]
    #: The terminal text and the files as written, for the case's ``expect``.
    raw: str


def write_corpus(pytester: pytest.Pytester, case: Case) -> None:
    for name in case.files:
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(FILES[name]).lstrip("\n"), encoding="utf-8")


def sub_run(pytester: pytest.Pytester, case: Case, *mode: str) -> Outputs:
    for name in (JUNIT_XML, LOG_FILE, TURN_FILE):
        (pytester.path / name).unlink(missing_ok=True)
    result = pytester.runpytest_subprocess(*case.args, *mode, timeout=RUN_TIMEOUT)
    normalise = Normaliser(pytester.path)
    parts = {
        "terminal": [
            *normalise.terminal(after_header(result.outlines), case.verbose),
            f"<exit code {result.ret}>",
        ],
        "stderr": normalise.terminal(result.errlines, case.verbose),
    }
    raw = [result.stdout.str()]
    if case.junit:
        xml = pytester.path / JUNIT_XML
        parts["junit"] = junit_lines(xml, normalise) if xml.exists() else ["<no xml>"]
        raw.append(xml.read_text(encoding="utf-8") if xml.exists() else "")
    if case.log_file:
        parts["log file"] = log_file_lines(pytester.path / LOG_FILE, normalise)
        raw.append("\n".join(parts["log file"]))
    return Outputs(parts, "\n".join(raw))


def differences(baseline: Outputs, isolated: Outputs, method: str) -> Iterator[str]:
    for name, expected in baseline.parts.items():
        actual = isolated.parts[name]
        if actual != expected:
            diff = difflib.unified_diff(
                expected,
                actual,
                fromfile=f"{name}, in process (--no-isolation)",
                tofile=f"{name}, isolated (--isolated-start={method})",
                lineterm="",
            )
            yield "\n".join(diff)


#: The pytest-xdist variant: the same comparison with both runs under ``-n 2``.
#: The output of two workers interleaves at random, and a differential needs
#: two runs that can agree line for line: a conftest of the variant's own
#: makes the workers take turns, in collection order.  The controller counts
#: the tests it has reported (``pytest_runtest_logfinish``); a worker starts
#: the test of index N once N tests are reported.  The tests are still shared
#: out between the workers as ``--dist load`` does (in collection order: a
#: group of several tests makes it scope-based, and ``--no-loadscope-reorder``
#: keeps xdist from handing out the largest scopes first), and their reports
#: travel from a worker to the controller, which writes the terminal and the
#: JUnit XML.
XDIST_ARGS = ("-p", "xdist", "-n", "2", "--no-loadscope-reorder")
TURN_FILE = ".turn"
XDIST_CONFTEST = f"""
import os
import time

import pytest

TURN = os.path.join(os.path.dirname(os.path.abspath(__file__)), {TURN_FILE!r})
WORKER = "PYTEST_XDIST_WORKER" in os.environ
ISOLATED = "PYTEST_RUNNING_IN_SUBPROCESS" in os.environ
reported = 0


def turn():
    try:
        with open(TURN) as f:
            return int(f.read() or 0)
    except (OSError, ValueError):
        return 0


def pytest_runtest_logfinish(nodeid):
    global reported
    if WORKER or ISOLATED:
        return
    reported += 1
    partial = TURN + ".partial"
    with open(partial, "w") as f:
        f.write(str(reported))
    os.replace(partial, TURN)


# A wrapper: pytest-isolated's own implementation of the hook, which runs an
# isolated test, ends the hook call.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if WORKER and not ISOLATED:
        index = item.session.items.index(item)
        deadline = time.monotonic() + 60
        while turn() < index and time.monotonic() < deadline:
            time.sleep(0.005)
    return (yield)
"""
#: Under xdist each case runs with one start method, the methods taking turns
#: from case to case: every method is checked under xdist, at the cost of one
#: run per case (each of its runs starts two workers).


@dataclass(frozen=True)
class Variant:
    name: str
    args: tuple[str, ...] = ()

    @property
    def xdist(self) -> bool:
        return bool(self.args)


PLAIN = Variant("plain")
XDIST = Variant("xdist", XDIST_ARGS)

#: Each case's reference run, made once per variant and worker process: it is
#: the same for every start method (its directory, the only thing that
#: differs, is normalised away).
BASELINES: dict[tuple[str, str], Outputs] = {}


def baseline_of(pytester: pytest.Pytester, case: Case, variant: Variant) -> Outputs:
    key = (case.name, variant.name)
    if key not in BASELINES:
        baseline = sub_run(pytester, case, *variant.args, "--no-isolation")
        expected = case.expected(variant.xdist)
        missing = [text for text in expected if text not in baseline.raw]
        assert not missing, f"the reference run lacks {missing}:\n{baseline.raw}"
        BASELINES[key] = baseline
    return BASELINES[key]


def params() -> Iterator[object]:
    for case in CASES:
        for method in START_METHODS:
            yield pytest.param(case, PLAIN, method, id=f"{case.name}-{method}")
    under_xdist = [c for c in CASES if c.under_xdist]
    for index, case in enumerate(under_xdist):
        method = START_METHODS[index % len(START_METHODS)]
        yield pytest.param(case, XDIST, method, id=f"{case.name}-xdist-{method}")


@pytest.mark.parametrize(("case", "variant", "method"), list(params()))
def test_isolated_output_is_the_in_process_output(
    pytester: pytest.Pytester, case: Case, variant: Variant, method: str
) -> None:
    if case.min_pytest > PYTEST_MAJOR:
        pytest.skip(
            f"{case.name} needs pytest {case.min_pytest} or newer; "
            f"this is pytest {pytest.__version__}"
        )
    write_corpus(pytester, case)
    if variant.xdist:
        pytester.makeconftest(XDIST_CONFTEST)
    baseline = baseline_of(pytester, case, variant)
    isolated = sub_run(
        pytester,
        case,
        *variant.args,
        "--isolated",
        f"--isolated-start={method}",
    )
    diffs = list(differences(baseline, isolated, method))
    if diffs:
        __tracebackhide__ = True
        raise AssertionError(
            f"{case.name} under --isolated-start={method} differs from the "
            f"in-process run ({' '.join(case.args) or 'no options'}"
            f"{', ' + ' '.join(variant.args) if variant.xdist else ''}):\n"
            + "\n\n".join(diffs)
        )


#: What --isolated-usage adds: the table's header, its "by ...:" lines, its
#: rows and the count of subprocesses.
USAGE_LINES = re.compile(
    r"^(=+ isolated groups: (top \d+|all) by peak memory and CPU =+"
    r"|by (peak RSS|CPU time):"
    r"|\s*[\d.]+ [KMG]iB\s+[\d.]+s cpu  \S+"
    r"|pytest-isolated: \d+ subprocess\(es\) for \d+ group\(s\), [\d.]+s in total)$"
)
USAGE_PROPERTY = re.compile(
    r"^\s*<property \[\('name', 'isolated_(peak_rss_mib|cpu_s)'\)"
)


def without_usage_properties(lines: list[str]) -> list[str]:
    """*lines* of junit_lines() without the usage properties, nor a
    ``<properties>`` element they leave empty."""
    kept = [line for line in lines if not USAGE_PROPERTY.match(line)]
    depth = [len(line) - len(line.lstrip()) for line in kept]
    return [
        line
        for i, line in enumerate(kept)
        if not line.lstrip().startswith("<properties ")
        or (i + 1 < len(kept) and depth[i + 1] > depth[i])
    ]


@pytest.mark.parametrize("method", START_METHODS)
def test_isolated_usage_adds_its_table_and_properties_and_nothing_else(
    pytester: pytest.Pytester, method: str
) -> None:
    """Asked for, the usage table and JUnit properties are there; without
    them, the isolated run is the in-process run, line for line."""
    case = Case("usage", OUTCOMES, ("-v", JUNIT))
    write_corpus(pytester, case)
    baseline = sub_run(pytester, case, "--no-isolation")
    isolated = sub_run(
        pytester,
        case,
        "--isolated",
        f"--isolated-start={method}",
        "--isolated-usage=0",
        "-o",
        "isolated_junit_usage=true",
    )
    added = [line for line in isolated.parts["terminal"] if USAGE_LINES.match(line)]
    assert added[0].startswith("=")
    assert "isolated groups: all" in added[0]
    assert added[-1].startswith("pytest-isolated: ")
    properties = [p for p in isolated.parts["junit"] if USAGE_PROPERTY.match(p)]
    assert properties
    isolated.parts["terminal"] = [
        line for line in isolated.parts["terminal"] if not USAGE_LINES.match(line)
    ]
    isolated.parts["junit"] = without_usage_properties(isolated.parts["junit"])
    assert list(differences(baseline, isolated, method)) == []
