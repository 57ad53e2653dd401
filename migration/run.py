#!/usr/bin/env python3
"""Run the migration corpus under pytest-forked and under pytest-isolated.

The corpus (``corpus*/``) is written the way pytest-forked users write their
tests.  Each case runs twice:

- under the real pytest-forked 1.7.5, in a side environment this script
  creates and caches in ``migration/.env`` (``pytest<9.2``: pytest-forked
  breaks on 9.2);
- under pytest-isolated's ``forked`` alias, in the environment that runs this
  script (pytest-isolated must be installed there).

Every test's outcome (passed, failed, error, skipped, xfailed, xpassed, the
crash wording, the number of warnings) is recorded in the user's pytest
process by ``migration_probe.py`` and compared.  Each difference must be in
``allowlist.json``, with its behavioural reason and the section of
``docs/migration.md`` that tells users; an allow-list entry that no longer
matches is an error too.

It also installs both plugins side by side (in both orders on ``sys.path``)
and checks that pytest-isolated's alias takes over with exactly one warning.

POSIX only (pytest-forked needs ``fork``).  Exit status: 0 when everything
matches, 1 on an unexpected difference, 2 when the side environment cannot be
built (no network and no cache) or pytest-isolated is not installed.

    python migration/run.py [--recreate]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ENV_DIR = HERE / ".env"
RESULTS = ENV_DIR / "results"
ALLOWLIST = HERE / "allowlist.json"
DOCS = HERE.parent / "docs" / "migration.md"

#: The side environment: the last pytest-forked, on the newest pytest it runs on.
REQUIREMENTS = ("pytest>=8.4,<9.2", "pytest-forked==1.7.5")

FORKED = "pytest-forked"
ISOLATED = "pytest-isolated"
SIDES = (FORKED, ISOLATED)

#: What pytest-isolated's alias says when pytest-forked is installed as well.
SHADOW_TEXT = "pytest-forked is installed alongside pytest-isolated"

RUN_TIMEOUT = 300.0


@dataclass(frozen=True)
class Case:
    """One pytest invocation of a corpus folder."""

    name: str
    folder: str
    args: tuple[str, ...] = ()


CASES = (
    Case("corpus", "corpus"),
    Case("corpus_forked --forked", "corpus_forked", ("--forked",)),
    Case("corpus_werror -W error", "corpus_werror", ("-W", "error")),
    Case("corpus_capture_no -s", "corpus_capture_no", ("-s",)),
)


class EnvironmentProblem(Exception):
    """The side environment could not be built or used."""


@dataclass
class Run:
    """One finished pytest invocation."""

    returncode: int
    seconds: float
    output: str
    probe: dict[str, Any] = field(default_factory=dict)


# -- environments ------------------------------------------------------------


def side_python(recreate: bool) -> Path:
    """The side environment's interpreter, created (or reused) as needed."""
    if sys.platform == "win32":
        raise EnvironmentProblem("pytest-forked needs fork(): POSIX only")
    python = ENV_DIR / "bin" / "python"
    stamp = ENV_DIR / "migration-stamp.json"
    wanted = {"requirements": list(REQUIREMENTS), "python": sys.version}
    if not recreate and python.exists() and stamp.exists():
        try:
            if json.loads(stamp.read_text()) == wanted:
                return python
        except ValueError:
            pass
    shutil.rmtree(ENV_DIR, ignore_errors=True)
    print(f"creating the pytest-forked environment in {ENV_DIR} ...", flush=True)
    _check_call([sys.executable, "-m", "venv", str(ENV_DIR)], "python -m venv")
    _check_call(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            *REQUIREMENTS,
        ],
        "pip install " + " ".join(REQUIREMENTS),
    )
    stamp.write_text(json.dumps(wanted))
    return python


def _check_call(command: Sequence[str], what: str) -> None:
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentProblem(f"{what}: {exc}") from None
    if done.returncode != 0:
        shutil.rmtree(ENV_DIR, ignore_errors=True)
        raise EnvironmentProblem(
            f"{what} failed with status {done.returncode} (no network?):\n"
            f"{done.stdout}{done.stderr}"
        )


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without pytest's and the corpus's variables."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "MIGRATION_", "COEXIST_", "COV_CORE_"))
        and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


def run_pytest(
    python: Path | str, args: Sequence[str], env: dict[str, str], tag: str
) -> Run:
    RESULTS.mkdir(parents=True, exist_ok=True)
    probe = RESULTS / f"{tag}.json"
    probe.unlink(missing_ok=True)
    env = dict(env, MIGRATION_PROBE_OUT=str(probe))
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [str(python), "-m", "pytest", *args],
            cwd=HERE,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        returncode, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        returncode, output = -1, f"timed out after {RUN_TIMEOUT:g}s: {exc}"
    seconds = time.perf_counter() - start
    (RESULTS / f"{tag}.txt").write_text(output)
    data = json.loads(probe.read_text()) if probe.exists() else {}
    return Run(returncode, seconds, output, data)


