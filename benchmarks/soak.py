#!/usr/bin/env python3
"""Soak test: thousands of single-test groups in one pytest process.

It generates a suite of ``--count`` tests (default 2,000), each isolated in a
subprocess of its own, runs it in one pytest process and checks what is left
afterwards:

- every test is reported exactly once (JUnit XML), with the expected outcome:
  most pass, some fail, some crash (``os._exit``, and on POSIX a segfault),
  a few run past a short ``timeout=`` of their marker;
- no child process of pytest is left at the end of its session (alive or
  zombie), and no process of the run survives it;
- pytest's process holds as many file descriptors at the end of its session
  as at its start (Linux: ``/proc/self/fd``);
- no ``pytest-isolated-*`` work directory is left in the temp directory
  (a private ``TMPDIR``);
- pytest's memory stays flat: its RSS, sampled after the first test and
  every 200 tests, ends at most 30 MB above the first sample.

The figures are measured inside pytest's process by a small plugin written
into the suite (``soak_probe.py``).  Too slow for the normal test suite: it
takes several minutes at the default count.  Linux only (``/proc``).

    python benchmarks/soak.py [--count 2000] [--start prestart] [--parallel 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_JSON = HERE / "results" / "soak.json"

PER_FILE = 100
TIMEOUT = 2  # seconds: the marker's limit of the tests that hang
SAMPLE_EVERY = 200
RSS_SLACK_MB = 30.0

#: What test ``i`` does, by ``i % 100``: (kind, expected outcome, a word the
#: failure message must hold).
KINDS: list[tuple[str, str, str]] = (
    [("pass", "passed", "")] * 85
    + [("fail", "failed", "expected failure")] * 7
    + [("exit", "failed", "EXITED with status 3")] * 3
    + [("segfault", "failed", "SIGSEGV")] * 2
    + [("timeout", "failed", "TIMED OUT")] * 1
    + [("pass", "passed", "")] * 2
)

BODIES = {
    "pass": "    assert {i} >= 0\n",
    "fail": '    assert {i} < 0, "expected failure"\n',
    "exit": "    os._exit(3)\n",
    "segfault": "    ctypes.string_at(0)\n",
    "timeout": "    time.sleep(600)\n",
}

PROBE = '''\
"""Figures of pytest's own process, for benchmarks/soak.py."""

import json
import os
import threading

import pytest

IN_CHILD = os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS") == "1"
EVERY = {every}
figures = {{"samples": []}}
finished = 0


def fds():
    return len(os.listdir("/proc/self/fd"))


def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def children():
    """(pid, state) of every process whose parent is this one."""
    found = []
    me = str(os.getpid())
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{{name}}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[1] == me:
            found.append((int(name), fields[0]))
    return found


def sample(label):
    figures["samples"].append(
        {{"after": label, "rss_mb": round(rss_mb(), 1), "fds": fds(),
          "threads": threading.active_count(), "children": len(children())}}
    )


if not IN_CHILD:

    def pytest_sessionstart(session):
        figures["fds_start"] = fds()
        figures["threads_start"] = threading.active_count()
        figures["rss_start_mb"] = round(rss_mb(), 1)

    def pytest_runtest_logfinish(nodeid):
        global finished
        finished += 1
        if finished == 1 or finished % EVERY == 0:
            sample(finished)

    @pytest.hookimpl(trylast=True)
    def pytest_unconfigure(config):
        # After pytest-isolated's own session end and unconfigure: every
        # child should be reaped and every descriptor closed by now.
        figures["tests"] = finished
        figures["fds_end"] = fds()
        figures["threads_end"] = threading.active_count()
        figures["rss_end_mb"] = round(rss_mb(), 1)
        figures["children_end"] = children()
        with open(os.environ["SOAK_PROBE_OUT"], "w") as out:
            json.dump(figures, out)
