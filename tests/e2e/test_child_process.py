"""What a test sees of its own process is what it sees in pytest's process.

Each test here runs the same file isolated (every start method) and with
``--no-isolation``, and compares what the test saw: the encoding of its
output streams, its threads, its standard input, what reaches the terminal
past a disabled capture, a module that skips itself.
"""

from __future__ import annotations

import sys

import pytest

posix_only = pytest.mark.skipif(
    sys.platform == "win32", reason="the test uses POSIX pipes and fds"
)


def seen(result: pytest.RunResult, mark: str = "SEEN") -> list[str]:
    """The lines a sub-run's tests printed with *mark*, in order (the first
    one may follow a progress line's file name)."""
    return [
        f"{mark}:" + line.split(f"{mark}:", 1)[1]
        for line in result.outlines
        if f"{mark}:" in line
    ]


def both(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, ...]:
    """The same files run in pytest's process, then isolated."""
    plain = pytester.runpytest_subprocess("--no-isolation", *args)
    isolated = pytester.runpytest_subprocess(*args)
    return plain, isolated


def seen_in_both(pytester: pytest.Pytester, passed: int) -> list[str]:
    """What the passing tests printed (``-rP``), the same in both runs."""
    plain, isolated = both(pytester, "-rP")
    plain.assert_outcomes(passed=passed)
    isolated.assert_outcomes(passed=passed)
    assert seen(isolated) == seen(plain)
    return seen(plain)


ENCODING = """
import sys
import pytest

pytestmark = pytest.mark.isolated

def test_prints(capsys):
    with capsys.disabled():
        print("SEEN: stdout", sys.stdout.encoding, sys.stdout.errors)
        print("SEEN: stderr", sys.stderr.encoding, sys.stderr.errors)
        print("SEEN: stdin", sys.stdin.encoding)
    print("café ✓")
    print("ütf ✓", file=sys.stderr)
    out, err = capsys.readouterr()
    assert (out, err) == ("café ✓\\n", "ütf ✓\\n")

def test_output_fails():
    print("SEEN-OUT café ✓ " + repr(sys.stdout.encoding))
    sys.stderr.write("SEEN-ERR ütf ✓\\n")
    assert 0
"""