def other_plugins() -> list[str]:
    """``-p no:NAME`` for every plugin of this environment but pytest-isolated.

    Plugins stay autoloaded, as in a user's session (pytest-isolated through
    its entry points), but whatever else is installed here cannot change the
    outcomes.
    """
    blocked = []
    for ep in importlib.metadata.entry_points(group="pytest11"):
        dist = getattr(ep, "dist", None)
        if dist is None or dist.metadata["Name"] != "pytest-isolated":
            blocked += ["-p", f"no:{ep.name}"]
    return blocked


# -- outcomes ----------------------------------------------------------------


def label(record: dict[str, Any]) -> str:
    """One test's outcome in words: what the terminal and -r summary show."""
    parts: list[str] = []
    crash: str | None = None
    output = False  # a failure shows what the test printed
    for phase in record["phases"]:
        when, outcome = phase["when"], phase["outcome"]
        if outcome == "passed":
            if when in ("setup", "teardown"):
                continue
            parts.append("xpassed" if phase["wasxfail"] else "passed")
        elif outcome == "skipped":
            parts.append("xfailed" if phase["wasxfail"] else "skipped")
        else:
            parts.append("error" if when in ("setup", "teardown") else "failed")
            # pytest's sections are "Captured stdout call", pytest-forked's
            # own for a crash "captured stdout".
            output = output or any(
                name.lower().startswith("captured std") for name in phase["sections"]
            )
        crash = crash or phase["crash"]
    text = "+".join(parts) or "not reported"
    if crash:
        if "xfailed" in parts:  # pytest-forked's xfail reason omits the name
            crash = re.sub(r" \(\w+\)$", "", crash)
        text += f" [{crash}]"
        if output:
            text += " with its output"
    count = len(record["warnings"])
    if count:
        text += f", {count} warning" + ("s" if count > 1 else "")
    return text


def outcomes(run: Run, folder: str) -> dict[str, str]:
    tests: dict[str, Any] = run.probe.get("tests", {})
    return {
        nodeid.removeprefix(folder + "/"): label(record)
        for nodeid, record in tests.items()
    }


@dataclass(frozen=True)
class Row:
    case: str
    test: str
    forked: str
    isolated: str
    verdict: str  # "same", "allowed", "MISMATCH"


def load_allowlist() -> dict[tuple[str, str], dict[str, str]]:
    entries = json.loads(ALLOWLIST.read_text())["differences"]
    docs = DOCS.read_text() if DOCS.exists() else ""
    anchors = {_anchor(m) for m in re.findall(r"^#+ (.+)$", docs, re.MULTILINE)}
    allowed = {}
    for entry in entries:
        link = entry["docs"]
        path, _, anchor = link.partition("#")
        if not (HERE / path).resolve() == DOCS.resolve() or anchor not in anchors:
            raise SystemExit(f"allowlist.json: {link!r} is not a section of {DOCS}")
        if not entry.get("reason"):
            raise SystemExit(f"allowlist.json: {entry['test']} has no reason")
        allowed[(entry["case"], entry["test"])] = entry
    return allowed


def _anchor(title: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    title = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return title.replace(" ", "-")


def compare(
    case: Case,
    forked: Run,
    isolated: Run,
    allowed: dict[tuple[str, str], dict[str, str]],
    used: set[tuple[str, str]],
) -> list[Row]:
    left = outcomes(forked, case.folder)
    right = outcomes(isolated, case.folder)
    rows = []
    for test in sorted(set(left) | set(right)):
        a = left.get(test, "not reported")
        b = right.get(test, "not reported")
        entry = allowed.get((case.name, test))
        if a == b and entry is None:
            verdict = "same"
        elif entry is not None and (a, b) == (entry[FORKED], entry[ISOLATED]):
            verdict = "allowed"
        else:
            verdict = "MISMATCH"
        if entry is not None:
            used.add((case.name, test))
        rows.append(Row(case.name, test, a, b, verdict))
    return rows


def print_table(rows: Sequence[Row]) -> None:
    headers = ("case", "test", FORKED, ISOLATED, "verdict")
    cells = [headers] + [
        (r.case, r.test, r.forked, r.isolated, r.verdict) for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        padded = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        return "| " + " | ".join(padded) + " |"

    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))


# -- both plugins installed --------------------------------------------------


def isolated_distribution(root: Path) -> Path:
    """A folder that makes the installed pytest-isolated importable elsewhere.

    It holds the package (a symlink) and a copy of its distribution metadata,
    so the side environment's pluggy sees its entry points; nothing else of
    this environment (its pytest 9.2) comes along.
    """
    import pytest_isolated

    dist = importlib.metadata.distribution("pytest-isolated")
    folder = root / "isolated-dist"
    info = folder / f"pytest_isolated-{dist.version}.dist-info"
    info.mkdir(parents=True)
    for name in ("METADATA", "entry_points.txt"):
        text = dist.read_text(name)
        if text is None:
            raise EnvironmentProblem(f"pytest-isolated has no {name}")
        (info / name).write_text(text)
    package = Path(pytest_isolated.__file__).resolve().parent
    (folder / "pytest_isolated").symlink_to(package, target_is_directory=True)
    return folder


