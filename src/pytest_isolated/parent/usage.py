"""Parent side: what each group used, and what its limits did.

Each child measures its group (peak resident memory above what it held when
the group started, and CPU time since then) at the end of every test; a
child's exit adds what ``wait4`` says, so that a child that was killed still
has a figure.  From those:

* a crash is named for what caused it (:func:`death_summary`): the group's CPU
  limit, its memory limit, a ``SIGKILL`` nobody here sent, the kernel's
  out-of-memory killer;
* JUnit XML gets ``isolated_peak_rss_mib`` and ``isolated_cpu_s`` properties;
* ``-v`` shows the hungriest groups after the summary (:class:`UsageLedger`);
* ``--isolated-parallel=auto`` starts a group only while the memory available
  holds its last measured peak (kept in the cache).

Imports :mod:`pytest_isolated.platform.resources` and :mod:`pytest_isolated.settings`.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest

from pytest_isolated import options
from pytest_isolated.platform.resources import Usage, memory_available
from pytest_isolated.platform.units import MIB, format_bytes
from pytest_isolated.platform.winjob import ERROR_NOT_ENOUGH_QUOTA

if TYPE_CHECKING:
    from pytest_isolated.parent.grouping import Group

#: Cache key of the peaks measured, by group name.
CACHE_KEY = "isolated/peaks"
#: A child killed by a signal with a peak this close to its memory limit was
#: killed over it (an allocation failed where no MemoryError could be raised).
NEAR_LIMIT = 0.8


def combine(usages: Iterable[Usage | None]) -> Usage | None:
    """Several children of one group (after a crash): the largest peak, the
    sum of CPU."""
    known = [u for u in usages if u is not None]
    if not known:
        return None
    return Usage(max(u.peak_rss for u in known), sum(u.cpu for u in known))


def death_summary(
    group: Group[Any],
    returncode: int,
    used: Usage | None,
    crashed: str,
    *,
    killed_by_us: bool,
    oom_killed: bool,
) -> str:
    """*crashed* (pytest-forked's words for the exit), with what the group's
    resources say of a death by a signal.  A limit's message comes first; a
    foreign ``SIGKILL`` keeps pytest-forked's words first, for their greps."""
    cpu, mem = group.cpu_limit, group.mem_limit
    if sys.platform == "win32":
        # The job's CPU limit ends its processes with this status.
        if cpu.value is not None and returncode == ERROR_NOT_ENOUGH_QUOTA:
            spent = "" if used is None else f"used {used.cpu:.1f} s of CPU "
            return f"CPU LIMIT: {spent}(limit from {cpu.source}); {crashed}"
        return crashed
    if returncode >= 0:
        return crashed
    number = -returncode
    foreign_kill = number == signal.SIGKILL and not killed_by_us
    if cpu.value is not None and used is not None:
        hard = foreign_kill and used.cpu >= cpu.value
        if number == getattr(signal, "SIGXCPU", None) or hard:
            limit = f"CPU LIMIT: used {used.cpu:.1f} s of CPU (limit from {cpu.source})"
            return f"{limit}; {crashed}"
    if (
        mem.value is not None
        and used is not None
        and used.peak_rss >= NEAR_LIMIT * mem.value
    ):
        limit = (
            f"KILLED: over the group's memory limit of {mem.memory()} "
            f"(from {mem.source})"
        )
        return f"{limit}; {crashed}"
    if not foreign_kill:
        return crashed
    peak = f"peak RSS {format_bytes(used.peak_rss)}" if used is not None else ""
    if oom_killed:
        why = f"KILLED by the kernel's out-of-memory killer ({peak or 'peak unknown'})"
    else:
        why = "KILLED by SIGKILL (not by pytest-isolated" + (
            f"; {peak})" if peak else ")"
        )
    return f"{crashed}: {why}"


def wants_properties(config: pytest.Config) -> bool:
    """Whether reports get the usage properties (only JUnit XML shows them)."""
    return bool(config.getoption("xmlpath", None)) and bool(
        options.value(config, "isolated_junit_usage", False)
    )


def properties(used: Usage) -> list[tuple[str, object]]:
    return [
        ("isolated_peak_rss_mib", round(used.peak_rss / MIB, 1)),
        ("isolated_cpu_s", round(used.cpu, 3)),
    ]


class UsageLedger:
    """Every group's figures: the ``-v`` table, the cache, the memory gate."""

    def __init__(self, config: pytest.Config, memory_aware: bool) -> None:
        self.config = config
        self.memory_aware = memory_aware
        self.groups: dict[str, Usage] = {}  # by group name, in finishing order
        cache = (
            config.cache if config.pluginmanager.has_plugin("cacheprovider") else None
        )
        self.cache = cache
        self.known_peaks = _peaks(cache.get(CACHE_KEY, {}) if cache else {})

    def record(self, group: Group[pytest.Item], used: Usage | None) -> None:
        if used is not None:
            self.groups[group.name] = used

    def may_start(self, group: Group[pytest.Item], others_running: bool) -> bool:
        """Under ``--isolated-parallel=auto``: whether the memory available
        holds the group's last peak.  A group never waits for nothing: with no
        other group running, it starts."""
        if not self.memory_aware or not others_running:
            return True
        peak = self.known_peaks.get(group.name)
        if peak is None:
            return True
        available = memory_available()
        return available is None or available >= peak

    def save(self) -> None:
        if self.cache is None or not self.groups:
            return
        # Read again: pytest-xdist's workers share the cache, each with its
        # own groups.
        peaks = _peaks(self.cache.get(CACHE_KEY, {}))
        peaks.update((name, used.peak_rss) for name, used in self.groups.items())
        self.cache.set(CACHE_KEY, peaks)

    def table(self, tr: pytest.TerminalReporter, line: str) -> None:
        """With ``--isolated-usage[=N]``: the N hungriest groups by memory,
        then by CPU, and *line* (how many subprocesses ran; none under an
        xdist controller, whose workers ran them)."""
        rows = options.value(tr.config, "isolated_usage")
        if rows is None or not self.groups:
            return
        shown = f"top {rows}" if rows else "all"
        tr.write_sep("=", f"isolated groups: {shown} by peak memory and CPU")
        for title, key in (
            ("peak RSS", lambda row: row[1].peak_rss),
            ("CPU time", lambda row: row[1].cpu),
        ):
            tr.write_line(f"by {title}:")
            ranked = sorted(self.groups.items(), key=key, reverse=True)
            for name, used in ranked[: rows or None]:
                tr.write_line(
                    f"{format_bytes(used.peak_rss):>10} {used.cpu:9.2f}s cpu  {name}"
                )
        if line:
            tr.write_line(line)


def _peaks(cached: object) -> dict[str, int]:
    """The cache's peaks, by group name (anything else in it is ignored)."""
    if not isinstance(cached, dict):
        return {}
    return {
        str(name): int(peak)
        for name, peak in cached.items()
        if isinstance(peak, (int, float)) and not isinstance(peak, bool)
    }