@pytest.mark.parametrize(
    "environment",
    [{"PYTHONIOENCODING": "latin-1"}, {"LC_ALL": "C", "PYTHONUTF8": "0"}],
    ids=["latin-1", "C-locale"],
)
def test_output_is_encoded_as_pytests_capture_encodes_it(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    every_start_method: str,
    environment: dict[str, str],
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    pytester.makepyfile(test_enc=ENCODING)
    plain, isolated = both(pytester)
    plain.assert_outcomes(passed=1, failed=1)
    isolated.assert_outcomes(passed=1, failed=1)
    assert seen(isolated) == seen(plain)
    assert seen(plain)[0].startswith("SEEN: stdout ")  # the interpreter's own
    captured = [
        line
        for line in plain.outlines
        if line.startswith(("SEEN-OUT", "SEEN-ERR")) or "\ufffd" in line
    ]
    assert len(captured) == 2
    assert captured[0].endswith("'utf-8'")  # pytest's capture, whatever the locale
    assert captured == [
        line
        for line in isolated.outlines
        if line.startswith(("SEEN-OUT", "SEEN-ERR")) or "\ufffd" in line
    ]


THREADS = """
import os, sys, threading, warnings
import pytest

pytestmark = pytest.mark.isolated

def test_only_the_main_thread():
    names = [t.name for t in threading.enumerate()]
    print("SEEN:", threading.active_count(), names)
    assert threading.active_count() == 1

@pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork() here")
def test_forks_without_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # 3.12+: fork() of a threaded process
        pid = os.fork()
        if pid == 0:
            os._exit(0)
    assert os.waitpid(pid, 0)[1] == 0
    assert [str(w.message) for w in caught] == []
"""


def test_a_test_runs_in_a_single_threaded_process(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    pytester.makepyfile(test_threads=THREADS)
    assert seen_in_both(pytester, passed=2) == ["SEEN: 1 ['MainThread']"]


TEMPDIR = """
import tempfile
import pytest

@pytest.mark.isolated
def test_tempdir_is_resolved_before_the_test():
    print("SEEN:", tempfile.tempdir is not None)
"""


def test_tempfile_s_directory_is_resolved_before_a_test(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    """pytest's capture resolves tempfile's directory as its process starts;
    a test's first temporary file makes no extra probe in a child either."""
    pytester.makepyfile(test_tempdir=TEMPDIR)
    assert seen_in_both(pytester, passed=1) == ["SEEN: True"]


PLUGIN_MODULES = """
import sys
import pytest

@pytest.mark.isolated
def test_modules():
    names = ("_pytest.pastebin", "_pytest.junitxml", "_pytest.setuponly")
    print("SEEN:", [name in sys.modules for name in names])
"""


@pytest.mark.parametrize("blocked", [None, "pastebin", "junitxml"])
def test_a_child_imports_the_plugins_that_its_command_line_loads(
    pytester: pytest.Pytester, every_start_method: str, blocked: str | None
) -> None:
    """A child imports pytest's plugins as it starts, before its group is
    known (a pre-started one while it waits), but not those ``-p no:NAME``
    blocks: the tests see the modules a pytest of their command line has."""
    pytester.makepyfile(test_plugin_modules=PLUGIN_MODULES)
    args = ("-p", f"no:{blocked}") if blocked else ()
    plain, isolated = both(pytester, "-rP", *args)
    plain.assert_outcomes(passed=1)
    isolated.assert_outcomes(passed=1)
    expected = [blocked != "pastebin", blocked != "junitxml", True]
    assert seen(isolated) == seen(plain) == [f"SEEN: {expected}"]


STDIN = """
import os, sys
import pytest

pytestmark = pytest.mark.isolated

@pytest.fixture
def piped_stdin(monkeypatch):
    read_end, write_end = os.pipe()
    monkeypatch.setattr(sys, "stdin", os.fdopen(read_end))
    return write_end

def test_reads_what_it_wrote(piped_stdin):
    os.write(piped_stdin, b"hello\\n")
    os.close(piped_stdin)
    print("SEEN:", repr(sys.stdin.read()))

def test_after():
    print("SEEN:", type(sys.stdin).__name__ in ("DontReadFromInput", "NoStdin"))
"""


@posix_only
def test_a_fixture_may_put_a_pipe_on_stdin(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    pytester.makepyfile(test_stdin=STDIN)
    assert seen_in_both(pytester, passed=2) == ["SEEN: 'hello\\n'", "SEEN: True"]


DISABLED = """
import os, sys
import pytest

pytestmark = pytest.mark.isolated

def test_capfd_disabled(capfd):
    print("captured before")
    with capfd.disabled():
        os.write(1, b"SEEN: fd 1\\n")
        print("SEEN: print")
        os.write(2, b"SEEN: fd 2\\n")
        print("SEEN: print to stderr", file=sys.stderr)
    print("captured after")
    assert capfd.readouterr().out == "captured before\\ncaptured after\\n"

def test_capsys_disabled(capsys):
    with capsys.disabled():
        print("SEEN: capsys")

def test_quiet():
    print("SEEN: never shown")
"""


@posix_only
def test_what_a_test_writes_inside_a_disabled_capture_reaches_the_terminal(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    pytester.makepyfile(test_disabled=DISABLED)
    plain, isolated = both(pytester)
    plain.assert_outcomes(passed=3)
    isolated.assert_outcomes(passed=3)

    # In pytest's process fd 2 is the terminal's stderr; a child's reaches
    # the terminal, in the order it was written, on stdout.
    def lines(result: pytest.RunResult, outlines: list[str]) -> list[str]:
        return [line.split("SEEN: ", 1)[1] for line in outlines if "SEEN" in line]

    assert lines(plain, plain.outlines) == ["fd 1", "print", "capsys"]
    assert lines(plain, plain.errlines) == ["fd 2", "print to stderr"]
    assert lines(isolated, isolated.outlines) == [
        "fd 1",
        "print",
        "fd 2",
        "print to stderr",
        "capsys",
    ]


MODULE_SKIP = """
import os
import pytest

if os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS"):
    pytest.skip("only in pytest's own process", allow_module_level=True)

pytestmark = pytest.mark.isolated(group="skipped")

def test_one():
    pass

def test_two():
    pass
"""

IMPORT_SKIP = """
import os
import pytest

if os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS"):
    pytest.importorskip("no_such_module_here")

@pytest.mark.isolated
def test_three():
    pass
"""


def test_a_module_that_skips_itself_only_in_the_child_is_skipped(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    every_start_method: str,
) -> None:
    pytester.makepyfile(test_modskip=MODULE_SKIP, test_impskip=IMPORT_SKIP)
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(skipped=3)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1] test_impskip.py:5: could not import 'no_such_module_here'*",
            "SKIPPED [[]2] test_modskip.py:5: only in pytest's own process",
        ]
    )
    result.stdout.no_fnmatch_line("*not collected*")
    # What pytest itself says where the condition holds: one skip per module.
    monkeypatch.setenv("PYTEST_RUNNING_IN_SUBPROCESS", "1")
    plain = pytester.runpytest_subprocess("--no-isolation", "-rs")
    plain.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1] test_impskip.py:5: could not import 'no_such_module_here'*",
            "SKIPPED [[]1] test_modskip.py:5: only in pytest's own process",
        ]
    )


MANY_THREADS = """
import threading
import pytest

@pytest.mark.isolated(mem_limit="256M")
def test_threads():
    stop = threading.Event()
    threads = [threading.Thread(target=stop.wait) for _ in range(64)]
    try:
        for t in threads:
            t.start()
    finally:
        stop.set()
        for t in threads:
            if t.is_alive():
                t.join()
"""


@pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="RLIMIT_DATA counts thread stacks on Linux; elsewhere the address space",
)
def test_threads_past_the_memory_limit_say_that_stacks_count(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    pytester.makepyfile(test_threads=MANY_THREADS)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E * can't start new thread",
            "*- isolated: memory limit -*",
            "The group's memory limit is 256 MiB, * Every thread's stack counts "
            "against it in full *threading.stack_size().",
        ]
    )