def coexistence_jobs(
    python: Path, dist: Path
) -> list[tuple[str, Path, list[str], dict[str, str]]]:
    site = subprocess.run(
        [
            str(python),
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    orders = {
        # PYTHONPATH comes before site-packages: whichever folder is first
        # on sys.path is the distribution pluggy loads first.
        "pytest-isolated first": (os.pathsep.join([str(dist), str(HERE)]), "0"),
        "pytest-forked first": (os.pathsep.join([site, str(dist), str(HERE)]), "1"),
    }
    jobs = []
    for order, (path, real_first) in orders.items():
        for flag in ((), ("--forked",)):
            name = f"{order}{' --forked' if flag else ''}"
            env = clean_environment(
                PYTHONPATH=path,
                COEXIST_REAL_FIRST=real_first,
                COEXIST_FORKED_FLAG="1" if flag else "0",
            )
            args = ["coexist", "-p", "no:cacheprovider", "-rA", *flag]
            jobs.append((name, python, args, env))
    return jobs


def check_coexistence(name: str, run: Run) -> str | None:
    """None if pytest-isolated took over cleanly, else what went wrong."""
    if run.returncode != 0:
        return f"exit status {run.returncode}"
    count = run.output.count(SHADOW_TEXT)
    if count != 1:
        return f"the takeover warning appears {count} times, expected once"
    if "3 passed" not in run.output:
        return "expected 3 passed"
    return None


# -- main --------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--recreate", action="store_true", help="rebuild migration/.env first"
    )
    options = parser.parse_args(argv)
    started = time.perf_counter()
    if importlib.util.find_spec("pytest_isolated") is None:
        print("pytest-isolated is not installed in this environment", file=sys.stderr)
        return 2
    try:
        python = side_python(options.recreate)
    except EnvironmentProblem as exc:
        print(f"ERROR: cannot build the pytest-forked environment: {exc}", flush=True)
        return 2
    allowed = load_allowlist()
    env = clean_environment(PYTHONPATH=str(HERE))
    common = ["-p", "no:cacheprovider", "-p", "migration_probe", "-q", "-rA"]

    jobs: list[tuple[str, Path | str, list[str], dict[str, str]]] = []
    for case in CASES:
        for side, exe in ((FORKED, python), (ISOLATED, sys.executable)):
            tag = f"{side}-{case.folder}"
            extra = other_plugins() if side == ISOLATED else []
            jobs.append((tag, exe, [case.folder, *common, *extra, *case.args], env))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            coexist = coexistence_jobs(python, isolated_distribution(Path(tmp)))
        except (EnvironmentProblem, OSError, subprocess.CalledProcessError) as exc:
            print(f"ERROR: cannot prepare the side-by-side install: {exc}")
            return 2
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                tag: pool.submit(
                    run_pytest, exe, args, job_env, re.sub(r"\W+", "-", tag)
                )
                for tag, exe, args, job_env in jobs + coexist
            }
            runs = {tag: future.result() for tag, future in futures.items()}

    rows: list[Row] = []
    used: set[tuple[str, str]] = set()
    timing = {FORKED: 0.0, ISOLATED: 0.0}
    for case in CASES:
        forked = runs[f"{FORKED}-{case.folder}"]
        isolated = runs[f"{ISOLATED}-{case.folder}"]
        timing[FORKED] += forked.seconds
        timing[ISOLATED] += isolated.seconds
        for side, run in ((FORKED, forked), (ISOLATED, isolated)):
            if not run.probe:
                print(f"ERROR: no results from {side} on {case.name}:\n{run.output}")
                return 1
        rows.extend(compare(case, forked, isolated, allowed, used))

    print_table(rows)
    mismatches = [r for r in rows if r.verdict == "MISMATCH"]
    stale = sorted(set(allowed) - used)
    print()
    print(
        f"{len(rows)} tests: {sum(r.verdict == 'same' for r in rows)} same, "
        f"{sum(r.verdict == 'allowed' for r in rows)} allowed differences, "
        f"{len(mismatches)} mismatches"
    )
    for case_name, test in stale:
        print(f"STALE allow-list entry (no such test): {case_name}: {test}")

    print("\nboth plugins installed side by side:")
    problems = 0
    for tag, *_ in coexist:
        problem = check_coexistence(tag, runs[tag])
        problems += problem is not None
        verdict = (
            "ok: pytest-isolated took over, one warning"
            if problem is None
            else (f"FAILED: {problem}\n{runs[tag].output}")
        )
        print(f"  {tag}: {verdict}")

    print(
        f"\ntime: pytest-forked {timing[FORKED]:.1f}s, "
        f"pytest-isolated {timing[ISOLATED]:.1f}s (sum of the corpus runs); "
        f"wall clock {time.perf_counter() - started:.1f}s; logs in {RESULTS}"
    )
    return 1 if mismatches or stale or problems else 0


if __name__ == "__main__":
    sys.exit(main())
