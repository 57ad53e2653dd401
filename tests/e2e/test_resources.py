"""Memory and CPU limits, the usage figures, and deaths named for their cause."""

from __future__ import annotations

import json
import re
import sys
import xml.etree.ElementTree as ET

import pytest

posix_only = pytest.mark.skipif(
    sys.platform == "win32",
    reason="rlimits and signals are POSIX; Windows uses a Job Object instead",
)
linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"),
    reason="only Linux enforces RLIMIT_DATA on every allocation (macOS ignores it)",
)

ALLOCATE = """
import pytest

@pytest.mark.isolated(group="g", mem_limit="200M")
def test_allocates_too_much():
    data = bytearray(300 * 1024 * 1024)

@pytest.mark.isolated(group="g")
def test_next_in_the_group():
    assert len(bytearray(10 * 1024 * 1024)) > 0
"""


@linux_only
@pytest.mark.usefixtures("every_start_method")
def test_a_group_past_its_memory_limit_gets_a_memory_error(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_m=ALLOCATE)
    result = pytester.runpytest_subprocess("-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       MemoryError",
            "*- isolated: memory limit -*",
            "The group's memory limit is 200 MiB, from "
            "@pytest.mark.isolated(group='g', mem_limit='200M') "
            "on test_m.py::test_allocates_too_much.",
            "PASSED test_m.py::test_next_in_the_group",
            "FAILED test_m.py::test_allocates_too_much - MemoryError",
        ]
    )


@linux_only
def test_the_memory_limit_of_the_command_line_and_of_the_ini_file(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_m="""
        import pytest

        @pytest.mark.isolated
        def test_allocates():
            data = bytearray(300 * 1024 * 1024)
        """
    )
    pytester.makeini("[pytest]\nisolated_mem_limit = 1G\n")
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)  # the ini file's 1 GiB is enough
    result = pytester.runpytest_subprocess("--isolated-mem-limit=150MiB")
    result.assert_outcomes(failed=1)  # the command line beats the ini file
    result.stdout.fnmatch_lines(
        ["The group's memory limit is 150 MiB, from --isolated-mem-limit=150MiB."]
    )


BUSY = """
import pytest

@pytest.mark.isolated(group="g", cpu_limit=1)
def test_spins():
    while True:
        pass

@pytest.mark.isolated(group="g")
def test_next_in_the_group():
    pass
"""


@posix_only
@pytest.mark.usefixtures("every_start_method")
def test_a_group_past_its_cpu_limit_fails_with_its_stack(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_c=BUSY)
    result = pytester.runpytest_subprocess("-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_c.py:*: running the test CPU LIMIT: used * s of CPU (limit from "
            "@pytest.mark.isolated(group='g', cpu_limit=1) on test_c.py::test_spins)"
            "; CRASHED with signal 24 (SIGXCPU)",
            '*File "*test_c.py", line * in test_spins',
            "PASSED test_c.py::test_next_in_the_group",
            "FAILED test_c.py::test_spins - CPU LIMIT: used * s of CPU*",
        ]
    )
    used = re.search(r"CPU LIMIT: used ([\d.]+) s", result.stdout.str())
    assert used is not None
    assert 0.9 <= float(used.group(1)) <= 2.5


@posix_only
def test_the_cpu_limit_of_the_command_line_names_its_source(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_c="""
        import pytest

        @pytest.mark.isolated
        def test_spins():
            while True:
                pass
        """
    )
    result = pytester.runpytest_subprocess("--isolated-cpu-limit=1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*CPU LIMIT: used * s of CPU (limit from --isolated-cpu-limit=1)*"]
    )


@pytest.mark.parametrize(
    ("where", "value", "message"),
    [
        (
            "marker",
            "mem_limit='lots'",
            "ERROR: test_v.py::test_t: invalid @pytest.mark.isolated(mem_limit='lots'):"
            " mem_limit: expected a size such as 512M, 2G or 1.5GiB, got 'lots'",
        ),
        (
            "marker",
            "cpu_limit=-1",
            "ERROR: test_v.py::test_t: invalid @pytest.mark.isolated(cpu_limit=-1):"
            " cpu_limit: expected a number of CPU seconds >= 0, got -1",
        ),
        (
            "option",
            "--isolated-mem-limit=12Q",
            "*: error: argument --isolated-mem-limit: expected a size such as "
            "512M, 2G or 1.5GiB, got '12Q'",
        ),
        (
            "option",
            "--isolated-cpu-limit=soon",
            "*: error: argument --isolated-cpu-limit: expected a number of CPU "
            "seconds, got 'soon'",
        ),
        (
            "ini",
            "isolated_mem_limit = 2X",
            "ERROR: isolated_mem_limit = '2X' in *tox.ini: expected a size such as "
            "512M, 2G or 1.5GiB, got '2X'",
        ),
        (
            "ini",
            "isolated_cpu_limit = nan",
            "ERROR: isolated_cpu_limit = 'nan' in *tox.ini: expected a number of "
            "CPU seconds >= 0, got 'nan'",
        ),
    ],
)
def test_bad_limits_are_usage_errors_naming_value_and_source(
    pytester: pytest.Pytester, where: str, value: str, message: str
) -> None:
    mark = f"({value})" if where == "marker" else ""
    pytester.makepyfile(
        test_v=f"""
        import pytest

        @pytest.mark.isolated{mark}
        def test_t():
            pass
        """
    )
    args = [value] if where == "option" else []
    if where == "ini":
        pytester.makeini(f"[pytest]\n{value}\n")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


