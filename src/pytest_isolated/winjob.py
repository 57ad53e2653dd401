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

Imports nothing of the package.
"""

from __future__ import annotations

import ctypes
import sys

JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE = 0x2000
#: JOBOBJECTINFOCLASS values.
EXTENDED_LIMIT_INFORMATION = 9
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
