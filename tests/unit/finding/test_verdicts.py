"""Unit tests of verdicts.describe: each verdict of the bisect in words."""

from __future__ import annotations

from typing import Any

from pytest_isolated.finding import verdicts
from pytest_isolated.finding.ddmin import (
    BUDGET_EXHAUSTED,
    FAILS_ALONE,
    FLAKY,
    NOT_REPRODUCED,
    POLLUTED,
)


def verdict(kind: str, culprits: list[str], **more: Any) -> dict[str, Any]:
    return {
        "nodeid": "t.py::victim",
        "verdict": kind,
        "culprits": culprits,
        "ran_before": 3,
        "group": None,
        **more,
    }


def test_one_culprit_is_named_with_the_fix() -> None:
    text = verdicts.describe(verdict(POLLUTED, ["t.py::a"]))
    assert text == (
        "t.py::victim passes alone but fails after t.py::a: t.py::a leaves state "
        "behind (mark it @pytest.mark.isolated, or fix its cleanup)"
    )


def test_several_culprits_in_a_group_are_given_a_subprocess() -> None:
    text = verdicts.describe(verdict(POLLUTED, ["t.py::a", "t.py::b"], group="g"))
    assert "fails after t.py::a and t.py::b: together they leave" in text
    assert "give them a subprocess of their own" in text


def test_the_other_verdicts() -> None:
    assert verdicts.describe(verdict(FAILS_ALONE, [])).endswith("a plain failure")
    assert "it failed alone, then passed alone" in verdicts.describe(verdict(FLAKY, []))
    assert "after the 3 tests that ran before it" in verdicts.describe(
        verdict(NOT_REPRODUCED, [])
    )
    assert verdicts.describe(verdict(BUDGET_EXHAUSTED, [])).endswith(
        "the budget ran out"
    )