HUNGRY = """
import pytest

@pytest.mark.isolated
def test_allocates_300_mb():
    data = bytearray(300 * 1024 * 1024)
    for index in range(0, len(data), 4096):
        data[index] = 1

@pytest.mark.isolated
def test_spins_a_little():
    # Longer than the other test's page faults take.
    end = __import__("time").process_time() + 1.5
    while __import__("time").process_time() < end:
        pass
"""

ROW = re.compile(r"^\s*([\d.]+) (KiB|MiB|GiB)\s+([\d.]+)s cpu  (\S+)$")


def _table(lines: list[str]) -> dict[str, list[tuple[float, float, str]]]:
    """The rows of the usage table: {"peak RSS": [(MiB, cpu, name)], ...}."""
    scale = {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0}
    blocks: dict[str, list[tuple[float, float, str]]] = {}
    current: list[tuple[float, float, str]] | None = None
    for line in lines:
        if line.startswith("by "):
            current = blocks.setdefault(line[3:].rstrip(":"), [])
        elif current is not None and (row := ROW.match(line)):
            size, unit, cpu, name = row.groups()
            current.append((float(size) * scale[unit], float(cpu), name))
        elif current is not None:
            current = None
    return blocks


@pytest.mark.parametrize(
    ("method", "children"), [("spawn", 1), ("prestart", 2), ("fork", 2)]
)
def test_isolated_usage_counts_only_the_groups_that_ran(
    pytester: pytest.Pytester, method: str, children: int
) -> None:
    # -x ends the session after the first test: the next group's child,
    # started (forked) ahead of its turn, ran nothing, and counts for nothing:
    # neither as a group, nor its wait for its turn among the seconds.
    pytester.makepyfile(
        test_x="""
        import time

        def test_slow_failure():
            time.sleep(2)
            assert 0

        def test_two():
            pass

        def test_three():
            pass
        """
    )
    result = pytester.runpytest_subprocess(
        "-x", "--isolated", f"--isolated-start={method}", "--isolated-usage"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [f"pytest-isolated: {children} subprocess(es) for 1 group(s), *s in total"]
    )
    summary = next(line for line in result.stdout.lines if " group(s), " in line)
    seconds = float(summary.split(", ")[-1].split("s ")[0])
    assert 2 <= seconds < 3.5, summary


@posix_only
@pytest.mark.usefixtures("every_start_method")
def test_isolated_usage_lists_the_hungriest_groups(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_h=HUNGRY)
    result = pytester.runpytest_subprocess("--isolated-usage")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*= isolated groups: top 10 by peak memory and CPU =*",
            "by peak RSS:",
            "pytest-isolated: 2 subprocess(es) for 2 group(s), *s in total",
        ]
    )
    table = _table(result.stdout.lines)
    by_memory, by_cpu = table["peak RSS"], table["CPU time"]
    assert by_memory[0][2] == "test_h.py::test_allocates_300_mb"
    assert by_memory[0][0] >= 300e6 / 2**20  # 300 MB, in MiB
    assert by_cpu[0][2] == "test_h.py::test_spins_a_little"
    assert by_cpu[0][1] >= 1.5
    # N rows: one group each way.
    one = pytester.runpytest_subprocess("--isolated-usage=1")
    assert len(_table(one.stdout.lines)["peak RSS"]) == 1
    one.stdout.fnmatch_lines(["*= isolated groups: top 1 by peak memory and CPU =*"])
    # Not without asking, -v or not: reports read as pytest's own.
    for args in ([], ["-v"], ["-vv"]):
        quiet = pytester.runpytest_subprocess(*args)
        quiet.stdout.no_fnmatch_line("*isolated groups*")
        quiet.stdout.no_fnmatch_line("pytest-isolated: *subprocess(es)*")


