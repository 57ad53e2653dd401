"""Memory and CPU: the limits' values, enforcing them, measuring what is used.

A group's limits are resolved like its time limit (:mod:`pytest_isolated.settings`).
The child enforces them on itself when its group starts (:func:`apply_limits`),
counted from that moment: what the interpreter, pytest and the collected test
modules already hold (and, in a fork, what it shares with the template) is not
charged to the group.  Both sides measure with ``getrusage``/``wait4`` and
``/proc``.

Imports nothing of the package: both sides use it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
import sys
from pathlib import Path

if sys.platform != "win32":
    import resource


@dataclasses.dataclass(frozen=True)
class Usage:
    """What a group's process used: peak resident memory and CPU time."""

    #: Bytes, above what the process held when its group started.
    peak_rss: int
    #: Seconds of CPU, user + system, of the process and the children it waited for.
    cpu: float

    def to_wire(self) -> dict[str, float]:
        return {"peak_rss": self.peak_rss, "cpu": self.cpu}

    @classmethod
    def from_wire(cls, data: object) -> Usage | None:
        if not isinstance(data, dict):
            return None
        return cls(int(data["peak_rss"]), float(data["cpu"]))

    def less(self, baseline: Usage | None) -> Usage:
        """This figure without what preceded the group (*baseline*: what the
        process held and had used when its group started), never below 0."""
        if baseline is None:
            return self
        peak = max(self.peak_rss - baseline.peak_rss, 0)
        return Usage(peak, max(self.cpu - baseline.cpu, 0.0))


def maxrss_bytes(maxrss: int) -> int:
    """``ru_maxrss`` in bytes (Linux counts KiB, macOS bytes)."""
    return maxrss if sys.platform == "darwin" else maxrss * 1024


def usage_of(rusage: object, baseline: Usage | None = None) -> Usage:
    """A ``resource.struct_rusage`` as a :class:`Usage`, less *baseline*."""
    peak = maxrss_bytes(rusage.ru_maxrss)  # type: ignore[attr-defined]
    cpu = rusage.ru_utime + rusage.ru_stime  # type: ignore[attr-defined]
    return Usage(max(peak, 0), max(cpu, 0.0)).less(baseline)


def resident_bytes() -> int:
    """This process's resident memory now (Linux), else its peak so far."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    if sys.platform == "win32":
        return 0
    return maxrss_bytes(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def own_usage(baseline: Usage | None = None) -> Usage | None:
    """This process's peak RSS and CPU (itself and the children it waited
    for), less *baseline*; None on Windows (the parent asks the child's job)."""
    if sys.platform == "win32":
        return None
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak = max(maxrss_bytes(own.ru_maxrss), maxrss_bytes(kids.ru_maxrss))
    cpu = own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime
    return Usage(peak, cpu).less(baseline)


def group_baseline() -> Usage | None:
    """What the process holds and has used when its group starts.

    Peaks are counted above it, so that a group's figure is the same whatever
    the start method: a fork starts with the template's resident pages (shared,
    and counted in its ``ru_maxrss``), a spawned child with its interpreter's.
    """
    used = own_usage()
    return None if used is None else Usage(resident_bytes(), used.cpu)


def _data_bytes() -> int:
    """The private writable memory mapped now (what ``RLIMIT_DATA`` counts)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    return 0


def _address_space_bytes() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        pages = int(Path("/proc/self/statm").read_text().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    return 0


#: Seconds of CPU past the soft limit before the kernel sends SIGKILL.
CPU_GRACE = 2


def apply_limits(mem: int | None, cpu: float | None) -> None:
    """Limit this process, from now: *mem* more bytes, *cpu* more seconds.

    Linux limits the data segment (``RLIMIT_DATA``: heap and private
    mappings, what allocations take; thread stacks and mapped files do not
    count), elsewhere the address space.  Past the CPU limit the kernel sends
    ``SIGXCPU`` (the child's faulthandler writes its stack, then it dies of
    it), and ``SIGKILL`` :data:`CPU_GRACE` seconds later if it lives on.
    """
    if sys.platform == "win32":
        return
    if mem is not None:
        if sys.platform.startswith("linux"):
            kind, used = resource.RLIMIT_DATA, _data_bytes()
        else:
            kind, used = resource.RLIMIT_AS, _address_space_bytes()
        _lower(kind, used + mem)
    if cpu is not None:
        # The kernel counts this process's own CPU time (not its children's),
        # in whole seconds: the group gets its limit, and up to a second more.
        own = resource.getrusage(resource.RUSAGE_SELF)
        spent = own.ru_utime + own.ru_stime
        soft = max(math.ceil(spent + cpu - 0.1), 1)
        _lower(resource.RLIMIT_CPU, soft, soft + CPU_GRACE)


def _lower(kind: int, soft: int, hard: int | None = None) -> None:
    """Set a limit, never above the one already in force."""
    if sys.platform == "win32":
        return
    old_hard = resource.getrlimit(kind)[1]
    cap = old_hard if old_hard != resource.RLIM_INFINITY else None
    hard = soft if hard is None else hard
    if cap is not None:
        soft, hard = min(soft, cap), min(hard, cap)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(kind, (soft, hard))


def oom_kills() -> int | None:
    """How many processes the kernel's out-of-memory killer has killed: in
    this process's cgroup (v2 ``memory.events``) if it says, else in the
    whole system (``/proc/vmstat``); None where neither is known."""
    source = _oom_source()
    if source is None:
        return None
    with contextlib.suppress(OSError, ValueError):
        return _field(source.read_text(), "oom_kill")
    return None


@functools.cache
def _oom_source() -> Path | None:
    """The file that counts the OOM kills that concern this process."""
    if not sys.platform.startswith("linux"):
        return None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                events = Path("/sys/fs/cgroup") / line[3:].lstrip("/") / "memory.events"
                if _field(events.read_text(), "oom_kill") is not None:
                    return events
    vmstat = Path("/proc/vmstat")
    with contextlib.suppress(OSError, ValueError):
        if _field(vmstat.read_text(), "oom_kill") is not None:
            return vmstat
    return None


def _field(text: str, name: str) -> int | None:
    """The number on *name*'s line of a file of ``name number`` lines: found,
    not parsed line by line (``/proc/vmstat`` has 200, read for each group)."""
    text = "\n" + text
    at = text.find(f"\n{name} ")
    if at < 0:
        return None
    value, _, _ = text[at + len(name) + 2 :].partition("\n")
    return int(value)


def memory_available() -> int | None:
    """Bytes of memory that can be had without swapping (Linux), or None."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return None
