"""Unit tests of winjob: the limits a child's Job Object is made with.

The calls into kernel32 run on Windows only (the public CI); the structures
they pass are checked here, on every platform."""

from __future__ import annotations

import ctypes
import sys

import pytest

from pytest_isolated.platform import winjob


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


def test_a_groups_limits_count_from_the_jobs_use_so_far() -> None:
    limits = winjob.kill_on_close_limits()
    limits.PeakJobMemoryUsed = 40 * 2**20  # the interpreter, already committed
    winjob.with_group_limits(limits, 200 * 2**20, 2.5)
    flags = limits.BasicLimitInformation.LimitFlags
    assert flags == 0x2000 | winjob.JOB_OBJECT_LIMIT_JOB_MEMORY | 0x4
    assert limits.JobMemoryLimit == 240 * 2**20
    # Windows adds what the job's processes used so far to this one itself.
    assert limits.BasicLimitInformation.PerJobUserTimeLimit == 25_000_000


def test_no_limit_sets_no_flag() -> None:
    limits = winjob.with_group_limits(winjob.kill_on_close_limits(), None, None)
    assert limits.BasicLimitInformation.LimitFlags == 0x2000
    assert limits.JobMemoryLimit == 0


def test_a_jobs_usage_is_its_peak_commit_and_its_cpu_time() -> None:
    limits = winjob.kill_on_close_limits()
    limits.PeakJobMemoryUsed = 300 * 2**20
    accounting = winjob.BasicAccounting(
        TotalUserTime=12_000_000, TotalKernelTime=3_000_000
    )
    assert winjob.usage_of(limits, accounting) == (300 * 2**20, 1.5)


@pytest.mark.skipif(
    ctypes.sizeof(ctypes.c_void_p) != 8, reason="the size below is 64-bit Windows'"
)
def test_the_accounting_structure_has_the_windows_layout() -> None:
    assert ctypes.sizeof(winjob.BasicAccounting) == 48


@pytest.mark.skipif(sys.platform == "win32", reason="Windows makes real jobs")
def test_a_job_without_a_handle_sets_and_says_nothing() -> None:
    job = winjob.Job(0)
    assert job.limit(100, 1.0) is False
    assert job.usage() is None