@posix_only
def test_under_xdist_the_controller_lists_every_workers_groups(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_h=HUNGRY)
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", "2", "--isolated-usage")
    result.assert_outcomes(passed=2)
    table = _table(result.stdout.lines)
    names = {name for _, _, name in table["peak RSS"]}
    assert names == {
        "test_h.py::test_allocates_300_mb",
        "test_h.py::test_spins_a_little",
    }
    assert table["peak RSS"][0][0] >= 300e6 / 2**20  # 300 MB, in MiB


@posix_only
@pytest.mark.usefixtures("every_start_method")
def test_junit_xml_has_each_isolated_tests_usage(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_h=HUNGRY)
    # Not without asking: the JUnit file reads as pytest's own.
    pytester.runpytest_subprocess("--junitxml=out.xml")
    assert "isolated_peak_rss_mib" not in (pytester.path / "out.xml").read_text()
    pytester.makeini("[pytest]\nisolated_junit_usage = true\n")
    result = pytester.runpytest_subprocess("--junitxml=out.xml")
    result.assert_outcomes(passed=2)
    cases = {
        case.get("name"): {
            p.get("name"): float(p.get("value", "nan")) for p in case.iter("property")
        }
        for case in ET.parse(pytester.path / "out.xml").iter("testcase")
    }
    assert (
        cases["test_allocates_300_mb"]["isolated_peak_rss_mib"] >= 300e6 / 2**20
    )  # 300 MB
    assert cases["test_spins_a_little"]["isolated_cpu_s"] >= 1.5


@posix_only
@pytest.mark.usefixtures("every_start_method")
def test_a_sigkill_nobody_here_sent_is_named_with_the_peak(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_k="""
        import os, signal
        import pytest

        @pytest.mark.isolated
        def test_killed():
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = pytester.runpytest_subprocess(
        "--junitxml=out.xml", "-o", "isolated_junit_usage=true"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_k.py:*: running the test CRASHED with signal 9 (SIGKILL): "
            "KILLED by SIGKILL (not by pytest-isolated; peak RSS *iB)",
        ]
    )
    # The crashed test's JUnit element still has the figures of its child.
    assert "isolated_peak_rss_mib" in (pytester.path / "out.xml").read_text()


@posix_only
def test_a_timeout_is_not_called_a_foreign_kill(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_t="""
        import time
        import pytest

        @pytest.mark.isolated(timeout=3)
        def test_hangs():
            time.sleep(60)
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*TIMED OUT after 3s*"])
    result.stdout.no_fnmatch_line("*not by pytest-isolated*")


PARALLEL = """
import os, time
import pytest

@pytest.mark.isolated
@pytest.mark.parametrize("n", range(2))
def test_sleeps(n):
    start = time.time()
    time.sleep(1.5)
    with open(os.path.join({out!r}, f"{{n}}.json"), "w") as f:
        f.write(__import__("json").dumps([start, time.time()]))
"""


def _overlap(out: object) -> bool:
    from pathlib import Path

    spans = [json.loads(p.read_text()) for p in sorted(Path(str(out)).glob("*.json"))]
    assert len(spans) == 2
    (a0, a1), (b0, b1) = spans
    return bool(a0 < b1 and b0 < a1)


@pytest.mark.skipif(
    sys.platform != "linux" or len(__import__("os").sched_getaffinity(0)) < 2,
    reason="needs /proc/meminfo (Linux) and two usable cores for 'auto'",
)
def test_auto_parallel_waits_for_memory_that_holds_a_groups_last_peak(
    pytester: pytest.Pytester,
) -> None:
    out = pytester.mkdir("spans")
    pytester.makepyfile(test_p=PARALLEL.format(out=str(out)))
    result = pytester.runpytest_subprocess("--isolated-parallel=auto")
    result.assert_outcomes(passed=2)
    assert _overlap(out), "with no peaks known, auto runs the groups side by side"
    peaks_file = pytester.path / ".pytest_cache" / "v" / "isolated" / "peaks"
    peaks = json.loads(peaks_file.read_text())
    assert set(peaks) == {"test_p.py::test_sleeps[0]", "test_p.py::test_sleeps[1]"}
    # Peaks larger than any machine's memory: no group starts beside another.
    peaks_file.write_text(json.dumps({name: 1 << 50 for name in peaks}))
    for old in out.glob("*.json"):
        old.unlink()
    result = pytester.runpytest_subprocess("--isolated-parallel=auto")
    result.assert_outcomes(passed=2)
    assert not _overlap(out)
