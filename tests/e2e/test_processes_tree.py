"""No process escapes: what a group started is killed and named when the group
ends, crashes, times out, is interrupted or loses its pytest; and a timeout
shows the native stacks of the hung subprocess."""

from __future__ import annotations

import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from helpers.processes import alive, interrupt, pytest_until_ready

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="a subreaper (PR_SET_CHILD_SUBREAPER) exists on Linux only",
)
pytestmark = [linux_only, pytest.mark.usefixtures("every_start_method")]

DEBUGGER = next(
    (name for name in ("gdb", "lldb", "eu-stack") if shutil.which(name)), None
)


def daemon_source(pidfile: Path) -> str:
    """A function that starts a daemon (double fork after setsid()), the way
    daemons and ``start_new_session=True`` leave a session, and writes its pid."""
    return f"""
import os, subprocess, sys, time

def start_daemon():
    code = (
        "import os, subprocess, sys; os.setsid(); "
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(p.pid)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    pid = int(out.stdout)
    with open({str(pidfile)!r}, "w") as f:
        f.write(str(pid))
    return pid
"""


def gone(pid: int, within: float = 10.0) -> bool:
    deadline = time.monotonic() + within
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not alive(pid)


#: An in-process test file, run after the isolated ones (test_x.py): pytest's
#: process, a subreaper, reaped every process it killed.
NO_ZOMBIE = """
def test_no_zombie_is_left_in_pytest():
    import os
    me, zombies = str(os.getpid()), []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        state, ppid = stat.rsplit(") ", 1)[1].split()[:2]
        if ppid == me and state == "Z":
            zombies.append(entry)
    assert zombies == []
"""


def test_a_setsid_daemon_is_killed_and_named_after_its_group(
    pytester: pytest.Pytester,
) -> None:
    pidfile = pytester.path / "daemon.pid"
    pytester.makepyfile(
        helper=daemon_source(pidfile),
        test_x="""
        import pytest
        from helper import start_daemon

        pytestmark = pytest.mark.isolated(group="g")

        def test_starts_a_daemon():
            start_daemon()

        def test_last():
            pass
        """,
    )
    result = pytester.runpytest_subprocess("-rA")
    result.assert_outcomes(passed=2)
    pid = int(pidfile.read_text())
    assert gone(pid)
    result.stdout.fnmatch_lines(
        [
            # A teardown section, shown as pytest shows "Captured stdout teardown".
            "*- isolated: leaked processes at teardown -*",
            "1 process(es) still running after the group's last test, killed:",
            f"pid {pid}: * -c import time; time.sleep(60)",
            "*= isolated processes left running, killed =*",
            f"test_x.py::test_last: pid {pid}: * -c import time; time.sleep(60)",
        ]
    )


def test_under_xdist_the_controller_names_what_a_worker_killed(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("xdist")
    pidfile = pytester.path / "daemon.pid"
    pytester.makepyfile(
        helper=daemon_source(pidfile),
        test_x="""
        import pytest
        from helper import start_daemon

        @pytest.mark.isolated
        def test_starts_a_daemon():
            start_daemon()
        """,
    )
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "1")
    result.assert_outcomes(passed=1)
    pid = int(pidfile.read_text())
    assert gone(pid)
    result.stdout.fnmatch_lines(
        [
            "*= isolated processes left running, killed =*",
            f"test_x.py::test_starts_a_daemon: pid {pid}: *time.sleep(60)",
        ]
    )


def test_a_group_that_leaves_nothing_reports_nothing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_x="""
        import multiprocessing, subprocess, sys
        import pytest

        @pytest.mark.isolated
        def test_waits_for_its_subprocess():
            subprocess.run([sys.executable, "-c", "pass"], check=True)

        @pytest.mark.isolated
        def test_uses_a_multiprocessing_lock():
            # The resource tracker lives as long as the interpreter: no leak.
            multiprocessing.get_context("spawn").Lock()
        """
    )
    result = pytester.runpytest_subprocess("-rA")
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*leaked*")
    result.stdout.no_fnmatch_line("*left running*")


