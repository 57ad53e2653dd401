"""Unit tests of reduction: ddmin and the verdicts of diagnose, with probes
simulated by plain functions (a probe answers whether the victim fails after
the given tests)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import pytest

from pytest_isolated.finding import ddmin as reduction
from pytest_isolated.finding.ddmin import (
    FAILS_ALONE,
    FLAKY,
    NOT_REPRODUCED,
    POLLUTED,
    OutOfBudget,
    Verdict,
    ddmin,
    diagnose,
)

TESTS = [f"t{i}" for i in range(100)]


class Counting:
    """A probe that records every call: fails when *rule* says so."""

    def __init__(self, rule: Callable[[list[str]], bool]) -> None:
        self.rule = rule
        self.calls: list[list[str]] = []

    def __call__(self, tests: list[str]) -> bool:
        self.calls.append(list(tests))
        return self.rule(tests)


def after(*culprits: str) -> Callable[[list[str]], bool]:
    """The victim fails when every one of *culprits* ran before it."""
    return lambda tests: all(c in tests for c in culprits)


def in_order(first: str, second: str) -> Callable[[list[str]], bool]:
    """The victim fails when *second* ran after *first*."""

    def rule(tests: list[str]) -> bool:
        return first in tests and second in tests[tests.index(first) :]

    return rule


@pytest.mark.parametrize("culprit", ["t0", "t37", "t99"])
def test_ddmin_finds_one_polluter_in_about_2_log2_n_probes(culprit: str) -> None:
    probe = Counting(after(culprit))
    assert ddmin(TESTS, probe) == [culprit]
    assert len(probe.calls) <= 2 * math.ceil(math.log2(len(TESTS)))


def test_ddmin_finds_a_pair_far_apart() -> None:
    probe = Counting(after("t3", "t88"))
    assert ddmin(TESTS, probe) == ["t3", "t88"]


def test_ddmin_keeps_the_run_order() -> None:
    probe = Counting(in_order("t10", "t60"))
    assert ddmin(TESTS, probe) == ["t10", "t60"]
    for call in probe.calls:
        assert call == sorted(call, key=TESTS.index)


def test_ddmin_result_is_1_minimal_with_alternatives() -> None:
    # Either polluter alone is enough: one of them is kept, not both.
    probe = Counting(lambda tests: "t20" in tests or "t70" in tests)
    assert ddmin(TESTS, probe) in (["t20"], ["t70"])


def test_ddmin_keeps_everything_when_nothing_smaller_fails() -> None:
    tests = ["a", "b", "c"]
    assert ddmin(tests, Counting(lambda t: t == tests)) == tests


def test_ddmin_of_one_test() -> None:
    probe = Counting(after("a"))
    assert ddmin(["a"], probe) == ["a"]
    assert probe.calls == []


def test_split_is_in_order_and_covers_everything() -> None:
    parts = reduction._split(list(range(10)), 3)
    assert parts == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert reduction._split([1, 2], 4) == [[1], [2]]


def test_diagnose_polluted_by_one_test() -> None:
    probe = Counting(after("t42"))
    assert diagnose(TESTS, probe) == Verdict(POLLUTED, ("t42",))
    assert probe.calls[0] == []  # alone first
    assert probe.calls[1] == TESTS  # then after everything
    assert probe.calls[-1] == ["t42"]  # the confirmation


def test_diagnose_polluted_by_a_set_of_two() -> None:
    probe = Counting(in_order("t5", "t50"))
    assert diagnose(TESTS, probe) == Verdict(POLLUTED, ("t5", "t50"))


def test_diagnose_fails_alone_confirmed() -> None:
    probe = Counting(lambda tests: True)
    assert diagnose(TESTS, probe) == Verdict(FAILS_ALONE)
    assert probe.calls == [[], []]


def test_diagnose_not_reproduced() -> None:
    probe = Counting(lambda tests: False)
    assert diagnose(TESTS, probe) == Verdict(NOT_REPRODUCED)
    assert probe.calls == [[], TESTS]


def test_diagnose_not_reproduced_without_earlier_tests() -> None:
    probe = Counting(lambda tests: False)
    assert diagnose([], probe) == Verdict(NOT_REPRODUCED)
    assert probe.calls == [[]]


def answers(*results: bool) -> Callable[[list[str]], bool]:
    """A probe that gives *results* in turn (then passes)."""
    it: Iterator[bool] = iter(results)
    return lambda tests: next(it, False)


def test_diagnose_flaky_alone() -> None:
    assert diagnose(TESTS, Counting(answers(True, False))) == Verdict(FLAKY)


def test_diagnose_flaky_after_the_prefix() -> None:
    # Passes alone, fails after the one earlier test, passes on the confirmation.
    verdict = diagnose(["t0"], Counting(answers(False, True, False)))
    assert verdict == Verdict(FLAKY, ("t0",))


def test_diagnose_confirmation_is_a_real_probe() -> None:
    # ddmin's answers are cached; the confirmation must not be.
    probe = Counting(after("t1"))
    diagnose(["t0", "t1"], probe)
    assert probe.calls.count(["t1"]) == 2


def test_known_culprits_cost_three_probes() -> None:
    probe = Counting(after("t42"))
    verdict = diagnose(TESTS, probe, known=[("t42",)])
    assert verdict == Verdict(POLLUTED, ("t42",))
    assert probe.calls == [[], ["t42"], ["t42"]]


def test_known_culprits_that_do_not_explain_fall_back_to_the_search() -> None:
    probe = Counting(after("t7"))
    verdict = diagnose(TESTS, probe, known=[("t42",), ("t99", "t1")])
    assert verdict == Verdict(POLLUTED, ("t7",))
    assert probe.calls[1] == ["t42"]
    assert probe.calls[2] == ["t1", "t99"]  # in run order
    assert probe.calls[3] == TESTS


def test_known_culprits_not_all_before_the_victim_are_not_tried() -> None:
    probe = Counting(after("t7"))
    diagnose(TESTS[:50], probe, known=[("t7", "t80")])
    assert ["t7"] not in probe.calls[1:2]
    assert probe.calls[1] == TESTS[:50]


def test_known_set_of_two_is_reduced_when_one_is_enough() -> None:
    probe = Counting(after("t9"))
    assert diagnose(TESTS, probe, known=[("t9", "t30")]) == Verdict(POLLUTED, ("t9",))


def test_out_of_budget_propagates() -> None:
    def probe(tests: list[str]) -> bool:
        if len(tests) > 1:
            raise OutOfBudget
        return False

    with pytest.raises(OutOfBudget):
        diagnose(TESTS, probe)


def test_other_known_culprits_are_tried_together() -> None:
    probe = Counting(after("t60"))
    known = [("t10",), ("t20",), ("t60",), ("t80",)]
    assert diagnose(TESTS, probe, known) == Verdict(POLLUTED, ("t60",))
    assert probe.calls[:3] == [[], ["t10"], ["t20", "t60", "t80"]]
    assert TESTS not in probe.calls  # no search over everything
