#!/usr/bin/env python3
"""Measure what ``--isolated-check-state`` costs per test.

One suite of ``--tests`` trivial tests (default 1,000, in files of 100) runs
with and without the check, alternately, ``--rounds`` times (default 5), in
this one run of the script, so that a change in the machine's load hits both
alike.  For each of three measures, the median over the rounds without and
with the check, their ratio, and the median of the paired differences (the
two runs of a round) divided by the number of tests: what the check adds to
a trivial test.  The target is at most 1 ms per test, checked on CPU time,
which depends least on the machine's load.

- the session's wall-clock time (``-q``, so that the terminal costs little);
- its CPU time, user + system (POSIX);
- the test loop alone, as pytest reports it (the ``in N.NNs`` of the summary
  line), which leaves out start-up.

Then one snapshot of the process state is timed in this process (the check
takes two per test, and compares them), in total and for each kind (in the
JSON; the costliest three are printed).  The exit status is 1 when the CPU
cost per test is above the target.

Every run is started with ``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1`` and
``-p pytest_isolated.plugin`` and a private ``TMPDIR``, so that other
installed plugins and other programs' temporary files do not distort the
figures.  The figures also go to ``--json`` (default
``benchmarks/results/statecheck.json``).

    python benchmarks/statecheck_bench.py [--rounds 5] [--tests 1000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "statecheck.json"
PER_FILE = 100
TARGET_MS = 1.0

DESCRIBE = {
    "wall": "session, wall clock",
    "cpu": "session, CPU (user + system)",
    "loop": "test loop (pytest's 'in N s')",
}
SUMMARY_TIME = re.compile(r" in (\d+\.\d+)s")


def write_suite(folder: Path, tests: int) -> None:
    """*tests* trivial tests, in files of PER_FILE."""
    folder.mkdir(parents=True)
    (folder / "pytest.ini").write_text("[pytest]\n")  # pins the rootdir
    for start in range(0, tests, PER_FILE):
        body = "".join(
            f"\n\ndef test_{n:04d}():\n    assert {n} + 1 == {n + 1}\n"
            for n in range(start, min(start + PER_FILE, tests))
        )
        (folder / f"test_m{start // PER_FILE:03d}.py").write_text(body.lstrip())


def run(folder: Path, env: dict[str, str], extra: list[str]) -> tuple[float, ...]:
    """One session: (wall seconds, CPU seconds, pytest's own reported seconds)."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "pytest_isolated.plugin",
        "-p",
        "no:cacheprovider",
        *extra,
    ]
    cpu_before = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    cpu = _children_cpu() - cpu_before
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    found = SUMMARY_TIME.findall(done.stdout)
    if "changed state" in done.stdout or not found:
        sys.exit(f"unexpected output:\n{done.stdout}")
    return wall, cpu, float(found[-1])


def _children_cpu() -> float:
    """User + system CPU seconds of this script's waited-for children."""
    try:
        import resource
    except ImportError:  # Windows: no CPU figures
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def snapshot_cost(temp: Path, repeat: int = 2000) -> tuple[float, dict[str, float]]:
    """Seconds for one snapshot of this process's state, in total and for each
    kind; *temp* stands for the temporary directory, as in the runs."""
    from pytest_isolated.finding.statecheck import ProcessState

    def best(function: Callable[[], object]) -> float:
        return min(timeit.repeat(function, number=repeat, repeat=5)) / repeat

    saved, tempfile.tempdir = tempfile.tempdir, str(temp)
    try:
        state = ProcessState()
        state.snapshot()  # the first one lists what later ones reuse
        return best(state.snapshot), {kind.name: best(kind.get) for kind in state.kinds}
    finally:
        tempfile.tempdir = saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="statecheck-bench-") as scratch:
        root = Path(scratch)
        suite = root / "suite"
        write_suite(suite, args.tests)
        private_tmp = root / "tmp"
        private_tmp.mkdir()
        env = dict(
            os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", TMPDIR=str(private_tmp)
        )
        for name in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
            env.pop(name, None)
        scenarios = {"without": [], "with": ["--isolated-check-state"]}
        runs: dict[str, list[tuple[float, ...]]] = {name: [] for name in scenarios}
        run(suite, env, [])  # warm the caches (bytecode, file system)
        for _ in range(args.rounds):
            for name, extra in scenarios.items():
                runs[name].append(run(suite, env, extra))
        snapshot, by_kind = snapshot_cost(private_tmp)

    n = args.tests
    figures: dict[str, Any] = {"tests": n, "rounds": args.rounds}
    lines = [f"{n} trivial tests, {args.rounds} rounds, medians"]
    # (label, index in a run's tuple)
    for label, index in (("wall", 0), ("cpu", 1), ("loop", 2)):
        without = statistics.median(r[index] for r in runs["without"])
        with_ = statistics.median(r[index] for r in runs["with"])
        # The difference of the two runs of each round, then the median.
        paired = statistics.median(
            w[index] - wo[index]
            for w, wo in zip(runs["with"], runs["without"], strict=True)
        )
        per_test_ms = paired / n * 1000
        ratio = with_ / without if without else float("nan")
        figures[label] = {
            "without_s": without,
            "with_s": with_,
            "ratio": ratio,
            "per_test_ms": per_test_ms,
        }
        lines.append(
            f"  {DESCRIBE[label]:<34} {without:7.3f}s -> {with_:7.3f}s   "
            f"ratio {ratio:5.3f}   {per_test_ms:+.3f} ms per test"
        )
    snapshot_us = snapshot * 1e6
    figures["snapshot_us"] = snapshot_us
    figures["snapshot_us_by_kind"] = {k: v * 1e6 for k, v in by_kind.items()}
    figures["target_ms"] = TARGET_MS
    figures["machine"] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    figures["runs"] = runs
    lines.append(
        f"  one snapshot, in this process      {snapshot_us:7.1f} us (two per test)"
    )
    costly = sorted(by_kind.items(), key=lambda item: -item[1])[:3]
    lines.append(
        "  its costliest kinds                "
        + ", ".join(f"{name} {cost * 1e6:.1f} us" for name, cost in costly)
    )
    lines.append(f"  target: at most {TARGET_MS:g} ms per test (CPU)")
    print("\n".join(lines))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"  figures in {args.json}")
    return 0 if figures["cpu"]["per_test_ms"] <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
