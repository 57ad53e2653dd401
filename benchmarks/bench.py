#!/usr/bin/env python3
"""Measure what isolation costs, against baselines measured in the same run.

Every figure is the median of ``--rounds`` rounds; a round runs every
scenario once, so that a change in the machine's load hits all of them alike.
An *overhead* is always a difference between two runs of the same suite, one
isolated and one not, taken in the same round (the median of those paired
differences), divided by the number of groups (or tests) that were isolated:

- the spawn floor: ``python -m pytest`` of one trivial test, not isolated;
- ``--tests`` (default 50) single-test groups (``--isolated``), for each
  start method (``spawn``, ``prestart``, ``fork``);
- the same tests as one group (a module marker naming one group);
- the same tests under ``--forked``;
- the same tests not isolated (the baseline of the above), and the same
  tests with the plugin not loaded at all: what a run that isolates nothing
  pays for the plugin;
- pytest-forked 1.7.5 on the same tests, in the side environment
  ``migration/run.py`` builds (``migration/.env``, POSIX only);
- the same single-test groups with ``--isolated-parallel=2`` against 1;
- scale: 10 single-test groups in a suite of 10 files and in one of 1,000
  files (spawn, and fork); a group's overhead should not depend on the size
  of the suite;
- ``--forked-tests`` (default 500) tests under ``--forked`` (the default
  start method: the fork server), under pytest-forked 1.7.5, and under
  ``--forked --isolated-parallel=2``; the physical floor of a fork:
  ``os.fork()`` + ``os.waitpid()`` of a process that collected the same tests;
- a suite whose ``conftest.py`` sleeps 1 s at import (a heavy package): 50
  single-test groups under ``--forked`` against the suite not isolated, and
  under ``--isolated-start=prestart`` (measured on 10 groups, extrapolated);
- the fork template's size: the gap between 10 forked single-test groups
  from a template that collected 11 files and from one that collected 1,000;
- turns: 100 tests of one group, each followed by a test of pytest's own
  process, against the same 100 tests all adjacent (one ``go`` for the
  whole group) and against the interleaved ones under
  ``--isolated-parallel=2`` (the group runs ahead, no turns): what running
  one test at a time costs per test;
- 80 tests that a ``skip``/``skipif`` mark skips, under ``--isolated``
  against ``--no-isolation``: a test that will not run needs no subprocess.

Every run is started with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1`` and
``-p pytest_isolated.plugin`` (or ``-p pytest_forked`` in the side
environment), so that whatever else is installed does not distort the
figures, and with ``-p bench_probe``, a few lines written into each suite that
report pytest's own CPU time (the parent's, as opposed to its subprocesses')
and when each test's report starts and ends.  Wall-clock time is the figure
the targets use; CPU time (user + system of the whole process tree) and its
minor page faults are reported too, as they depend less on the machine's
load.  The scenarios of ``--forked-tests`` tests and the sleepy prestart run
are expensive: they run in the first ``--heavy-rounds`` rounds only.  All
figures go to ``--json`` (default ``benchmarks/results/latest.json``).

    python benchmarks/bench.py [--rounds 3] [--heavy-rounds 1] [--tests 50]
                               [--forked-tests 500] [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MIGRATION_RUN = ROOT / "migration" / "run.py"
DEFAULT_JSON = HERE / "results" / "latest.json"

RUN_TIMEOUT = 900.0
FILES = 10  # the 100-test suite is 10 files of 10 tests
PER_FILE = 10  # the --forked suite: files of 10 tests
SCALE_GROUPS = 10  # isolated files in each scale suite
SCALE_SMALL = 10
SCALE_LARGE = 1000
SLEEP_GROUPS = 50  # the suite whose conftest sleeps 1 s
SLEEP_PRESTART = 10  # of which prestart runs this many (then extrapolated)
SLEEP_SECONDS = 1
TURNS_TESTS = 100  # the group's tests in the turns suites
SKIPPED_TESTS = 80  # statically skipped tests under --isolated
XDIST_GROUPS = 3  # one-test groups in a pytest-xdist worker, each waiting
XDIST_SLEEP = 2  # seconds
FORK_FLOOR_FORKS = 200

ISOLATED = ("-p", "pytest_isolated.plugin")
PROBE = ("-p", "bench_probe")
PROBE_VARIABLE = "BENCH_PROBE_OUT"

#: Written into every suite and loaded with ``-p bench_probe``: pytest's own
#: CPU seconds at the end of its session, not counting its subprocesses, and
#: when each test's report started and ended in pytest's process.
PROBE_SOURCE = f'''"""pytest's own CPU time and test times, for benchmarks/bench.py."""

import json
import os
import time

import pytest

_OUT = os.environ.get("{PROBE_VARIABLE}")
_MAIN = "PYTEST_RUNNING_IN_SUBPROCESS" not in os.environ
_PID = os.getpid()
_TESTS = []


def _ours():
    return _OUT and _MAIN and os.getpid() == _PID


def pytest_runtest_logstart(nodeid, location):
    if _ours():
        _TESTS.append([nodeid, time.perf_counter(), None])


def pytest_runtest_logfinish(nodeid, location):
    if _ours() and _TESTS and _TESTS[-1][0] == nodeid:
        _TESTS[-1][2] = time.perf_counter()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if not _ours():
        return
    try:
        import resource
    except ImportError:  # Windows
        cpu = 0.0
    else:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
    with open(_OUT, "w") as out:
        json.dump({{"cpu": cpu, "tests": _TESTS}}, out)
