"""Unit tests of winjob: the limits a child's Job Object is made with.

The calls into kernel32 run on Windows only (the public CI); the structures
they pass are checked here, on every platform."""

from __future__ import annotations

import ctypes
import sys

import pytest

from pytest_isolated import winjob


def test_a_childs_job_ends_every_process_when_it_closes() -> None:
    limits = winjob.kill_on_close_limits()
    assert limits.BasicLimitInformation.LimitFlags == 0x2000
    assert limits.JobMemoryLimit == 0  # no other limit is set
    assert limits.BasicLimitInformation.ActiveProcessLimit == 0


@pytest.mark.skipif(
    ctypes.sizeof(ctypes.c_void_p) != 8, reason="the sizes below are 64-bit Windows'"
)
def test_the_structures_have_the_windows_x64_layout() -> None:
    assert ctypes.sizeof(winjob.BasicLimits) == 64
    assert ctypes.sizeof(winjob.IoCounters) == 48
    assert ctypes.sizeof(winjob.ExtendedLimits) == 144
    assert winjob.ExtendedLimits.IoInfo.offset == 64


@pytest.mark.skipif(sys.platform == "win32", reason="Windows makes real jobs")
def test_no_job_is_made_elsewhere() -> None:
    assert winjob.Job.for_process(1) is None
    job = winjob.Job(0)
    job.terminate()
    job.close()  # harmless without a handle
    assert job.handle == 0
