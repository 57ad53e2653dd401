"""Parent side, Windows: each child in a Job Object that ends its whole tree.

A process starts in its parent's job, so a child and everything it starts,
directly or not, are in the job the parent made for the child.  The job has
``JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE``: when its last handle closes, Windows
ends every process in it.  The parent closes it once the child's group is
done (what the group left running goes then), terminates it at a deadline or
an interrupt, and if the parent itself dies, Windows closes the handle.  The
handle is not inheritable, so no child keeps its own job alive.

The child is put in its job right after it starts; it runs nothing of the
group's before the parent sends its spec, so nothing it starts escapes.
Where a job cannot be made (an old Windows that does not nest jobs), the
tree is killed with ``taskkill /T`` as before.

The job also carries the group's memory and CPU limits, set when the group
starts (:meth:`Job.limit`), and says what the whole tree used
(:meth:`Job.usage`): its peak committed memory and its CPU time.

Imports nothing of the package.
"""

from __future__ import annotations

import ctypes
import sys
from typing import TypeVar

S = TypeVar("S", bound=ctypes.Structure)

JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000
JOB_OBJECT_LIMIT_JOB_TIME = 0x4
JOB_OBJECT_LIMIT_JOB_MEMORY = 0x200
#: The exit status of the processes of a job past its CPU time limit.
ERROR_NOT_ENOUGH_QUOTA = 1816
#: JOBOBJECTINFOCLASS values.
BASIC_ACCOUNTING_INFORMATION = 1
EXTENDED_LIMIT_INFORMATION = 9
#: Job times are counted in 100-nanosecond ticks.
TICKS_PER_SECOND = 10_000_000
_PROCESS_SET_QUOTA = 0x0100
_PROCESS_TERMINATE = 0x0001


class BasicLimits(ctypes.Structure):
    """JOBOBJECT_BASIC_LIMIT_INFORMATION."""

    _fields_ = [
        ("PerProcessUserTimeLimit", ctypes.c_int64),
        ("PerJobUserTimeLimit", ctypes.c_int64),
        ("LimitFlags", ctypes.c_uint32),
        ("MinimumWorkingSetSize", ctypes.c_size_t),
        ("MaximumWorkingSetSize", ctypes.c_size_t),
        ("ActiveProcessLimit", ctypes.c_uint32),
        ("Affinity", ctypes.c_size_t),
        ("PriorityClass", ctypes.c_uint32),
        ("SchedulingClass", ctypes.c_uint32),
    ]


class IoCounters(ctypes.Structure):
    """IO_COUNTERS."""

    _fields_ = [
        (name, ctypes.c_uint64)
        for name in (
            "ReadOperationCount",
            "WriteOperationCount",
            "OtherOperationCount",
            "ReadTransferCount",
            "WriteTransferCount",
            "OtherTransferCount",
        )
    ]


class ExtendedLimits(ctypes.Structure):
    """JOBOBJECT_EXTENDED_LIMIT_INFORMATION."""

    _fields_ = [
        ("BasicLimitInformation", BasicLimits),
        ("IoInfo", IoCounters),
        ("ProcessMemoryLimit", ctypes.c_size_t),
        ("JobMemoryLimit", ctypes.c_size_t),
        ("PeakProcessMemoryUsed", ctypes.c_size_t),
        ("PeakJobMemoryUsed", ctypes.c_size_t),
    ]


class BasicAccounting(ctypes.Structure):
    """JOBOBJECT_BASIC_ACCOUNTING_INFORMATION."""

    _fields_ = [
        ("TotalUserTime", ctypes.c_int64),
        ("TotalKernelTime", ctypes.c_int64),
        ("ThisPeriodTotalUserTime", ctypes.c_int64),
        ("ThisPeriodTotalKernelTime", ctypes.c_int64),
        ("TotalPageFaultCount", ctypes.c_uint32),
        ("TotalProcesses", ctypes.c_uint32),
        ("ActiveProcesses", ctypes.c_uint32),
        ("TotalTerminatedProcesses", ctypes.c_uint32),
    ]


def with_group_limits(
    limits: ExtendedLimits, mem: int | None, cpu: float | None
) -> ExtendedLimits:
    """*limits* (the job's, as queried) with a group's memory and CPU limits,
    counted from now: the memory on top of the job's peak commit so far, the
    CPU time on top of what its processes used (Windows adds that itself)."""
    basic = limits.BasicLimitInformation
    if mem is not None:
        basic.LimitFlags |= JOB_OBJECT_LIMIT_JOB_MEMORY
        limits.JobMemoryLimit = limits.PeakJobMemoryUsed + mem
    if cpu is not None:
        basic.LimitFlags |= JOB_OBJECT_LIMIT_JOB_TIME
        basic.PerJobUserTimeLimit = max(int(cpu * TICKS_PER_SECOND), 1)
    return limits


