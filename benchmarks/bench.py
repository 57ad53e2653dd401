#!/usr/bin/env python3
"""Measure what isolation costs, against baselines measured in the same run.

Every figure is the median of ``--rounds`` rounds; a round runs every
scenario once, so that a change in the machine's load hits all of them alike.
An *overhead* is always a difference between two runs of the same suite, one
isolated and one not, taken in the same round (the median of those paired
differences), divided by the number of groups (or tests) that were isolated:

- the spawn floor: ``python -m pytest`` of one trivial test, not isolated;
- 100 single-test groups (``--isolated``), for each start method
  (``spawn``, ``prestart``, ``fork``);
- the same 100 tests as one group (a module marker naming one group);
- the same 100 tests under ``--forked``;
- the same 100 tests not isolated (the baseline of the above);
- pytest-forked 1.7.5 on the same 100 tests, in the side environment
  ``migration/run.py`` builds (``migration/.env``, POSIX only);
- 100 single-test groups with ``--isolated-parallel=2`` against 1;
- scale: 10 single-test groups in a suite of 10 files and in one of 1,000
  files; a group's overhead should not depend on the size of the suite.

Every run is started with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1`` and
``-p pytest_isolated.plugin`` (or ``-p pytest_forked`` in the side
environment), so that whatever else is installed does not distort the
figures.  Wall-clock time is the figure the targets use; CPU time (user +
system of the whole process tree) is reported too, as it depends less on the
machine's load.  All figures go to ``--json`` (default
``benchmarks/results/latest.json``).

    python benchmarks/bench.py [--rounds 5] [--tests 100] [--json PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MIGRATION_RUN = ROOT / "migration" / "run.py"
DEFAULT_JSON = HERE / "results" / "latest.json"

RUN_TIMEOUT = 900.0
FILES = 10  # the 100-test suite is 10 files of 10 tests
SCALE_GROUPS = 10  # isolated files in each scale suite
SCALE_SMALL = 10
SCALE_LARGE = 1000

ISOLATED = ("-p", "pytest_isolated.plugin")


# -- the suites ----------------------------------------------------------------


def write_suite(
    folder: Path, files: int, tests_per_file: int, header: Callable[[int], str]
) -> None:
    """*files* test files of *tests_per_file* trivial tests; *header(i)* opens
    file *i* (imports, a ``pytestmark``)."""
    folder.mkdir(parents=True)
    (folder / "pytest.ini").write_text("[pytest]\n")  # pins the rootdir
    width = len(str(files - 1))
    for index in range(files):
        body = "".join(
            f"\n\ndef test_{n:03d}():\n    assert {n} + 1 == {n + 1}\n"
            for n in range(tests_per_file)
        )
        (folder / f"test_m{index:0{width}d}.py").write_text(header(index) + body)


def plain(_: int) -> str:
    return '"""Trivial tests."""\n'


def one_group(_: int) -> str:
    return 'import pytest\n\npytestmark = pytest.mark.isolated(group="all")\n'


def isolated_every(step: int) -> Callable[[int], str]:
    """Every *step*-th file is isolated as a whole (one group per file)."""

    def header(index: int) -> str:
        if index % step:
            return plain(index)
        return "import pytest\n\npytestmark = pytest.mark.isolated\n"

    return header


@dataclass(frozen=True)
class Suites:
    floor: Path
    plain: Path
    group: Path
    small: Path
    large: Path


def make_suites(root: Path, tests: int) -> Suites:
    suites = Suites(
        root / "floor",
        root / "plain",
        root / "group",
        root / f"scale{SCALE_SMALL}",
        root / f"scale{SCALE_LARGE}",
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
    return suites


# -- running -------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    python: str
    args: tuple[str, ...]
    cwd: Path
    passed: int  # the run must report exactly this many passed tests


@dataclass
class Samples:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def of(self, kind: str) -> list[float]:
        """The wall-clock or the CPU seconds."""
        return self.wall if kind == "wall" else self.cpu


class RunFailed(Exception):
    pass


def bench_environment(tmp: Path) -> dict[str, str]:
    """This environment without pytest's variables, no plugin autoloading, and
    a private temp directory (the children's work directories go there)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYTEST_") and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["TMPDIR"] = str(tmp)
    return env


def children_cpu() -> float:
    """User + system seconds of every waited-for descendant so far."""
    if sys.platform == "win32":  # wall-clock time only
        return 0.0
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(scenario: Scenario, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one run; RunFailed unless it passed."""
    command = [scenario.python, "-m", "pytest", "-q", *scenario.args]
    cpu = children_cpu()
    start = time.perf_counter()
    try:
        done = subprocess.run(
            command,
            cwd=scenario.cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise RunFailed(f"{scenario.key}: timed out: {exc}") from None
    wall = time.perf_counter() - start
    cpu = children_cpu() - cpu
    summary = done.stdout.strip().splitlines()[-1:] or [""]
    expected = f"{scenario.passed} passed"
    if done.returncode != 0 or not summary[0].startswith(expected):
        raise RunFailed(
            f"{scenario.key}: expected {expected!r}, exit status "
            f"{done.returncode}:\n$ {' '.join(command)}\n{done.stdout}{done.stderr}"
        )
    return wall, cpu


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


def scenarios(suites: Suites, tests: int, forked_python: str | None) -> list[Scenario]:
    py = sys.executable
    scale = SCALE_GROUPS
    spawn = "--isolated-start=spawn"
    found = [
        Scenario("floor", "python -m pytest, 1 test", py, ISOLATED, suites.floor, 1),
        Scenario("plain", f"{tests} tests, not isolated", py, ISOLATED, suites.plain,
                 tests),
        Scenario("spawn", f"{tests} groups, spawn", py,
                 (*ISOLATED, "--isolated", spawn), suites.plain, tests),
        Scenario("prestart", f"{tests} groups, prestart", py,
                 (*ISOLATED, "--isolated", "--isolated-start=prestart"),
                 suites.plain, tests),
        Scenario("fork", f"{tests} groups, fork", py,
                 (*ISOLATED, "--isolated", "--isolated-start=fork"),
                 suites.plain, tests),
        Scenario("parallel2", f"{tests} groups, prestart, --isolated-parallel=2",
                 py, (*ISOLATED, "--isolated", "--isolated-parallel=2"),
                 suites.plain, tests),
        Scenario("forked", f"{tests} tests, --forked", py, (*ISOLATED, "--forked"),
                 suites.plain, tests),
        Scenario("group_plain", f"{tests} tests, group marker, --no-isolation", py,
                 (*ISOLATED, "--no-isolation"), suites.group, tests),
        Scenario("group", f"{tests} tests in one group", py, ISOLATED, suites.group,
                 tests),
        Scenario("small_plain", f"{SCALE_SMALL} files, --no-isolation", py,
                 (*ISOLATED, "--no-isolation"), suites.small, SCALE_SMALL),
        Scenario("small", f"{SCALE_SMALL} files, {scale} isolated, spawn", py,
                 (*ISOLATED, spawn), suites.small, SCALE_SMALL),
        Scenario("large_plain", f"{SCALE_LARGE} files, --no-isolation", py,
                 (*ISOLATED, "--no-isolation"), suites.large, SCALE_LARGE),
        Scenario("large", f"{SCALE_LARGE} files, {scale} isolated, spawn", py,
                 (*ISOLATED, spawn), suites.large, SCALE_LARGE),
    ]  # fmt: skip
    if forked_python is not None:
        forked = ("-p", "pytest_forked")
        found += [
            Scenario("pf_plain", f"{tests} tests, pytest-forked env, not forked",
                     forked_python, forked, suites.plain, tests),
            Scenario("pf_forked", f"{tests} tests, pytest-forked 1.7.5 --forked",
                     forked_python, (*forked, "--forked"), suites.plain, tests),
        ]  # fmt: skip
    return found


# -- figures ---------------------------------------------------------------------


def overhead(
    samples: dict[str, Samples], isolated: str, baseline: str, count: int, kind: str
) -> float:
    """Median over rounds of (isolated run - baseline run) / count, in seconds."""
    a = samples[isolated].of(kind)
    b = samples[baseline].of(kind)
    return statistics.median(x - y for x, y in zip(a, b, strict=True)) / count


@dataclass(frozen=True)
class Target:
    name: str
    value: float | None
    limit: float
    at_most: bool  # value <= limit, else value >= limit

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value <= self.limit if self.at_most else self.value >= self.limit


def figures(
    samples: dict[str, Samples], tests: int, forked_note: str, cpus: int
) -> tuple[dict[str, Any], list[Target]]:
    per: dict[str, dict[str, float | None]] = {}
    for kind in ("wall", "cpu"):
        fig: dict[str, float | None] = {
            "floor": statistics.median(samples["floor"].of(kind)),
            "not_isolated_run": statistics.median(samples["plain"].of(kind)),
        }
        for method in ("spawn", "prestart", "fork", "parallel2", "forked"):
            fig[method] = overhead(samples, method, "plain", tests, kind)
        group = overhead(samples, "group", "group_plain", tests, kind)
        fig["group_per_test"] = group
        fig["group_whole"] = group * tests
        fig["scale_small"] = overhead(
            samples, "small", "small_plain", SCALE_GROUPS, kind
        )
        fig["scale_large"] = overhead(
            samples, "large", "large_plain", SCALE_GROUPS, kind
        )
        fig["pytest_forked"] = (
            overhead(samples, "pf_forked", "pf_plain", tests, kind)
            if "pf_forked" in samples
            else None
        )
        per[kind] = fig

    def ratio(kind: str, a: str, b: str) -> float | None:
        x, y = per[kind][a], per[kind][b]
        return None if x is None or y is None or y <= 0 else x / y

    ratios: dict[str, dict[str, float | None]] = {}
    for kind in ("wall", "cpu"):
        ratios[kind] = {
            "spawn_vs_floor": ratio(kind, "spawn", "floor"),
            "prestart_vs_floor": ratio(kind, "prestart", "floor"),
            "fork_vs_floor": ratio(kind, "fork", "floor"),
            "forked_vs_floor": ratio(kind, "forked", "floor"),
            "parallel_speedup": ratio(kind, "prestart", "parallel2"),
            "fork_vs_pytest_forked": ratio(kind, "fork", "pytest_forked"),
            "forked_vs_pytest_forked": ratio(kind, "forked", "pytest_forked"),
            "scale_large_vs_small": ratio(kind, "scale_large", "scale_small"),
            "one_group_vs_floor": ratio(kind, "group_whole", "floor"),
        }
    # Under --isolated-parallel the processes compete for the CPUs: a run
    # that already keeps C CPUs busy on average (CPU time / wall time) can go
    # at most usable_cpus / C times faster, even on an idle machine.
    busy = statistics.median(samples["prestart"].cpu) / statistics.median(
        samples["prestart"].wall
    )
    ratios["wall"]["parallel_speedup_ceiling"] = (
        min(float(cpus), cpus / busy) if busy > 0 else None
    )
    ratios["cpu"]["parallel_speedup_ceiling"] = None
    wall = ratios["wall"]
    targets = [
        Target("single-test group (spawn) / spawn floor", wall["spawn_vs_floor"],
               1.1, True),
        Target("single-test group (prestart) / spawn floor",
               wall["prestart_vs_floor"], 1.1, True),
        Target("single-test group (fork) / spawn floor", wall["fork_vs_floor"], 1.1,
               True),
        Target("--isolated-parallel=2 vs 1 (speed-up)", wall["parallel_speedup"],
               1.7, False),
        Target("fork per group / pytest-forked per test",
               wall["fork_vs_pytest_forked"], 1.5, True),
        Target(f"group overhead, {SCALE_LARGE}-file / {SCALE_SMALL}-file suite",
               wall["scale_large_vs_small"], 1.2, True),
    ]  # fmt: skip
    return {
        "per_group_overhead_seconds": per,
        "ratios": ratios,
        "pytest_forked": forked_note,
    }, targets


# -- output ----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": cpus,
        "usable_cpus": usable,
        "load_average": list(load) if load else None,
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
    return "-" if value is None else f"{value * 1000:.0f}"


def times(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def report(result: dict[str, Any], targets: Sequence[Target], tests: int) -> None:
    per = result["figures"]["per_group_overhead_seconds"]
    wall, cpu = per["wall"], per["cpu"]
    rows = [
        ("spawn floor: python -m pytest of 1 test (whole run)", "floor"),
        (f"{tests} tests not isolated (whole run)", "not_isolated_run"),
        ("per-group overhead, --isolated-start=spawn", "spawn"),
        ("per-group overhead, --isolated-start=prestart (default)", "prestart"),
        ("per-group overhead, --isolated-start=fork", "fork"),
        ("per-group overhead, prestart, --isolated-parallel=2", "parallel2"),
        ("per-test overhead, --forked (prestart)", "forked"),
        ("per-test overhead, pytest-forked 1.7.5 --forked", "pytest_forked"),
        (f"per-test overhead, {tests} tests in one group", "group_per_test"),
        (f"overhead of the one group of {tests} tests", "group_whole"),
        (f"per-group overhead in a {SCALE_SMALL}-file suite (spawn)", "scale_small"),
        (f"per-group overhead in a {SCALE_LARGE}-file suite (spawn)", "scale_large"),
    ]
    width = max(len(title) for title, _ in rows)
    print(f"\n{'figure (medians)':<{width}}  {'wall ms':>8}  {'CPU ms':>8}")
    for title, key in rows:
        print(f"{title:<{width}}  {ms(wall[key]):>8}  {ms(cpu[key]):>8}")
    if wall["pytest_forked"] is None:
        print(f"pytest-forked: {result['figures']['pytest_forked']}")
    ratios = result["figures"]["ratios"]
    print(f"\n{'ratio':<{width}}  {'wall':>8}  {'CPU':>8}")
    for key, value in ratios["wall"].items():
        print(f"{key:<{width}}  {times(value):>8}  {times(ratios['cpu'][key]):>8}")
    print(f"\n{'target (wall clock)':<{width}}  {'measured':>8}  {'target':>8}")
    for target in targets:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[target.met]
        limit = f"{'<=' if target.at_most else '>='}{target.limit:g}x"
        print(
            f"{target.name:<{width}}  {times(target.value):>8}  {limit:>8}  {verdict}"
        )


# -- main ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    parser.add_argument(
        "--tests",
        type=int,
        default=100,
        help="tests in the main suite, a multiple of 10 (default 100)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        help=f"where to write the figures (default {DEFAULT_JSON.relative_to(ROOT)})",
    )
    parser.add_argument(
        "--no-pytest-forked",
        action="store_true",
        help="skip pytest-forked (do not build or use migration/.env)",
    )
    options = parser.parse_args(argv)
    if options.rounds < 1 or options.tests < FILES or options.tests % FILES:
        parser.error("--rounds must be >= 1, --tests a multiple of 10")
    tests: int = options.tests

    if options.no_pytest_forked:
        forked_python, forked_note = None, "skipped (--no-pytest-forked)"
    else:
        forked_python, forked_note = pytest_forked_python()
    started = time.perf_counter()
    info = machine()
    print(
        f"Python {info['python']}, {info['usable_cpus']} usable CPUs, "
        f"load average {info['load_average']}; pytest-forked: {forked_note}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="isolated-bench-") as tmp_name:
        tmp = Path(tmp_name)
        suites = make_suites(tmp / "suites", tests)
        runtmp = tmp / "tmp"
        runtmp.mkdir()
        env = bench_environment(runtmp)
        plan = scenarios(suites, tests, forked_python)
        samples = {s.key: Samples() for s in plan}
        try:
            # Warm-up: bytecode caches of the suites, the disk cache.
            for scenario in plan:
                if scenario.key.endswith("plain") or scenario.key == "floor":
                    run_once(scenario, env)
            for number in range(1, options.rounds + 1):
                for scenario in plan:
                    wall, cpu = run_once(scenario, env)
                    samples[scenario.key].wall.append(wall)
                    samples[scenario.key].cpu.append(cpu)
                load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
                print(
                    f"round {number}/{options.rounds} done "
                    f"({time.perf_counter() - started:.0f}s, load {load})",
                    flush=True,
                )
        except RunFailed as exc:
            print(f"ERROR: {exc}", file=sys.stderr)
            return 1

    figs, targets = figures(samples, tests, forked_note, info["usable_cpus"] or 1)
    info["load_average_after"] = (
        list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    )
    result: dict[str, Any] = {
        "machine": info,
        "pytest": pytest_version(sys.executable),
        "pytest_forked_env_pytest": (
            pytest_version(forked_python) if forked_python else None
        ),
        "rounds": options.rounds,
        "tests": tests,
        "seconds": round(time.perf_counter() - started, 1),
        "scenarios": {
            s.key: {
                "title": s.title,
                "command": ["python", "-m", "pytest", "-q", *s.args],
                "wall": samples[s.key].wall,
                "cpu": samples[s.key].cpu,
                "median_wall": statistics.median(samples[s.key].wall),
                "median_cpu": statistics.median(samples[s.key].cpu),
            }
            for s in plan
        },
        "figures": figs,
        "targets": [
            {
                "name": t.name,
                "value": t.value,
                "limit": t.limit,
                "at_most": t.at_most,
                "met": t.met,
            }
            for t in targets
        ],
    }
    report(result, targets, tests)
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\n{options.rounds} rounds in {result['seconds']:.0f}s; "
        f"load average after: {info['load_average_after']}; figures in {options.json}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
