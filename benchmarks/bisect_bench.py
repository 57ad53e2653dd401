#!/usr/bin/env python3
"""Measure what ``--isolated-bisect`` costs on a large suite.

One suite of ``--tests`` trivial tests (default 1,000, in files of 100): one
test leaves a module global set (the polluter, about 15% in), and
``--victims`` later tests (default 10, spread over the rest) fail when it is
set.  The suite runs ``--rounds`` times (default 3) without the bisect (the
baseline) and with it, for each start method of ``--methods`` (default
``fork prestart``; ``auto`` picks ``fork`` on Linux), alternately, in this one
run of the script.  Printed, as medians over the rounds:

- the baseline session's wall-clock time;
- for each method, the number of probes, the probes' own time (the JSON
  file's figure), the session's wall-clock time and its ratio to the
  baseline, and the probes and seconds per victim;
- the number of probes the same verdicts would take if each victim were
  bisected from scratch (the culprit found for the first victim not tried
  first for the next ones), counted by running the same reduction on
  simulated probes.

The exit status is 1 if a run's verdicts are not "polluted-by the polluter"
for every victim.  Every run is started with
``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1`` and ``-p pytest_isolated.plugin``; the
figures also go to ``--json`` (default ``benchmarks/results/bisect.json``).

    python benchmarks/bisect_bench.py [--rounds 3] [--tests 1000] [--victims 10]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "bisect.json"
PER_FILE = 100


def layout(tests: int, victims: int) -> tuple[int, list[int]]:
    """The polluter's index and the victims', in run order."""
    polluter = tests * 15 // 100
    step = (tests - polluter - 1) // victims
    return polluter, [polluter + step * (k + 1) for k in range(victims)]


def name(n: int) -> str:
    return f"test_m{n // PER_FILE:03d}.py::test_{n:04d}"


def write_suite(folder: Path, tests: int, victims: int) -> None:
    polluter, hit = layout(tests, victims)
    folder.mkdir(parents=True)
    (folder / "pytest.ini").write_text("[pytest]\n")  # pins the rootdir
    (folder / "shared.py").write_text("STATE = {}\n")
    for start in range(0, tests, PER_FILE):
        lines = ["from shared import STATE", ""]
        for n in range(start, min(start + PER_FILE, tests)):
            lines.append(f"def test_{n:04d}():")
            if n == polluter:
                lines.append("    STATE['dirty'] = True")
            elif n in hit:
                lines.append("    assert not STATE.get('dirty')")
            else:
                lines.append(f"    assert {n} + 1 == {n + 1}")
            lines.append("")
        (folder / f"test_m{start // PER_FILE:03d}.py").write_text("\n".join(lines))


def run(folder: Path, env: dict[str, str], extra: list[str]) -> float:
    """One session's wall-clock seconds."""
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
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=folder, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 1:  # the victims fail
        sys.exit(f"{' '.join(command)}: exit {done.returncode}\n{done.stdout}")
    return wall


def from_scratch(tests: int, victims: int) -> int:
    """Probes for the same verdicts, each victim bisected on its own."""
    from pytest_isolated.finding.ddmin import diagnose

    polluter, hit = layout(tests, victims)
    count = 0
    for victim in hit:

        def probe(before: list[int]) -> bool:
            nonlocal count
            count += 1
            return polluter in before

        diagnose(list(range(victim)), probe)
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--victims", type=int, default=10)
    parser.add_argument("--methods", nargs="+", default=["fork", "prestart"])
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON)
    args = parser.parse_args(argv)
    polluter, hit = layout(args.tests, args.victims)
    wrong = 0

    with tempfile.TemporaryDirectory(prefix="bisect-bench-") as scratch:
        root = Path(scratch)
        suite = root / "suite"
        write_suite(suite, args.tests, args.victims)
        env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
        for variable in ("PYTEST_ADDOPTS", "PYTEST_PLUGINS"):
            env.pop(variable, None)
        baseline: list[float] = []
        runs: dict[str, list[dict[str, Any]]] = {m: [] for m in args.methods}
        run(suite, env, [])  # warm the caches (bytecode, file system)
        for _ in range(args.rounds):
            baseline.append(run(suite, env, []))
            for method in args.methods:
                out = root / f"{method}.json"
                wall = run(
                    suite,
                    env,
                    [
                        f"--isolated-start={method}",
                        "--isolated-bisect",
                        f"--isolated-bisect-json={out}",
                    ],
                )
                data = json.loads(out.read_text("utf-8"))
                verdicts = data["verdicts"]
                expected = [(name(v), "polluted-by", [name(polluter)]) for v in hit]
                got = [(v["nodeid"], v["verdict"], v["culprits"]) for v in verdicts]
                if got != expected:
                    wrong += 1
                    print(f"{method}: unexpected verdicts {got}", file=sys.stderr)
                (totals,) = data["runs"]
                runs[method].append(
                    {
                        "wall_s": wall,
                        "probes": totals["probes"],
                        "probe_s": totals["seconds"],
                        "start": totals["start"],
                        "first_victim_probes": verdicts[0]["probes"],
                    }
                )

    base = statistics.median(baseline)
    scratch_probes = from_scratch(args.tests, args.victims)
    figures: dict[str, Any] = {
        "tests": args.tests,
        "victims": args.victims,
        "rounds": args.rounds,
        "baseline_wall_s": base,
        "probes_from_scratch": scratch_probes,
        "methods": {},
    }
    lines = [
        f"{args.tests} tests, 1 polluter, {args.victims} victims, "
        f"{args.rounds} rounds, medians",
        f"  baseline session (no bisect)      {base:7.2f}s",
    ]
    for method, results in runs.items():
        wall = statistics.median(r["wall_s"] for r in results)
        probes = statistics.median(r["probes"] for r in results)
        probe_s = statistics.median(r["probe_s"] for r in results)
        first = statistics.median(r["first_victim_probes"] for r in results)
        figures["methods"][method] = {
            "wall_s": wall,
            "ratio": wall / base,
            "probes": probes,
            "probe_s": probe_s,
            "first_victim_probes": first,
            "runs": results,
        }
        lines.append(
            f"  {method:<9} {probes:4.0f} probes in {probe_s:6.2f}s "
            f"({first:.0f} for the first victim, "
            f"{(probes - first) / max(1, args.victims - 1):.1f} for each other)   "
            f"session {wall:6.2f}s, ratio {wall / base:5.2f} to the baseline"
        )
    lines.append(
        f"  each victim bisected from scratch would take {scratch_probes} probes"
    )
    figures["machine"] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
    print("\n".join(lines))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(figures, indent=2) + "\n", "utf-8")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