'''

#: Run in a helper interpreter: collects the suite in its cwd (as the fork
#: template does), then times ``os.fork()`` + ``os.waitpid()`` of itself.
FORK_FLOOR_SOURCE = """
import json, os, statistics, sys, time
import pytest

class Forks:
    times = []
    items = 0
    rss_kb = 0

    def pytest_collection_finish(self, session):
        Forks.items = len(session.items)
        for _ in range(int(sys.argv[1])):
            start = time.perf_counter()
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            Forks.times.append(time.perf_counter() - start)
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    Forks.rss_kb = int(line.split()[1])

code = pytest.main(
    ["-qq", "--collect-only", "-p", "pytest_isolated.plugin"], plugins=[Forks()]
)
print(json.dumps({
    "code": int(code), "items": Forks.items, "rss_kb": Forks.rss_kb,
    "modules": len(sys.modules), "median": statistics.median(Forks.times),
}))
"""


# -- the suites ----------------------------------------------------------------


def write_suite(
    folder: Path,
    files: int,
    tests_per_file: int,
    header: Callable[[int], str],
    conftest: str | None = None,
    packages: bool = False,
) -> None:
    """*files* test files of *tests_per_file* trivial tests; *header(i)* opens
    file *i* (imports, a ``pytestmark``).  With *packages*, each file is in a
    package of its own (``p<i>/test_m<i>.py``)."""
    folder.mkdir(parents=True)
    (folder / "pytest.ini").write_text("[pytest]\n")  # pins the rootdir
    (folder / "bench_probe.py").write_text(PROBE_SOURCE)
    if conftest is not None:
        (folder / "conftest.py").write_text(conftest)
    width = len(str(files - 1))
    for index in range(files):
        body = "".join(
            f"\n\ndef test_{n:03d}():\n    assert {n} + 1 == {n + 1}\n"
            for n in range(tests_per_file)
        )
        name = f"{index:0{width}d}"
        where = folder
        if packages:
            where = folder / f"p{name}"
            where.mkdir()
            (where / "__init__.py").write_text("")
        (where / f"test_m{name}.py").write_text(header(index) + body)


def plain(_: int) -> str:
    return '"""Trivial tests."""\n'


def skipped(index: int) -> str:
    """Every test of the file skipped by a mark: ``skip``, or a true
    ``skipif``, one file in two."""
    mark = 'skip(reason="not here")' if index % 2 else 'skipif(True, reason="no")'
    return f"import pytest\n\npytestmark = pytest.mark.{mark}\n"


def one_group(_: int) -> str:
    return 'import pytest\n\npytestmark = pytest.mark.isolated(group="all")\n'


def isolated_every(step: int) -> Callable[[int], str]:
    """Every *step*-th file is isolated as a whole (one group per file)."""

    def header(index: int) -> str:
        if index % step:
            return plain(index)
        return "import pytest\n\npytestmark = pytest.mark.isolated\n"

    return header


def rest_group(index: int) -> str:
    """The first SCALE_GROUPS files each a group of its own, the others (which
    run after them) all in one group, "rest"."""
    if index < SCALE_GROUPS:
        return "import pytest\n\npytestmark = pytest.mark.isolated\n"
    return 'import pytest\n\npytestmark = pytest.mark.isolated(group="rest")\n'


SLEEPY_CONFTEST = f'''"""Stands in for a heavy package: {SLEEP_SECONDS} s at import."""

import time

time.sleep({SLEEP_SECONDS})
'''


XDIST_CONFTEST = f'''"""Every test waits {XDIST_SLEEP} s (on the network, say)."""

import time

import pytest


@pytest.fixture(autouse=True)
def _wait():
    time.sleep({XDIST_SLEEP})
