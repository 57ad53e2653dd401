"""``--isolated-bisect``: its verdicts in words, in the terminal's summary.

Each verdict is plain data (it crosses pytest-xdist's wire); here it becomes
the line the terminal section shows (:func:`describe`), and the section
(:func:`summary`) adds, with ``-v``, each one's probes and time, the totals,
and what the budget left undone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from pytest_isolated.finding.ddmin import (
    BUDGET_EXHAUSTED,
    FAILS_ALONE,
    FLAKY,
    NOT_REPRODUCED,
    POLLUTED,
)

SECTION = "bisect of the failed tests"
BUDGET_OPTION = "--isolated-bisect-budget"


def summary(
    tr: pytest.TerminalReporter,
    verdicts: Sequence[dict[str, Any]],
    totals: Sequence[dict[str, Any]],
    errors: Sequence[str],
    budget: float | None,
) -> None:
    """The terminal section: every verdict, the totals, what went wrong;
    *budget*: the bisect's time limit in seconds."""
    tr.section(SECTION, sep="=")
    verbose = tr.config.get_verbosity() > 0
    for verdict in verdicts:
        polluted = verdict["verdict"] == POLLUTED
        text = verdict["message"]
        if verbose:
            probes, seconds = verdict["probes"], verdict["seconds"]
            text += f" [{_count(probes, 'probe')}, {seconds:.2f}s]"
        tr.line(text, red=polluted, yellow=not polluted)
    if totals:
        tr.line(_totals_line(totals))
    exhausted = sum(v["verdict"] == BUDGET_EXHAUSTED for v in verdicts)
    if exhausted:
        tr.line(
            f"the budget of {budget:g}s ({BUDGET_OPTION}) ran out: "
            f"{_count(exhausted, 'failed test')} not bisected",
            yellow=True,
        )
    for error in errors:
        tr.line(error, red=True)


def describe(verdict: dict[str, Any]) -> str:
    """One verdict, as the terminal section shows it."""
    nodeid, kind = verdict["nodeid"], verdict["verdict"]
    culprits: list[str] = verdict["culprits"]
    after = _and(culprits)
    in_group = verdict.get("group") is not None
    if kind == POLLUTED:
        if len(culprits) == 1:
            who, fix = f"{after} leaves", "mark it @pytest.mark.isolated"
            cleanup = "its cleanup"
        else:
            who, fix = "together they leave", "mark them @pytest.mark.isolated"
            cleanup = "their cleanup"
        if in_group:
            fix = f"give {'it' if len(culprits) == 1 else 'them'} a subprocess of "
            fix += "their own" if len(culprits) > 1 else "its own"
        return (
            f"{nodeid} passes alone but fails after {after}: {who} state behind "
            f"({fix}, or fix {cleanup})"
        )
    if kind == FAILS_ALONE:
        return f"{nodeid} fails alone too: a plain failure"
    if kind == FLAKY:
        if culprits:
            return (
                f"{nodeid} is flaky: it passes alone, failed after {after}, "
                "then passed after the same tests"
            )
        return f"{nodeid} is flaky: it failed alone, then passed alone"
    if kind == NOT_REPRODUCED:
        where = "alone"
        if verdict["ran_before"]:
            before = _count(verdict["ran_before"], "test")
            where = f"alone and after the {before} that ran before it"
        return (
            f"{nodeid} passes {where}: its failure was not reproduced in a fresh "
            "subprocess (it depends on something else in pytest's process, or it "
            "is flaky)"
        )
    return f"{nodeid} was not bisected: the budget ran out"


def _totals_line(totals: Sequence[dict[str, Any]]) -> str:
    probes = sum(t["probes"] for t in totals)
    seconds = sum(t["seconds"] for t in totals)
    methods = sorted({str(t["start"]) for t in totals})
    where = ""
    if len(totals) > 1 or totals[0]["worker"] is not None:
        where = f" on {_count(len(totals), 'worker')}"
    return (
        f"{_count(probes, 'probe')} in {seconds:.2f}s{where} "
        f"(start method {', '.join(methods)})"
    )


def _and(names: Sequence[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} and {names[-1]}"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