'''


@dataclass(frozen=True)
class Expected:
    outcome: str
    words: str


def kind_of(index: int) -> tuple[str, str, str]:
    kind, outcome, words = KINDS[index % len(KINDS)]
    if kind == "segfault" and sys.platform == "win32":
        return "exit", "failed", "EXITED with status 3"
    return kind, outcome, words


def write_suite(folder: Path, count: int) -> dict[str, Expected]:
    """The suite and what each test (by JUnit ``classname.name``) must give."""
    folder.mkdir(parents=True)
    (folder / "pytest.ini").write_text("[pytest]\n")
    (folder / "soak_probe.py").write_text(PROBE.format(every=SAMPLE_EVERY))
    expected: dict[str, Expected] = {}
    files = (count + PER_FILE - 1) // PER_FILE
    for number in range(files):
        module = f"test_soak_{number:03d}"
        parts = ["import ctypes\nimport os\nimport time\n\nimport pytest\n"]
        for index in range(number * PER_FILE, min(count, (number + 1) * PER_FILE)):
            kind, outcome, words = kind_of(index)
            marker = (
                f"@pytest.mark.isolated(timeout={TIMEOUT})"
                if kind == "timeout"
                else "@pytest.mark.isolated"
            )
            name = f"test_{index:05d}_{kind}"
            body = BODIES[kind].format(i=index)
            parts.append(f"\n\n{marker}\ndef {name}():\n{body}")
            expected[f"{module}.{name}"] = Expected(outcome, words)
        (folder / f"{module}.py").write_text("".join(parts))
    return expected


def junit_outcomes(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Every test case of the report: name -> [(outcome, message), ...]."""
    found: dict[str, list[tuple[str, str]]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = f"{case.get('classname')}.{case.get('name')}"
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                outcome = {"failure": "failed", "error": "error"}.get(tag, tag)
                message = f"{element.get('message', '')}\n{element.text or ''}"
                break
        found.setdefault(name, []).append((outcome, message))
    return found


def survivors(token: str) -> list[int]:
    """Processes that still carry the run's token in their environment."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            environ = Path(f"/proc/{name}/environ").read_bytes()
        except OSError:
            continue
        if token.encode() in environ:
            found.append(int(name))
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="tests (2000)")
    parser.add_argument(
        "--start", default="prestart", help="--isolated-start (prestart)"
    )
    parser.add_argument("--parallel", default="1", help="--isolated-parallel (1)")
    parser.add_argument(
        "--json", type=Path, default=DEFAULT_JSON, help="where to write the figures"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the suite and pytest's output"
    )
    options = parser.parse_args(argv)
    if not Path("/proc/self/fd").is_dir():
        print("soak.py needs Linux's /proc", file=sys.stderr)
        return 2
    count: int = options.count

    root = Path(tempfile.mkdtemp(prefix="isolated-soak-"))
    suite, tmp = root / "suite", root / "tmp"
    tmp.mkdir()
    expected = write_suite(suite, count)
    token = uuid.uuid4().hex
    probe_out = root / "probe.json"
    junit = root / "junit.xml"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PYTEST_") and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env.update(
        PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
        TMPDIR=str(tmp),
        SOAK_PROBE_OUT=str(probe_out),
        SOAK_TOKEN=token,
    )
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "pytest_isolated.plugin",
        "-p",
        "soak_probe",
        f"--junitxml={junit}",
        f"--isolated-start={options.start}",
        f"--isolated-parallel={options.parallel}",
    ]
    print(
        f"{count} single-test groups ({options.start}, parallel {options.parallel}) "
        f"in {suite}; load average {os.getloadavg()}",
        flush=True,
    )
    started = time.perf_counter()
    with open(root / "output.txt", "w") as output:
        done = subprocess.run(
            command,
            cwd=suite,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=count * 5 + 600,
            check=False,
        )
    seconds = time.perf_counter() - started
    time.sleep(0.5)  # let a process that outlived pytest show itself
    left_processes = survivors(token)
    left_dirs = sorted(p.name for p in tmp.glob("pytest-isolated-*"))

    problems: list[str] = []
    if done.returncode != 1:  # some tests fail by design
        problems.append(f"pytest exited with status {done.returncode}, expected 1")
    reported = junit_outcomes(junit) if junit.exists() else {}
    if not junit.exists():
        problems.append("no JUnit XML report")
    outcomes: Counter[str] = Counter()
    for name, want in expected.items():
        got = reported.get(name, [])
        if len(got) != 1:
            problems.append(f"{name}: reported {len(got)} times")
            continue
        outcome, message = got[0]
        outcomes[outcome] += 1
        if outcome != want.outcome or want.words not in message:
            problems.append(
                f"{name}: {outcome} ({message.strip()[:200]!r}), expected "
                f"{want.outcome} saying {want.words!r}"
            )
    for name in sorted(set(reported) - set(expected)):
        problems.append(f"{name}: reported, but not in the suite")

    probe: dict[str, Any] = (
        json.loads(probe_out.read_text()) if probe_out.exists() else {}
    )
    if not probe:
        problems.append("no figures from the probe plugin (pytest did not finish?)")
    samples = probe.get("samples", [])
    rss = [s["rss_mb"] for s in samples]
    if probe:
        if probe["children_end"]:
            problems.append(f"children of pytest left: {probe['children_end']}")
        if probe["fds_end"] > probe["fds_start"]:
            problems.append(
                f"file descriptors: {probe['fds_start']} at the start, "
                f"{probe['fds_end']} at the end"
            )
        if rss and rss[-1] > rss[0] + RSS_SLACK_MB:
            problems.append(f"RSS grew from {rss[0]} MB to {rss[-1]} MB")
    if left_processes:
        problems.append(f"processes of the run still alive: {left_processes}")
    if left_dirs:
        problems.append(f"{len(left_dirs)} work directories left: {left_dirs[:5]}")

    kinds = Counter(kind_of(i)[0] for i in range(count))
    result: dict[str, Any] = {
        "count": count,
        "start": options.start,
        "parallel": options.parallel,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average_after": list(os.getloadavg()),
        "seconds": round(seconds, 1),
        "groups_per_second": round(count / seconds, 2),
        "kinds": dict(kinds),
        "outcomes": dict(outcomes),
        "exit_status": done.returncode,
        "fds_start": probe.get("fds_start"),
        "fds_end": probe.get("fds_end"),
        "threads_start": probe.get("threads_start"),
        "threads_end": probe.get("threads_end"),
        "rss_first_mb": rss[0] if rss else None,
        "rss_last_mb": rss[-1] if rss else None,
        "rss_max_mb": max(rss) if rss else None,
        "rss_end_of_session_mb": probe.get("rss_end_mb"),
        "samples": samples,
        "children_left": probe.get("children_end"),
        "processes_left": left_processes,
        "workdirs_left": len(left_dirs),
        "problems": problems,
    }
    options.json.parent.mkdir(parents=True, exist_ok=True)
    options.json.write_text(json.dumps(result, indent=2) + "\n")

    print(
        f"{count} tests in {seconds:.0f}s ({count / seconds:.1f} groups/s), "
        f"exit status {done.returncode}"
    )
    print(f"kinds:    {dict(kinds)}")
    print(f"outcomes: {dict(outcomes)} (JUnit XML)")
    print(
        f"file descriptors of pytest's process: {result['fds_start']} at the start, "
        f"{result['fds_end']} at the end; threads {result['threads_start']} -> "
        f"{result['threads_end']}"
    )
    print(
        f"RSS of pytest's process (MB): first {result['rss_first_mb']}, "
        f"last {result['rss_last_mb']}, max {result['rss_max_mb']} "
        f"({len(samples)} samples, every {SAMPLE_EVERY} tests)"
    )
    print(
        f"left behind: {len(probe.get('children_end') or [])} children of pytest, "
        f"{len(left_processes)} processes of the run, "
        f"{len(left_dirs)} pytest-isolated-* directories"
    )
    print(f"figures in {options.json}")
    if problems:
        print(f"\n{len(problems)} PROBLEMS:")
        for problem in problems[:50]:
            print(f"  {problem}")
        print(f"suite and pytest's output kept in {root}")
        return 1
    print("OK: every test reported once as expected, nothing leaked")
    if options.keep:
        print(f"suite and pytest's output kept in {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
