"""Unit tests of what a group used, how a group's limits combine, and the
words for a death that resources explain."""

from __future__ import annotations

import signal
import sys

import pytest

from pytest_isolated.parent import usage
from pytest_isolated.parent.grouping import Group, plan_groups
from pytest_isolated.platform import resources
from pytest_isolated.platform.resources import Usage
from pytest_isolated.platform.units import MIB
from pytest_isolated.settings import NO_LIMIT, Limit, Request

GIB = 1024 * MIB


def test_usage_round_trips_and_rejects_what_is_not_a_usage() -> None:
    used = Usage(300 * MIB, 1.25)
    assert Usage.from_wire(used.to_wire()) == used
    assert Usage.from_wire(None) is None
    assert Usage.from_wire("300") is None


def test_combine_takes_the_largest_peak_and_the_sum_of_cpu() -> None:
    assert usage.combine([None, None]) is None
    combined = usage.combine([Usage(10, 1.0), None, Usage(30, 0.5)])
    assert combined == Usage(30, 1.5)


def test_less_leaves_out_what_preceded_the_group_and_never_goes_negative() -> None:
    assert Usage(100, 2.0).less(Usage(30, 0.5)) == Usage(70, 1.5)
    assert Usage(10, 0.1).less(Usage(30, 0.5)) == Usage(0, 0.0)
    assert Usage(1, 1.0).less(None) == Usage(1, 1.0)


@pytest.mark.skipif(sys.platform == "win32", reason="Windows: the job measures")
def test_own_usage_grows_with_what_this_process_allocates() -> None:
    before = resources.own_usage()
    data = bytearray(64 * MIB)
    data[::4096] = b"\1" * len(data[::4096])
    after = resources.own_usage()
    assert before is not None
    assert after is not None
    assert after.peak_rss >= before.peak_rss
    if sys.platform.startswith("linux"):
        assert (
            after.peak_rss - before.peak_rss >= 32 * MIB or before.peak_rss > 64 * MIB
        )
    del data


# -- limits per group ----------------------------------------------------------


def request(name: str, mem: Limit | None = None, cpu: Limit | None = None) -> Request:
    return Request(("group", name), name, None, mem_limit=mem, cpu_limit=cpu)


def test_a_groups_limits_come_from_its_markers_else_the_session() -> None:
    session_mem = Limit(GIB, "--isolated-mem-limit=1GiB")
    small = Limit(100 * MIB, "a marker on t::a")
    large = Limit(300 * MIB, "a marker on t::b")
    none = Limit(None, "a marker on t::c")
    plan = plan_groups(
        [
            ("a", request("g", mem=small)),
            ("b", request("g", mem=large)),
            ("c", request("h")),
            ("d", request("i", mem=small, cpu=Limit(2, "cpu on t::d"))),
            ("e", request("i", mem=none)),
        ],
        Limit(300.0, "the default of 300s"),
        session_mem,
        NO_LIMIT,
    )
    assert plan["a"].mem_limit is large  # the most generous marker
    assert plan["c"].mem_limit is session_mem
    assert plan["c"].cpu_limit is NO_LIMIT
    assert plan["d"].mem_limit is none  # no limit beats any
    assert plan["d"].cpu_limit == Limit(2, "cpu on t::d")


# -- the words for a death -----------------------------------------------------

posix_only = pytest.mark.skipif(
    sys.platform == "win32", reason="Windows has no signals to name"
)


def group(mem: float | None = None, cpu: float | None = None) -> Group[str]:
    return Group(
        0,
        "t.py::test_x",
        ["t.py::test_x"],
        Limit(300.0, "the default"),
        mem_limit=Limit(mem, "the marker") if mem else NO_LIMIT,
        cpu_limit=Limit(cpu, "--isolated-cpu-limit=10") if cpu else NO_LIMIT,
    )


CRASHED = "CRASHED with signal N"


def say(
    g: Group[str],
    sig: int,
    used: Usage | None,
    *,
    ours: bool = False,
    oom: bool = False,
) -> str:
    return usage.death_summary(
        g, -sig, used, CRASHED, killed_by_us=ours, oom_killed=oom
    )


@posix_only
def test_past_the_cpu_limit() -> None:
    text = "CPU LIMIT: used 10.3 s of CPU (limit from --isolated-cpu-limit=10)"
    assert say(group(cpu=10), signal.SIGXCPU, Usage(0, 10.3)) == f"{text}; {CRASHED}"
    # The hard limit's SIGKILL, when the soft one's signal was survived.
    assert say(group(cpu=10), signal.SIGKILL, Usage(0, 12.0)).startswith("CPU LIMIT")
    # Our own kill (a timeout) is not the CPU limit's.
    assert say(group(cpu=10), signal.SIGKILL, Usage(0, 12.0), ours=True) == CRASHED


@posix_only
def test_killed_near_the_memory_limit() -> None:
    g = group(mem=512 * MIB)
    expected = "KILLED: over the group's memory limit of 512 MiB (from the marker)"
    assert say(g, signal.SIGABRT, Usage(500 * MIB, 1.0)) == f"{expected}; {CRASHED}"
    assert say(g, signal.SIGKILL, Usage(450 * MIB, 1.0)) == f"{expected}; {CRASHED}"
    # Far below it, a crash is a crash.
    assert say(g, signal.SIGSEGV, Usage(10 * MIB, 1.0)) == CRASHED


@posix_only
def test_a_sigkill_not_sent_by_us_and_the_oom_killer() -> None:
    used = Usage(int(3.1 * GIB), 2.0)
    assert (
        say(group(), signal.SIGKILL, used)
        == f"{CRASHED}: KILLED by SIGKILL (not by pytest-isolated; peak RSS 3.1 GiB)"
    )
    assert (
        say(group(), signal.SIGKILL, None)
        == f"{CRASHED}: KILLED by SIGKILL (not by pytest-isolated)"
    )
    assert (
        say(group(), signal.SIGKILL, used, oom=True)
        == f"{CRASHED}: KILLED by the kernel's out-of-memory killer (peak RSS 3.1 GiB)"
    )
    assert say(group(), signal.SIGKILL, used, ours=True) == CRASHED
    assert say(group(), signal.SIGSEGV, used) == CRASHED
    exited = usage.death_summary(
        group(), 3, used, "EXITED", killed_by_us=False, oom_killed=False
    )
    assert exited == "EXITED"


def test_oom_counter_reads_the_cgroup_or_the_system(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    count = resources.oom_kills()
    if sys.platform.startswith("linux"):
        assert count is None or count >= 0
    else:
        assert count is None
    assert resources._field("low 0\noom 2\noom_kill 7\n", "oom_kill") == 7
    assert resources._field("oom 2\n", "oom_kill") is None