def test_a_crash_kills_and_names_the_daemon_it_left(pytester: pytest.Pytester) -> None:
    pidfile = pytester.path / "daemon.pid"
    pytester.makepyfile(
        helper=daemon_source(pidfile),
        test_x="""
        import os
        import pytest
        from helper import start_daemon

        @pytest.mark.isolated
        def test_crashes():
            start_daemon()
            os.abort()
        """,
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    pid = int(pidfile.read_text())
    assert gone(pid)
    result.stdout.fnmatch_lines(
        [
            "*CRASHED with signal 6 (SIGABRT)",
            "*- isolated: leaked processes -*",
            "1 process(es) still running when the subprocess ended, killed:",
            f"pid {pid}: *time.sleep(60)",
        ]
    )


def test_the_parents_own_subprocesses_keep_their_exit_status(
    pytester: pytest.Pytester,
) -> None:
    pidfile = pytester.path / "daemon.pid"
    pytester.makepyfile(
        helper=daemon_source(pidfile),
        test_x="""
        import os, subprocess, sys
        import pytest
        from helper import start_daemon

        started = []

        def test_in_pytest_starts_a_process():
            started.append(subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(7)"]))

        @pytest.mark.isolated
        def test_isolated_crashes_leaving_a_daemon():
            start_daemon()
            os.abort()

        def test_in_pytest_gets_the_exit_status():
            assert started[0].wait() == 7
        """,
        test_zombies=NO_ZOMBIE,
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=3, failed=1)
    assert gone(int(pidfile.read_text()))


@pytest.mark.slow
def test_a_timeout_kills_and_names_a_setsid_grandchild(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pidfile = pytester.path / "daemon.pid"
    pytester.makepyfile(
        helper=daemon_source(pidfile),
        test_x="""
        import time
        import pytest
        from helper import start_daemon

        @pytest.mark.isolated(timeout=3)
        def test_hangs():
            start_daemon()
            time.sleep(60)
        """,
        test_zombies=NO_ZOMBIE,
    )
    # No debugger on PATH: the report says, in one line, how to get one.
    monkeypatch.setenv("PATH", str(pytester.path / "empty"))
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, failed=1)
    pid = int(pidfile.read_text())
    assert gone(pid)
    result.stdout.fnmatch_lines(
        [
            "*the test TIMED OUT after 3s",
            "Stack of every thread shortly before the deadline:",
            '*File "*test_x.py", line 8 in test_hangs',
            "No native stack: install gdb (or lldb, or eu-stack) to see the C stack "
            "of every thread here.",
            "*- isolated: leaked processes -*",
            f"pid {pid}: *time.sleep(60)",
        ]
    )


@pytest.mark.slow
@pytest.mark.skipif(DEBUGGER is None, reason="no gdb, lldb or eu-stack on PATH")
def test_a_timeout_shows_the_native_stack_of_every_thread(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_x="""
        import select, threading, time
        import pytest

        @pytest.mark.isolated(timeout=3)
        def test_hangs():
            threading.Thread(target=select.select, args=([], [], [], 60), daemon=True).start()
            time.sleep(60)
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "Stack of every thread shortly before the deadline:",
            '*File "*test_x.py", line 7 in test_hangs',
            f"Native stack of every thread at the deadline ({DEBUGGER}):",
            "*#0 *nanosleep*",
            "  (the interpreter's own frames omitted)",
        ]
    )
    result.stdout.fnmatch_lines(["*#0 *select*"])
    result.stdout.no_fnmatch_line("*_PyEval_EvalFrameDefault*")


HANGS_WITH_A_DAEMON = """
import time
import pytest
from helper import start_daemon

@pytest.mark.isolated
def test_hangs():
    start_daemon()
    open({ready!r}, "w").close()
    time.sleep(60)
"""


def test_ctrl_c_kills_a_setsid_grandchild(pytester: pytest.Pytester) -> None:
    ready, pidfile = pytester.path / "ready", pytester.path / "daemon.pid"
    pytester.makepyfile(
        helper=daemon_source(pidfile),
        test_x=HANGS_WITH_A_DAEMON.format(ready=str(ready)),
    )
    proc = pytest_until_ready(pytester.path, ready)
    try:
        interrupt(proc)
    finally:
        proc.kill()
    assert proc.returncode == pytest.ExitCode.INTERRUPTED
    assert gone(int(pidfile.read_text()))


def test_a_killed_pytest_leaves_no_setsid_grandchild(pytester: pytest.Pytester) -> None:
    ready, pidfile = pytester.path / "ready", pytester.path / "daemon.pid"
    pytester.makepyfile(
        helper=daemon_source(pidfile),
        test_x=HANGS_WITH_A_DAEMON.format(ready=str(ready)),
    )
    proc = pytest_until_ready(pytester.path, ready)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert gone(int(pidfile.read_text()))
