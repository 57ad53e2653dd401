"""Helpers for tests that check which processes are left running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether *pid* still runs (a zombie does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        return stat.read_text().split(") ")[-1][0] != "Z"
    return True


def wait_for(path: Path, timeout: float = 30.0) -> None:
    """Wait until *path* exists: an isolated test writes it once it runs."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


def as_from_a_terminal() -> None:
    """``preexec_fn`` of a pytest that a test interrupts with SIGINT, as a
    user's Ctrl-C would: the default disposition, the signal not blocked.

    Both are inherited across exec, and a worker of the outer test run need
    not have them (a non-interactive shell starts its background jobs with
    SIGINT ignored, and Python then leaves it ignored); its pytest would never
    see the interrupt.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def signal_state(pid: int) -> str:
    """How *pid* handles signals (for the message of a hung interrupt)."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return "(no /proc)"
    wanted = ("State", "SigBlk", "SigIgn", "SigCgt")
    return "; ".join(
        line.strip()
        for line in status.read_text().splitlines()
        if line.startswith(wanted)
    )


def pytest_until_ready(cwd: Path, ready: Path) -> subprocess.Popen[str]:
    """Start ``python -m pytest`` in *cwd*, interruptible as from a terminal,
    and wait until its isolated test has written *ready*."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=as_from_a_terminal,
    )
    try:
        wait_for(ready)
    except BaseException:
        proc.kill()
        raise
    return proc


def interrupt(proc: subprocess.Popen[str]) -> str:
    """Send *proc* SIGINT and return its output; fail if it does not end."""
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(
            f"pytest ignored SIGINT: {signal_state(proc.pid)}"
        ) from None
    return out