'''


@dataclass(frozen=True)
class Suites:
    floor: Path
    plain: Path
    group: Path
    small: Path
    large: Path
    many: Path
    sleep: Path
    sleep_some: Path
    tmpl_small: Path
    tmpl_large: Path
    xdist_sleep: Path
    turns_interleaved: Path
    turns_adjacent: Path
    skipped: Path


def make_suites(root: Path, tests: int, forked_tests: int) -> Suites:
    tmpl_small_files = SCALE_GROUPS + 1  # 10 groups and the "rest"
    suites = Suites(
        root / "floor",
        root / "plain",
        root / "group",
        root / f"scale{SCALE_SMALL}",
        root / f"scale{SCALE_LARGE}",
        root / f"forked{forked_tests}",
        root / "sleep",
        root / "sleep_some",
        root / f"template{tmpl_small_files}",
        root / f"template{SCALE_LARGE}",
        root / "xdist_sleep",
        root / "turns_interleaved",
        root / "turns_adjacent",
        root / "skipped",
    )
    write_suite(suites.floor, 1, 1, plain)
    write_suite(suites.plain, FILES, tests // FILES, plain)
    write_suite(suites.group, FILES, tests // FILES, one_group)
    write_suite(
        suites.small, SCALE_SMALL, 1, isolated_every(SCALE_SMALL // SCALE_GROUPS)
    )
    write_suite(
        suites.large, SCALE_LARGE, 1, isolated_every(SCALE_LARGE // SCALE_GROUPS)
    )
    write_suite(suites.many, forked_tests // PER_FILE, PER_FILE, plain)
    write_suite(suites.sleep, SLEEP_GROUPS, 1, plain, SLEEPY_CONFTEST)
    write_suite(
        suites.sleep_some,
        SLEEP_GROUPS,
        1,
        isolated_every(SLEEP_GROUPS // SLEEP_PRESTART),
        SLEEPY_CONFTEST,
    )
    # A child is given its groups' files as arguments, and pytest collects a
    # file argument's directory anew for each of them: a package per file
    # keeps the template's collection linear in the number of files.
    small, large = tmpl_small_files, SCALE_LARGE
    write_suite(suites.tmpl_small, small, 1, rest_group, packages=True)
    write_suite(suites.tmpl_large, large, 1, rest_group, packages=True)
    # One file: --dist loadfile hands the worker all its tests at once.
    write_suite(suites.xdist_sleep, 1, XDIST_GROUPS, plain, XDIST_CONFTEST)
    write_turns_suite(suites.turns_interleaved, interleaved=True)
    write_turns_suite(suites.turns_adjacent, interleaved=False)
    write_suite(suites.skipped, FILES, SKIPPED_TESTS // FILES, skipped)
    return suites


def write_turns_suite(folder: Path, *, interleaved: bool) -> None:
    """One file: TURNS_TESTS tests of group "g" and as many in-process tests,
    each of the group's followed by one of pytest's (*interleaved*), or the
    group's all first."""
    folder.mkdir(parents=True)
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "bench_probe.py").write_text(PROBE_SOURCE)
    grouped = [
        f'\n\n@pytest.mark.isolated(group="g")\ndef test_g{n:03d}():\n    pass\n'
        for n in range(TURNS_TESTS)
    ]
    own = [f"\n\ndef test_p{n:03d}():\n    pass\n" for n in range(TURNS_TESTS)]
    if interleaved:
        body = [t for pair in zip(grouped, own, strict=True) for t in pair]
    else:
        body = grouped + own
    (folder / "test_turns.py").write_text("import pytest\n" + "".join(body))


# -- running -------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    python: str
    args: tuple[str, ...]
    cwd: Path
    passed: int  # the run must report exactly this many passed tests
    outcome: str = "passed"  # ... or this many of that outcome
    heavy: bool = False  # runs in the first --heavy-rounds rounds only
    warm: bool = False  # runs once before the rounds (warms the caches)
    #: The files each of which is a group of its own; the other tests form
    #: one group.  If set, the median gap between groups is recorded.
    singles: frozenset[str] = frozenset()


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    parent: list[float] = field(default_factory=list)  # pytest's own CPU
    faults: list[float] = field(default_factory=list)  # minor page faults
    gap: list[float] = field(default_factory=list)  # see group_gap()
    rounds: list[int] = field(default_factory=list)  # the round of each sample

    def of(self, kind: str) -> list[float]:
        """The wall-clock, the CPU or pytest's own CPU seconds, the minor page
        faults of the process tree, or the gaps."""
        return {
            "wall": self.wall,
            "cpu": self.cpu,
            "parent": self.parent,
            "faults": self.faults,
            "gap": self.gap,
        }[kind]


class RunFailed(Exception):
    def __init__(self, message: str, summary: str = "") -> None:
        super().__init__(message)
        self.summary = summary  # how the failed run went, in one line


def bench_environment(tmp: Path) -> dict[str, str]:
    """This environment without pytest's variables, no plugin autoloading, and
    a private temp directory (the children's work directories go there).
    Bytecode caches are written and used, as in a user's runs: under
    ``PYTHONDONTWRITEBYTECODE`` every run would compile the sources of
    whatever is not installed with its caches (an editable install)."""
    dropped = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYTEST_") and key not in dropped
    }
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["TMPDIR"] = str(tmp)
    return env


def children_usage() -> tuple[float, float]:
    """User + system seconds and minor page faults of every waited-for
    descendant so far.  A fork's copy-on-write copies show as minor faults."""
    if sys.platform == "win32":  # wall-clock time only
        return 0.0, 0.0
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime, float(usage.ru_minflt)


@dataclass(frozen=True)
class Measured:
    wall: float  # seconds
    cpu: float  # user + system seconds of the whole process tree
    parent: float  # user + system seconds of pytest's own process
    faults: float  # minor page faults of the whole process tree
    gap: float | None  # see group_gap()


def group_gap(tests: list[list[Any]], singles: frozenset[str]) -> float | None:
    """The median time, in pytest's process, from the end of a test to the
    start of the next one when that one is in *singles* (files each a group of
    its own): a fork's cost as the session sees it.  The first test has no
    gap before it (its group waits for the template to collect).
    *tests*: [node id, start, finish], in the order they ran."""
    gaps = [
        b[1] - a[2]
        for a, b in itertools.pairwise(tests)
        if a[2] is not None and b[0].split("::", 1)[0] in singles
    ]
    return statistics.median(gaps) if gaps else None


def run_once(scenario: Scenario, env: dict[str, str], probe: Path) -> Measured:
    """Wall, CPU and pytest's own CPU seconds of one run (and the gap between
    groups); RunFailed unless it passed."""
    command = [scenario.python, "-m", "pytest", "-q", *PROBE, *scenario.args]
    probe.unlink(missing_ok=True)
    cpu, faults = children_usage()
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            cwd=scenario.cwd,
            env={**env, PROBE_VARIABLE: str(probe)},
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RunFailed(f"{scenario.key}: timed out: {exc}") from None
    wall = time.perf_counter() - start
    cpu_after, faults_after = children_usage()
    cpu, faults = cpu_after - cpu, faults_after - faults
    summary = done.stdout.strip().splitlines()[-1:] or [""]
    expected = f"{scenario.passed} {scenario.outcome}"
    if done.returncode != 0 or not summary[0].startswith(expected):
        output = done.stdout + done.stderr
        if len(output) > 4000:
            output = output[:1500] + "\n[...]\n" + output[-2500:]
        raise RunFailed(
            f"{scenario.key}: expected {expected!r}, exit status "
            f"{done.returncode}:\n$ {' '.join(command)}\n{output}",
            f"exit status {done.returncode} after {wall:.1f}s wall, "
            f"{cpu:.1f}s CPU: {summary[0]}",
        )
    try:
        probed = json.loads(probe.read_text())
        parent = float(probed["cpu"])
        tests: list[list[Any]] = probed["tests"]
    except (OSError, ValueError, KeyError) as exc:
        raise RunFailed(f"{scenario.key}: no figures from bench_probe: {exc}") from None
    gap = group_gap(tests, scenario.singles) if scenario.singles else None
    return Measured(wall, cpu, parent, faults, gap)


def fork_floor(cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """The helper's figures: median seconds per fork + waitpid, RSS, ..."""
    done = subprocess.run(
        [sys.executable, "-c", FORK_FLOOR_SOURCE, str(FORK_FLOOR_FORKS)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    try:
        found: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        raise RunFailed(
            f"fork floor helper, exit status {done.returncode}:\n"
            f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        ) from None
    return found


# -- pytest-forked's side environment --------------------------------------------


def pytest_forked_python() -> tuple[str | None, str]:
    """The interpreter of migration/.env (built by migration/run.py if need be),
    or None and why not."""
    if sys.platform == "win32":
        return None, "pytest-forked needs fork(): not measured on Windows"
    spec = importlib.util.spec_from_file_location("migration_run", MIGRATION_RUN)
    if spec is None or spec.loader is None:
        return None, f"cannot load {MIGRATION_RUN}"
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    side_python: Callable[[bool], Path] = module.side_python
    problem: type[Exception] = module.EnvironmentProblem
    try:
        return str(side_python(False)), "migration/.env"
    except problem as exc:
        return None, f"cannot build migration/.env: {exc}"


# -- the scenarios ---------------------------------------------------------------


def scenarios(
    suites: Suites, tests: int, forked_tests: int, forked_python: str | None
) -> list[Scenario]:
    py = sys.executable
    scale = SCALE_GROUPS
    spawn = "--isolated-start=spawn"
    fork = "--isolated-start=fork"
    many = forked_tests
    sleep = SLEEP_GROUPS
    tmpl_small = SCALE_GROUPS + 1
    small_singles = frozenset(f"p{i:02d}/test_m{i:02d}.py" for i in range(scale))
    large_singles = frozenset(f"p{i:03d}/test_m{i:03d}.py" for i in range(scale))
    found = [
        Scenario("floor", "python -m pytest, 1 test", py, ISOLATED, suites.floor, 1,
                 warm=True),
        Scenario("plain", f"{tests} tests, not isolated", py, ISOLATED, suites.plain,
                 tests, warm=True),
        Scenario("absent", f"{tests} tests, the plugin not loaded", py, (),
                 suites.plain, tests, warm=True),
        Scenario("spawn", f"{tests} groups, spawn", py,
                 (*ISOLATED, "--isolated", spawn), suites.plain, tests),
        Scenario("prestart", f"{tests} groups, prestart", py,
                 (*ISOLATED, "--isolated", "--isolated-start=prestart"),
                 suites.plain, tests),
        Scenario("fork", f"{tests} groups, fork", py,
                 (*ISOLATED, "--isolated", fork), suites.plain, tests),
        Scenario("parallel2", f"{tests} groups, prestart, --isolated-parallel=2",
                 py, (*ISOLATED, "--isolated", "--isolated-parallel=2"),
                 suites.plain, tests),
        Scenario("forked", f"{tests} tests, --forked", py, (*ISOLATED, "--forked"),
                 suites.plain, tests),
        Scenario("group_plain", f"{tests} tests, group marker, --no-isolation", py,
                 (*ISOLATED, "--no-isolation"), suites.group, tests, warm=True),
        Scenario("group", f"{tests} tests in one group", py, ISOLATED, suites.group,
                 tests),
        Scenario("small_plain", f"{SCALE_SMALL} files, --no-isolation", py,
                 (*ISOLATED, "--no-isolation"), suites.small, SCALE_SMALL,
                 warm=True),
        Scenario("small", f"{SCALE_SMALL} files, {scale} isolated, spawn", py,
                 (*ISOLATED, spawn), suites.small, SCALE_SMALL),
        Scenario("small_fork", f"{SCALE_SMALL} files, {scale} isolated, fork", py,
                 (*ISOLATED, fork), suites.small, SCALE_SMALL),
        Scenario("large_plain", f"{SCALE_LARGE} files, --no-isolation", py,
                 (*ISOLATED, "--no-isolation"), suites.large, SCALE_LARGE,
                 warm=True),
        Scenario("large", f"{SCALE_LARGE} files, {scale} isolated, spawn", py,
                 (*ISOLATED, spawn), suites.large, SCALE_LARGE),
        Scenario("large_fork", f"{SCALE_LARGE} files, {scale} isolated, fork", py,
                 (*ISOLATED, fork), suites.large, SCALE_LARGE),
        Scenario("tmpl_small",
                 f"{tmpl_small} files: {scale} single-test groups + 1, fork", py,
                 (*ISOLATED, fork), suites.tmpl_small, tmpl_small, warm=True,
                 singles=small_singles),
        Scenario("tmpl_large",
                 f"{SCALE_LARGE} files: {scale} single-test groups + the rest, fork",
                 py, (*ISOLATED, fork), suites.tmpl_large, SCALE_LARGE, warm=True,
                 singles=large_singles),
        Scenario("sleep_plain", f"{sleep} tests, conftest sleeps, not isolated",
                 py, ISOLATED, suites.sleep, sleep, warm=True),
        Scenario("sleep_forked", f"{sleep} tests, conftest sleeps, --forked", py,
                 (*ISOLATED, "--forked"), suites.sleep, sleep),
        Scenario("sleep_prestart",
                 f"{sleep} tests, conftest sleeps, {SLEEP_PRESTART} isolated, "
                 "prestart", py, (*ISOLATED, "--isolated-start=prestart"),
                 suites.sleep_some, sleep, heavy=True),
        Scenario("many_plain", f"{many} tests, not isolated", py, ISOLATED,
                 suites.many, many, heavy=True, warm=True),
        Scenario("many_forked", f"{many} tests, --forked", py,
                 (*ISOLATED, "--forked"), suites.many, many, heavy=True),
        Scenario("many_parallel2", f"{many} tests, --forked --isolated-parallel=2",
                 py, (*ISOLATED, "--forked", "--isolated-parallel=2"), suites.many,
                 many, heavy=True),
        Scenario("skip_plain", f"{SKIPPED_TESTS} skipped tests, --no-isolation",
                 py, (*ISOLATED, "--no-isolation"), suites.skipped, SKIPPED_TESTS,
                 "skipped", warm=True),
        Scenario("skip_isolated", f"{SKIPPED_TESTS} skipped tests, --isolated",
                 py, (*ISOLATED, "--isolated"), suites.skipped, SKIPPED_TESTS,
                 "skipped"),
        Scenario("turns_plain",
                 f"{TURNS_TESTS} grouped + {TURNS_TESTS} tests, --no-isolation",
                 py, (*ISOLATED, "--no-isolation"), suites.turns_interleaved,
                 2 * TURNS_TESTS, warm=True),
        Scenario("turns_interleaved",
                 f"{TURNS_TESTS} grouped tests, each followed by an in-process one",
                 py, ISOLATED, suites.turns_interleaved, 2 * TURNS_TESTS),
        Scenario("turns_adjacent",
                 f"{TURNS_TESTS} grouped tests, then the in-process ones", py,
                 ISOLATED, suites.turns_adjacent, 2 * TURNS_TESTS),
        Scenario("turns_parallel2",
                 f"{TURNS_TESTS} grouped tests interleaved, --isolated-parallel=2",
                 py, (*ISOLATED, "--isolated-parallel=2"), suites.turns_interleaved,
                 2 * TURNS_TESTS),
    ]  # fmt: skip
    if importlib.util.find_spec("xdist") is not None:
        worker = (*ISOLATED, "-p", "xdist", "-n", "1", "--dist", "loadfile")
        found += [
            Scenario("xdist_serial",
                     f"-n 1, {XDIST_GROUPS} groups waiting {XDIST_SLEEP} s",
                     py, (*worker, "--isolated"), suites.xdist_sleep, XDIST_GROUPS),
            Scenario("xdist_parallel",
                     f"-n 1, {XDIST_GROUPS} groups waiting {XDIST_SLEEP} s, "
                     f"--isolated-parallel={XDIST_GROUPS}", py,
                     (*worker, "--isolated", f"--isolated-parallel={XDIST_GROUPS}"),
                     suites.xdist_sleep, XDIST_GROUPS),
        ]  # fmt: skip
    if forked_python is not None:
        forked = ("-p", "pytest_forked")
        found += [
            Scenario("pf_plain", f"{tests} tests, pytest-forked env, not forked",
                     forked_python, forked, suites.plain, tests, warm=True),
            Scenario("pf_forked", f"{tests} tests, pytest-forked 1.7.5 --forked",
                     forked_python, (*forked, "--forked"), suites.plain, tests),
            Scenario("pf_many_plain",
                     f"{many} tests, pytest-forked env, not forked", forked_python,
                     forked, suites.many, many, heavy=True, warm=True),
            Scenario("pf_many_forked",
                     f"{many} tests, pytest-forked 1.7.5 --forked", forked_python,
                     (*forked, "--forked"), suites.many, many, heavy=True),
        ]  # fmt: skip
    return found


# -- figures ---------------------------------------------------------------------


def paired(
    samples: dict[str, Samples], a: str, b: str, kind: str
) -> list[tuple[float, float]]:
    """(a, b) of the rounds both ran in."""
    if a not in samples or b not in samples:
        return []
    first = dict(zip(samples[a].rounds, samples[a].of(kind), strict=True))
    second = dict(zip(samples[b].rounds, samples[b].of(kind), strict=True))
    return [(first[n], second[n]) for n in first if n in second]


def overhead(
    samples: dict[str, Samples], isolated: str, baseline: str, count: int, kind: str
) -> float | None:
    """Median over rounds of (isolated run - baseline run) / count, in seconds."""
    pairs = paired(samples, isolated, baseline, kind)
    if not pairs:
        return None
    return statistics.median(x - y for x, y in pairs) / count


def median_of(samples: dict[str, Samples], key: str, kind: str) -> float | None:
    values = samples[key].of(kind) if key in samples else []
    return statistics.median(values) if values else None


def quotient(x: float | None, y: float | None) -> float | None:
    return None if x is None or y is None or y <= 0 else x / y


@dataclass(frozen=True)
class Target:
    name: str
    figure: float | None  # what is measured
    baseline: float | None  # what it is compared with, from the same run
    ratio: float | None  # the figure over the baseline (or a speed-up)
    limit: float
    at_most: bool  # checked <= limit, else >= limit
    absolute: bool = False  # the limit is on the figure (seconds), not the ratio

    @property
    def checked(self) -> float | None:
        return self.figure if self.absolute else self.ratio

    @property
    def met(self) -> bool | None:
        value = self.checked
        if value is None:
            return None
        return value <= self.limit if self.at_most else value >= self.limit

    def verdict(self) -> str:
        value = self.checked
        if value is None:
            return "not measured"
        if self.met:
            return "met"
        if self.at_most:
            return f"MISSED (over by {(value / self.limit - 1) * 100:.0f}%)"
        return f"MISSED ({(1 - value / self.limit) * 100:.0f}% short)"


def figures(
    samples: dict[str, Samples],
    tests: int,
    forked_tests: int,
    floor_runs: list[dict[str, Any]],
    forked_note: str,
    cpus: int,
) -> tuple[dict[str, Any], list[Target]]:
    per: dict[str, dict[str, float | None]] = {}
    many = forked_tests
    for kind in ("wall", "cpu", "parent", "faults"):
        fig: dict[str, float | None] = {
            "floor": median_of(samples, "floor", kind),
            "not_isolated_run": median_of(samples, "plain", kind),
            "not_loaded_run": median_of(samples, "absent", kind),
            "forked_run": median_of(samples, "forked", kind),
            "pytest_forked_run": median_of(samples, "pf_forked", kind),
        }
        for method in ("spawn", "prestart", "fork", "parallel2", "forked"):
            fig[method] = overhead(samples, method, "plain", tests, kind)
        group = overhead(samples, "group", "group_plain", tests, kind)
        fig["group_per_test"] = group
        fig["group_whole"] = None if group is None else group * tests
        for size in ("small", "large"):
            base = f"{size}_plain"
            fig[f"scale_{size}"] = overhead(samples, size, base, SCALE_GROUPS, kind)
            fig[f"scale_{size}_fork"] = overhead(
                samples, f"{size}_fork", base, SCALE_GROUPS, kind
            )
            fig[f"template_{size}_run"] = median_of(samples, f"tmpl_{size}", kind)
            fig[f"template_{size}"] = (
                median_of(samples, f"tmpl_{size}", "gap") if kind == "wall" else None
            )
        fig["pytest_forked"] = overhead(samples, "pf_forked", "pf_plain", tests, kind)
        fig["many_not_isolated_run"] = median_of(samples, "many_plain", kind)
        fig["many_forked_run"] = median_of(samples, "many_forked", kind)
        fig["many_parallel2_run"] = median_of(samples, "many_parallel2", kind)
        fig["many_forked"] = overhead(samples, "many_forked", "many_plain", many, kind)
        fig["many_parallel2"] = overhead(
            samples, "many_parallel2", "many_plain", many, kind
        )
        fig["many_pytest_forked"] = overhead(
            samples, "pf_many_forked", "pf_many_plain", many, kind
        )
        fig["sleep_not_isolated_run"] = median_of(samples, "sleep_plain", kind)
        fig["sleep_forked_run"] = median_of(samples, "sleep_forked", kind)
        fig["sleep_prestart_measured_run"] = median_of(samples, "sleep_prestart", kind)
        some = overhead(samples, "sleep_prestart", "sleep_plain", SLEEP_PRESTART, kind)
        alone = fig["sleep_not_isolated_run"]
        fig["sleep_prestart_per_group"] = some
        fig["sleep_prestart_run_extrapolated"] = (
            None if some is None or alone is None else alone + some * SLEEP_GROUPS
        )
        fig["skip_not_isolated_run"] = median_of(samples, "skip_plain", kind)
        fig["skip_isolated_run"] = median_of(samples, "skip_isolated", kind)
        fig["xdist_serial_run"] = median_of(samples, "xdist_serial", kind)
        fig["xdist_parallel_run"] = median_of(samples, "xdist_parallel", kind)
        fig["sleep_forked_per_group"] = overhead(
            samples, "sleep_forked", "sleep_plain", SLEEP_GROUPS, kind
        )
        for name in ("interleaved", "adjacent", "parallel2"):
            fig[f"turns_{name}"] = overhead(
                samples, f"turns_{name}", "turns_plain", TURNS_TESTS, kind
            )
        per[kind] = fig
    floors = [run["median"] for run in floor_runs]
    per["wall"]["fork_floor"] = statistics.median(floors) if floors else None
    for kind in ("cpu", "parent", "faults"):
        per[kind]["fork_floor"] = None

    def ratio(kind: str, a: str, b: str) -> float | None:
        return quotient(per[kind][a], per[kind][b])

    ratios: dict[str, dict[str, float | None]] = {}
    for kind in ("wall", "cpu"):
        ratios[kind] = {
            "spawn_vs_floor": ratio(kind, "spawn", "floor"),
            "loaded_vs_not_loaded": ratio(kind, "not_isolated_run", "not_loaded_run"),
            "forked_run_vs_pytest_forked_run": ratio(
                kind, "forked_run", "pytest_forked_run"
            ),
            "prestart_vs_floor": ratio(kind, "prestart", "floor"),
            "fork_vs_floor": ratio(kind, "fork", "floor"),
            "forked_vs_floor": ratio(kind, "forked", "floor"),
            "parallel_speedup": ratio(kind, "prestart", "parallel2"),
            "fork_vs_pytest_forked": ratio(kind, "fork", "pytest_forked"),
            "forked_vs_pytest_forked": ratio(kind, "forked", "pytest_forked"),
            "scale_large_vs_small": ratio(kind, "scale_large", "scale_small"),
            "scale_large_vs_small_fork": ratio(
                kind, "scale_large_fork", "scale_small_fork"
            ),
            "one_group_vs_floor": ratio(kind, "group_whole", "floor"),
            "many_forked_vs_pytest_forked": ratio(
                kind, "many_forked", "many_pytest_forked"
            ),
            "many_forked_vs_fork_floor": ratio(kind, "many_forked", "fork_floor"),
            "many_parallel_speedup_run": ratio(
                kind, "many_forked_run", "many_parallel2_run"
            ),
            "many_parallel_speedup_overhead": ratio(
                kind, "many_forked", "many_parallel2"
            ),
            "sleep_forked_vs_not_isolated": ratio(
                kind, "sleep_forked_run", "sleep_not_isolated_run"
            ),
            "sleep_prestart_vs_not_isolated": ratio(
                kind, "sleep_prestart_run_extrapolated", "sleep_not_isolated_run"
            ),
            "template_large_vs_small": ratio(kind, "template_large", "template_small"),
            "xdist_parallel_speedup_run": ratio(
                kind, "xdist_serial_run", "xdist_parallel_run"
            ),
            "skip_isolated_vs_not_isolated": ratio(
                kind, "skip_isolated_run", "skip_not_isolated_run"
            ),
        }

    # Under --isolated-parallel the processes compete for the CPUs: a run
    # that already keeps C CPUs busy on average (CPU time / wall time) can go
    # at most usable_cpus / C times faster, even on an idle machine.
    def ceiling(key: str) -> float | None:
        busy = quotient(median_of(samples, key, "cpu"), median_of(samples, key, "wall"))
        return None if not busy else min(float(cpus), cpus / busy)

    ratios["wall"]["parallel_speedup_ceiling"] = ceiling("prestart")
    ratios["wall"]["many_parallel_speedup_ceiling"] = ceiling("many_forked")
    ratios["cpu"]["parallel_speedup_ceiling"] = None
    ratios["cpu"]["many_parallel_speedup_ceiling"] = None
    wall = per["wall"]
    r = ratios["wall"]

    def target(
        name: str, a: str, b: str, value: float | None, limit: float, at_most: bool
    ) -> Target:
        return Target(name, wall[a], wall[b], value, limit, at_most)

    targets = [
        target("single-test group (spawn) / spawn floor", "spawn", "floor",
               r["spawn_vs_floor"], 0.75, True),
        target("single-test group (prestart) / spawn floor", "prestart", "floor",
               r["prestart_vs_floor"], 0.4, True),
        target("single-test group (fork) / spawn floor", "fork", "floor",
               r["fork_vs_floor"], 1.1, True),
        # figure: the faster run; baseline: the slower; ratio: the speed-up
        target("--isolated-parallel=2 vs 1 (speed-up)", "parallel2", "prestart",
               r["parallel_speedup"], 1.7, False),
        target("fork per group / pytest-forked per test", "fork", "pytest_forked",
               r["fork_vs_pytest_forked"], 1.5, True),
        target(f"group overhead, {SCALE_LARGE}-file / {SCALE_SMALL}-file suite",
               "scale_large", "scale_small", r["scale_large_vs_small"], 1.2, True),
        target(f"[1] --forked per test / pytest-forked ({many} groups)",
               "many_forked", "many_pytest_forked",
               r["many_forked_vs_pytest_forked"], 1.0, True),
        Target("[1] the same, CPU per test (the whole process tree)",
               per["cpu"]["many_forked"], per["cpu"]["many_pytest_forked"],
               ratios["cpu"]["many_forked_vs_pytest_forked"], 1.3, True),
        target(f"[2] --forked / not isolated, whole run (sleepy, {SLEEP_GROUPS})",
               "sleep_forked_run", "sleep_not_isolated_run",
               r["sleep_forked_vs_not_isolated"], 1.1, True),
        Target(f"[2] prestart, whole run (sleepy, {SLEEP_GROUPS}; extrapolated)",
               wall["sleep_prestart_run_extrapolated"],
               wall["sleep_not_isolated_run"],
               r["sleep_prestart_vs_not_isolated"],
               float(SLEEP_GROUPS * SLEEP_SECONDS), False, absolute=True),
        target(f"[3] fork per group, template of {SCALE_LARGE} / "
               f"{SCALE_GROUPS + 1} files", "template_large", "template_small",
               r["template_large_vs_small"], 1.2, True),
        target(f"[4] --forked --isolated-parallel=2 vs 1, run ({many})",
               "many_parallel2_run", "many_forked_run",
               r["many_parallel_speedup_run"], 1.6, False),
        target(f"[5] -n 1 --isolated-parallel={XDIST_GROUPS} vs 1, run "
               f"({XDIST_GROUPS} groups waiting {XDIST_SLEEP} s)",
               "xdist_parallel_run", "xdist_serial_run",
               r["xdist_parallel_speedup_run"], 2.0, False),
        target(f"[6] nothing isolated, plugin loaded / not loaded, run ({tests})",
               "not_isolated_run", "not_loaded_run", r["loaded_vs_not_loaded"],
               1.05, True),
        target(f"[7] --forked / pytest-forked 1.7.5 --forked, run ({tests})",
               "forked_run", "pytest_forked_run",
               r["forked_run_vs_pytest_forked_run"], 1.0, True),
        target(f"[8] {SKIPPED_TESTS} skipped tests, --isolated / --no-isolation, run",
               "skip_isolated_run", "skip_not_isolated_run",
               r["skip_isolated_vs_not_isolated"], 1.5, True),
    ]  # fmt: skip
    return {
        "per_group_overhead_seconds": per,
        "ratios": ratios,
        "fork_floor_runs": floor_runs,
        "pytest_forked": forked_note,
    }, targets


# -- output ----------------------------------------------------------------------


def load_average() -> str | None:
    """/proc/loadavg as it reads (Linux), else os.getloadavg(), else None."""
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        pass
    if hasattr(os, "getloadavg"):
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    return None


def machine() -> dict[str, Any]:
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": cpus,
        "usable_cpus": usable,
        "load_average": load_average(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def pytest_version(python: str) -> str:
    done = subprocess.run(
        [python, "-c", "import pytest; print(pytest.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "?"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f}"


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if abs(value) < 1 else f"{value:.2f} s"


def count(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """Left-aligned first column, the others right-aligned."""
    lines = [list(header), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        cells = [line[0].ljust(widths[0])]
        cells += [
            cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells).rstrip())


def report(
    result: dict[str, Any],
    targets: Sequence[Target],
    tests: int,
    forked_tests: int,
    heavy_rounds: int,
) -> None:
    per = result["figures"]["per_group_overhead_seconds"]
    wall, cpu, parent, faults = per["wall"], per["cpu"], per["parent"], per["faults"]
    many = forked_tests
    tmpl = SCALE_GROUPS + 1
    rows = [
        ("spawn floor: python -m pytest of 1 test (whole run)", "floor"),
        (f"{tests} tests not isolated (whole run)", "not_isolated_run"),
        ("per-group overhead, --isolated-start=spawn", "spawn"),
        ("per-group overhead, --isolated-start=prestart", "prestart"),
        ("per-group overhead, --isolated-start=fork", "fork"),
        ("per-group overhead, prestart, --isolated-parallel=2", "parallel2"),
        ("per-test overhead, --forked (auto: fork server)", "forked"),
        ("per-test overhead, pytest-forked 1.7.5 --forked", "pytest_forked"),
        (f"per-test overhead, {tests} tests in one group", "group_per_test"),
        (f"overhead of the one group of {tests} tests", "group_whole"),
        (f"per-group overhead in a {SCALE_SMALL}-file suite (spawn)", "scale_small"),
        (f"per-group overhead in a {SCALE_LARGE}-file suite (spawn)", "scale_large"),
        (f"per-group overhead in a {SCALE_SMALL}-file suite (fork)",
         "scale_small_fork"),
        (f"per-group overhead in a {SCALE_LARGE}-file suite (fork)",
         "scale_large_fork"),
        (f"[1] {many} tests not isolated (whole run)", "many_not_isolated_run"),
        (f"[1] {many} tests --forked (whole run)", "many_forked_run"),
        (f"[1] per-test overhead, --forked, {many} groups", "many_forked"),
        (f"[1] per-test overhead, pytest-forked 1.7.5, {many} tests",
         "many_pytest_forked"),
        ("[1] physical floor: fork() + waitpid() of the collected process",
         "fork_floor"),
        (f"[2] sleepy suite, {SLEEP_GROUPS} tests not isolated (whole run)",
         "sleep_not_isolated_run"),
        (f"[2] sleepy suite, {SLEEP_GROUPS} groups --forked (whole run)",
         "sleep_forked_run"),
        ("[2] sleepy suite, per-group overhead, --forked", "sleep_forked_per_group"),
        (f"[2] sleepy suite, {SLEEP_PRESTART} of {SLEEP_GROUPS} prestart "
         "(whole run, measured)", "sleep_prestart_measured_run"),
        ("[2] sleepy suite, per-group overhead, prestart",
         "sleep_prestart_per_group"),
        (f"[2] sleepy suite, {SLEEP_GROUPS} groups prestart (extrapolated)",
         "sleep_prestart_run_extrapolated"),
        (f"[3] {tmpl} files, {SCALE_GROUPS} forked groups + 1 (whole run)",
         "template_small_run"),
        (f"[3] {SCALE_LARGE} files, {SCALE_GROUPS} forked groups + 1 (whole run)",
         "template_large_run"),
        (f"[3] gap between forked groups, template of {tmpl} files",
         "template_small"),
        (f"[3] gap between forked groups, template of {SCALE_LARGE} files",
         "template_large"),
        (f"[4] {many} tests --forked --isolated-parallel=2 (whole run)",
         "many_parallel2_run"),
        ("[4] per-test overhead, --forked --isolated-parallel=2",
         "many_parallel2"),
        (f"[5] -n 1, {XDIST_GROUPS} groups waiting {XDIST_SLEEP} s (whole run)",
         "xdist_serial_run"),
        (f"[5] the same, --isolated-parallel={XDIST_GROUPS} (whole run)",
         "xdist_parallel_run"),
        (f"[8] {SKIPPED_TESTS} skipped tests, --no-isolation (whole run)",
         "skip_not_isolated_run"),
        (f"[8] {SKIPPED_TESTS} skipped tests, --isolated (whole run)",
         "skip_isolated_run"),
        (f"[6] per-test overhead, {TURNS_TESTS} grouped tests, each followed "
         "by an in-process one (a turn each)", "turns_interleaved"),
        (f"[6] per-test overhead, the {TURNS_TESTS} grouped tests adjacent "
         "(one turn)", "turns_adjacent"),
        ("[6] per-test overhead, interleaved, --isolated-parallel=2 (no turns)",
         "turns_parallel2"),
    ]  # fmt: skip
    print()
    table(
        ("figure (medians)", "wall ms", "CPU ms", "pytest CPU ms", "minor faults"),
        (
            (t, ms(wall[k]), ms(cpu[k]), ms(parent[k]), count(faults[k]))
            for t, k in rows
        ),
    )
    print(
        "(CPU: the whole process tree; pytest CPU: pytest's own process, "
        "without its subprocesses; minor faults: page faults of the whole tree, "
        "copy-on-write copies of a fork among them)"
    )
    if wall["pytest_forked"] is None:
        print(f"pytest-forked: {result['figures']['pytest_forked']}")
    ratios = result["figures"]["ratios"]
    print()
    table(
        ("ratio", "wall", "CPU"),
        ((k, times(v), times(ratios["cpu"][k])) for k, v in ratios["wall"].items()),
    )
    print()

    def shown(target: Target) -> str:
        sign = "<=" if target.at_most else ">="
        if target.absolute:
            return f"{sign}{target.limit:g} s"
        return f"{sign}{target.limit:g}x"

    table(
        ("target (wall clock)", "figure", "baseline", "ratio", "target", "verdict"),
        (
            (
                t.name,
                seconds(t.figure),
                seconds(t.baseline),
                times(t.ratio),
                shown(t),
                t.verdict(),
            )
            for t in targets
        ),
    )
    floors = result["figures"]["fork_floor_runs"]
    notes = [
        "Speed-up targets: the figure is the faster run, the baseline the "
        "slower one, the ratio baseline / figure.",
        f"[1], [4] and the prestart run of [2] ran in the first {heavy_rounds} "
        "round(s) only (--heavy-rounds).",
        f"[2] prestart ran {SLEEP_PRESTART} of the {SLEEP_GROUPS} files as "
        f"single-test groups (the others not isolated); the {SLEEP_GROUPS}-group "
        f"figure is the not-isolated run + {SLEEP_GROUPS} x that run's "
        "per-group overhead (extrapolated, not measured).",
        "[3] a fork template collects only the files of the groups it forks, "
        f"so each template suite has {SCALE_GROUPS} single-test groups, then one "
        "group of all its other files (each file in a package of its own); the "
        "figure is the median time in pytest's process from the end of one "
        "single-test group's report to the start of the next one's (the first, "
        f"which waits for the template, is left out: {SCALE_GROUPS - 1} gaps a "
        "run).",
        f"[5] pytest-xdist with one worker (-n 1 --dist loadfile, which hands "
        f"it the file's {XDIST_GROUPS} tests at once), each test a group that "
        f"waits {XDIST_SLEEP} s: the worker looks ahead over the tests it was "
        "handed.",
        f"[6] one file: {TURNS_TESTS} tests of one group (prestart, the "
        f"default) and {TURNS_TESTS} trivial tests in pytest's process, against "
        "the same file --no-isolation; per grouped test.  Interleaved, each "
        "grouped test waits for its turn (a go from pytest's process); "
        "adjacent, the group has one turn; --isolated-parallel=2 lets the group "
        "run ahead without turns.",
    ]
    if floors:
        first = floors[0]
        notes.append(
            f"[1] fork floor: median of {len(floors)} helper run(s), each the "
            f"median of {FORK_FLOOR_FORKS} fork()+waitpid() of a process that "
            f"collected {first['items']} tests ({first['modules']} modules, "
            f"RSS {first['rss_kb'] / 1024:.0f} MB)."
        )
    ceiling = ratios["wall"].get("many_parallel_speedup_ceiling")
    serial = result["scenarios"].get("many_forked")
    if ceiling is not None and serial is not None and serial["median_wall"]:
        busy = serial["median_cpu"] / serial["median_wall"]
        notes.append(
            f"[4] the serial --forked run keeps {busy:.2f} CPUs busy on average "
            f"(CPU / wall): at most {ceiling:.2f}x is possible on "
            f"{result['usable_cpus']} CPU(s) (many_parallel_speedup_ceiling)."
        )
    print()
    for note in notes:
        print(f"- {note}")


# -- main ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument(
        "--heavy-rounds",
        type=int,
        default=1,
        help="rounds of the --forked-tests scenarios and of the sleepy prestart "
        "one, at most --rounds (default 1)",
    )
    parser.add_argument(
        "--tests",
        type=int,
        default=50,
        help="tests in the main suite, a multiple of 10 (default 50)",
    )
    parser.add_argument(
        "--forked-tests",
        type=int,
        default=500,
        help="tests in the --forked suite of [1] and [4], a multiple of 10 "
        "(default 500)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a quick look: 1 round, --tests 20, --forked-tests 100",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        help=f"where to write the figures (default {DEFAULT_JSON.relative_to(ROOT)})",
    )
    parser.add_argument(
        "--only",
        metavar="KEYS",
        help="run only these scenarios (keys, comma-separated, e.g. "
        "xdist_serial,xdist_parallel); the other figures are not measured",
    )
    parser.add_argument(
        "--no-pytest-forked",
        action="store_true",
        help="skip pytest-forked (do not build or use migration/.env)",
    )
    options = parser.parse_args(argv)
    if options.quick:
        options.rounds, options.tests, options.forked_tests = 1, 20, 100
    heavy_rounds: int = min(options.heavy_rounds, options.rounds)
    if (
        options.rounds < 1
        or heavy_rounds < 1
        or options.tests < FILES
        or options.tests % FILES
        or options.forked_tests < PER_FILE
        or options.forked_tests % PER_FILE
    ):
        parser.error(
            "--rounds and --heavy-rounds must be >= 1, --tests and --forked-tests "
            "multiples of 10"
        )
    tests: int = options.tests
    forked_tests: int = options.forked_tests

    if options.no_pytest_forked:
        forked_python, forked_note = None, "skipped (--no-pytest-forked)"
    else:
        forked_python, forked_note = pytest_forked_python()
    started = time.perf_counter()
    info = machine()
    print(
        f"Python {info['python']}, {info['usable_cpus']} usable CPUs, "
        f"/proc/loadavg at start: {info['load_average']}; "
        f"pytest-forked: {forked_note}",
        flush=True,
    )
    failures: dict[str, list[str]] = {}  # every failed run, with pytest's output
    summaries: dict[str, list[str]] = {}  # a line per failed run
    floor_runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="isolated-bench-") as tmp_name:
        tmp = Path(tmp_name)
        suites = make_suites(tmp / "suites", tests, forked_tests)
        runtmp = tmp / "tmp"
        runtmp.mkdir()
        env = bench_environment(runtmp)
        probe = tmp / "probe.json"
        plan = scenarios(suites, tests, forked_tests, forked_python)
        if options.only:
            keys = {key.strip() for key in options.only.split(",")}
            unknown = keys - {s.key for s in plan}
            if unknown:
                parser.error(f"--only: no scenario {', '.join(sorted(unknown))}")
            plan = [s for s in plan if s.key in keys]
        samples = {s.key: Samples() for s in plan}

        def attempt(scenario: Scenario, number: int) -> Measured | None:
            """A run, or None if it failed (the failure is noted)."""
            try:
                return run_once(scenario, env, probe)
            except RunFailed as exc:
                when = f"round {number}" if number else "warm-up"
                failures.setdefault(scenario.key, []).append(f"{when}: {exc}")
                summaries.setdefault(scenario.key, []).append(
                    f"{when}: {exc.summary or str(exc).splitlines()[0]}"
                )
                print(f"ERROR ({when}): {exc}", file=sys.stderr, flush=True)
                return None

        # Warm-up: bytecode caches of the suites, the disk cache.
        for scenario in plan:
            if scenario.warm:
                attempt(scenario, 0)
        for number in range(1, options.rounds + 1):
            for scenario in plan:
                if scenario.heavy and number > heavy_rounds:
                    continue
                measured = attempt(scenario, number)
                if measured is not None:
                    taken = samples[scenario.key]
                    taken.rounds.append(number)
                    taken.wall.append(measured.wall)
                    taken.cpu.append(measured.cpu)
                    taken.parent.append(measured.parent)
                    taken.faults.append(measured.faults)
                    if measured.gap is not None:
                        taken.gap.append(measured.gap)
            if hasattr(os, "fork"):
                try:
                    floor_runs.append(fork_floor(suites.many, env))
                except RunFailed as exc:
                    failures.setdefault("fork_floor", []).append(str(exc))
                    summaries.setdefault("fork_floor", []).append(
                        f"round {number}: {str(exc).splitlines()[0]}"
                    )
                    print(f"ERROR: {exc}", file=sys.stderr, flush=True)
            print(
                f"round {number}/{options.rounds} done "
                f"({time.perf_counter() - started:.0f}s, load {load_average()})",
                flush=True,
            )

    # A failed run is left out: a figure pairs the rounds both of its runs
    # passed in, and is "-" if there is none.
    figs, targets = figures(
        samples,
        tests,
        forked_tests,
        floor_runs,
        forked_note,
        info["usable_cpus"] or 1,
    )
    info["load_average_after"] = load_average()
    result: dict[str, Any] = {
        "machine": info,
        "usable_cpus": info["usable_cpus"] or 1,
        "pytest": pytest_version(sys.executable),
        "pytest_forked_env_pytest": (
            pytest_version(forked_python) if forked_python else None
        ),
        "rounds": options.rounds,
        "heavy_rounds": heavy_rounds,
        "tests": tests,
        "forked_tests": forked_tests,
        "seconds": round(time.perf_counter() - started, 1),
        "failures": failures,
        "failure_summaries": summaries,
        "scenarios": {
            s.key: {
                "title": s.title,
                "command": ["python", "-m", "pytest", "-q", *PROBE, *s.args],
                "rounds": samples[s.key].rounds,
                "wall": samples[s.key].wall,
                "cpu": samples[s.key].cpu,
                "pytest_cpu": samples[s.key].parent,
                "median_wall": median_of(samples, s.key, "wall"),
                "median_cpu": median_of(samples, s.key, "cpu"),
                "median_pytest_cpu": median_of(samples, s.key, "parent"),
                "minor_faults": samples[s.key].faults,
                "gaps_between_groups": samples[s.key].gap,
            }
            for s in plan
            if s.key in samples
        },
        "figures": figs,
        "targets": [
            {
                "name": t.name,
                "figure": t.figure,
                "baseline": t.baseline,
                "ratio": t.ratio,
                "limit": t.limit,
                "at_most": t.at_most,
                "absolute": t.absolute,
                "met": t.met,
            }
            for t in targets
        ],
    }
    report(result, targets, tests, forked_tests, heavy_rounds)
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps(result, indent=2) + "\n")
    if failures:
        print("\nFAILED runs (left out of the figures):")
        for key, lines in summaries.items():
            for line in lines:
                print(f"- {key}, {line}")
    print(
        f"\n{options.rounds} rounds in {result['seconds']:.0f}s; "
        f"/proc/loadavg at start: {info['load_average']}; "
        f"at end: {info['load_average_after']}; figures in {options.json}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