def usage_of(limits: ExtendedLimits, accounting: BasicAccounting) -> tuple[int, float]:
    """(peak committed bytes, CPU seconds) of a job's processes."""
    ticks = accounting.TotalUserTime + accounting.TotalKernelTime
    return int(limits.PeakJobMemoryUsed), ticks / TICKS_PER_SECOND


def kill_on_close_limits() -> ExtendedLimits:
    """The limits of a child's job: end every process when it closes."""
    limits = ExtendedLimits()
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
    return limits


class Job:
    """One child's Job Object (Windows only)."""

    def __init__(self, handle: int) -> None:
        self.handle = handle

    @classmethod
    def for_process(cls, pid: int) -> Job | None:
        """A new kill-on-close job holding process *pid*, or None."""
        handle = _new_job(pid) if sys.platform == "win32" else 0
        return cls(handle) if handle else None

    def limit(self, mem: int | None, cpu: float | None) -> bool:
        """Set a group's limits on the job; False if Windows refused."""
        limits = self._query(EXTENDED_LIMIT_INFORMATION, ExtendedLimits())
        if limits is None or (mem is None and cpu is None):
            return False
        with_group_limits(limits, mem, cpu)
        if sys.platform == "win32":
            kernel32 = ctypes.WinDLL("kernel32")  # type: ignore[attr-defined,unused-ignore]
            return bool(
                kernel32.SetInformationJobObject(
                    ctypes.c_void_p(self.handle),
                    EXTENDED_LIMIT_INFORMATION,
                    ctypes.byref(limits),
                    ctypes.sizeof(limits),
                )
            )
        return False

    def usage(self) -> tuple[int, float] | None:
        """(peak committed bytes, CPU seconds) of every process of the job."""
        limits = self._query(EXTENDED_LIMIT_INFORMATION, ExtendedLimits())
        accounting = self._query(BASIC_ACCOUNTING_INFORMATION, BasicAccounting())
        if limits is None or accounting is None:
            return None
        return usage_of(limits, accounting)

    def _query(self, kind: int, into: S) -> S | None:
        """QueryInformationJobObject of *kind* into *into*; None if it fails."""
        if sys.platform == "win32" and self.handle:
            kernel32 = ctypes.WinDLL("kernel32")  # type: ignore[attr-defined,unused-ignore]
            ok = kernel32.QueryInformationJobObject(
                ctypes.c_void_p(self.handle),
                kind,
                ctypes.byref(into),
                ctypes.sizeof(into),
                None,
            )
            return into if ok else None
        return None

    def terminate(self) -> None:
        """End every process in the job now."""
        if self.handle and sys.platform == "win32":
            kernel32 = ctypes.WinDLL("kernel32")  # type: ignore[attr-defined,unused-ignore]
            kernel32.TerminateJobObject(ctypes.c_void_p(self.handle), 1)

    def close(self) -> None:
        """Close the handle: Windows ends what the job still holds."""
        if self.handle and sys.platform == "win32":
            kernel32 = ctypes.WinDLL("kernel32")  # type: ignore[attr-defined,unused-ignore]
            kernel32.CloseHandle(ctypes.c_void_p(self.handle))
        self.handle = 0


def _new_job(pid: int) -> int:
    """Windows: a kill-on-close job with process *pid* in it (0: none)."""
    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    kernel32.CreateJobObjectW.restype = ctypes.c_void_p
    kernel32.OpenProcess.restype = ctypes.c_void_p
    handle = kernel32.CreateJobObjectW(None, None)
    if not handle:
        return 0
    limits = kill_on_close_limits()
    process = kernel32.OpenProcess(_PROCESS_SET_QUOTA | _PROCESS_TERMINATE, False, pid)
    ok = bool(process) and bool(
        kernel32.SetInformationJobObject(
            ctypes.c_void_p(handle),
            EXTENDED_LIMIT_INFORMATION,
            ctypes.byref(limits),
            ctypes.sizeof(limits),
        )
    )
    ok = ok and bool(
        kernel32.AssignProcessToJobObject(
            ctypes.c_void_p(handle), ctypes.c_void_p(process)
        )
    )
    if process:
        kernel32.CloseHandle(ctypes.c_void_p(process))
    if not ok:
        kernel32.CloseHandle(ctypes.c_void_p(handle))
        return 0
    return int(handle)
