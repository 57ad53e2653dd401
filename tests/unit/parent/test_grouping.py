"""Unit tests of grouping.plan_groups: which tests share a subprocess, and the
time limit and exclusivity of each group."""

from __future__ import annotations

from pytest_isolated.parent.grouping import Group, plan_groups
from pytest_isolated.settings import Limit, Request

DEFAULT = Limit(300.0, "the default of 300s")


def own(nodeid: str, timeout: Limit | None = None, exclusive: bool = False) -> Request:
    """A test's own subprocess (a marker without a group name on the function)."""
    return Request(("node", nodeid), nodeid, timeout, exclusive)


def named(name: str, timeout: Limit | None = None, exclusive: bool = False) -> Request:
    return Request(("group", name), name, timeout, exclusive)


def marker(seconds: float | None, where: str = "a marker") -> Limit:
    return Limit(seconds, where)


Shape = tuple[int, str, list[str], Limit, bool]


def shape(group: Group[str]) -> Shape:
    """What these tests check of a group (it may gain other fields)."""
    assert isinstance(group, Group)
    return (group.index, group.name, group.items, group.timeout, group.exclusive)


def shapes(plan: dict[str, Group[str]]) -> dict[str, Shape]:
    return {item: shape(group) for item, group in plan.items()}


def test_no_requests_no_groups() -> None:
    assert plan_groups([], DEFAULT) == {}


def test_tests_not_isolated_are_left_out() -> None:
    plan = plan_groups([("a", None), ("b", own("b")), ("c", None)], DEFAULT)
    assert shapes(plan) == {"b": (0, "b", ["b"], DEFAULT, False)}


def test_each_test_of_its_own_gets_a_group() -> None:
    plan = plan_groups([("a", own("a")), ("b", own("b"))], DEFAULT)
    assert shapes(plan) == {
        "a": (0, "a", ["a"], DEFAULT, False),
        "b": (1, "b", ["b"], DEFAULT, False),
    }
    assert plan["a"] is not plan["b"]


def test_a_named_group_spans_tests_that_are_not_adjacent() -> None:
    requests = [
        ("m1::t1", named("db")),
        ("m1::t2", own("m1::t2")),
        ("m2::t1", None),
        ("m2::t2", named("db")),
    ]
    plan = plan_groups(requests, DEFAULT)
    db = (0, "db", ["m1::t1", "m2::t2"], DEFAULT, False)
    assert shapes(plan) == {
        "m1::t1": db,
        "m1::t2": (1, "m1::t2", ["m1::t2"], DEFAULT, False),
        "m2::t2": db,
    }
    # One object per group: every member sees the same group.
    assert plan["m1::t1"] is plan["m2::t2"]


def test_group_indexes_follow_the_first_test_of_each_group() -> None:
    requests = [
        ("t1", named("b")),
        ("t2", named("a")),
        ("t3", named("b")),
        ("t4", named("c")),
        ("t5", named("a")),
    ]
    plan = plan_groups(requests, DEFAULT)
    assert {item: (g.index, g.name) for item, g in plan.items()} == {
        "t1": (0, "b"),
        "t2": (1, "a"),
        "t3": (0, "b"),
        "t4": (2, "c"),
        "t5": (1, "a"),
    }
    assert plan["t1"].items == ["t1", "t3"]
    assert plan["t2"].items == ["t2", "t5"]
    assert plan["t4"].items == ["t4"]


def test_the_same_name_in_different_key_kinds_is_two_groups() -> None:
    # A module-level marker (key ("node", "x")) and group="x" are different.
    plan = plan_groups([("t1", own("x")), ("t2", named("x"))], DEFAULT)
    assert plan["t1"] is not plan["t2"]
    assert (plan["t1"].index, plan["t2"].index) == (0, 1)
    assert plan["t1"].name == plan["t2"].name == "x"


def test_without_marker_timeouts_the_default_applies() -> None:
    plan = plan_groups([("t1", named("g")), ("t2", named("g"))], DEFAULT)
    assert plan["t1"].timeout is DEFAULT


def test_a_marker_timeout_beats_a_larger_default() -> None:
    short = marker(5.0)
    plan = plan_groups([("t1", named("g")), ("t2", named("g", short))], DEFAULT)
    assert plan["t1"].timeout is short


def test_a_marker_timeout_beats_a_default_of_no_limit() -> None:
    unlimited = Limit(None, "--isolated-timeout=0")
    short = marker(5.0)
    plan = plan_groups([("t1", own("t1", short))], unlimited)
    assert plan["t1"].timeout is short


def test_the_most_generous_marker_wins() -> None:
    five, fifty, ten = marker(5.0, "five"), marker(50.0, "fifty"), marker(10.0, "ten")
    requests = [
        ("t1", named("g", five)),
        ("t2", named("g", fifty)),
        ("t3", named("g", ten)),
        ("t4", named("g")),
    ]
    plan = plan_groups(requests, DEFAULT)
    assert plan["t1"].timeout is fifty
    assert plan["t1"].timeout.describe() == "50s (from fifty)"


def test_the_first_of_equal_marker_limits_is_kept() -> None:
    first, second = marker(7.0, "first"), marker(7.0, "second")
    plan = plan_groups([("t1", named("g", first)), ("t2", named("g", second))], DEFAULT)
    assert plan["t1"].timeout is first


def test_no_limit_beats_any_limit_whenever_it_comes() -> None:
    unlimited = marker(None, "timeout=0")
    for order in (
        [marker(5.0), unlimited, marker(500.0)],
        [unlimited, marker(5.0)],
        [marker(1000.0), marker(5.0), unlimited],
    ):
        requests = [(f"t{i}", named("g", t)) for i, t in enumerate(order)]
        plan = plan_groups(requests, DEFAULT)
        assert plan["t0"].timeout is unlimited, order


def test_a_group_without_markers_keeps_a_default_of_no_limit() -> None:
    unlimited = Limit(None, "--isolated-timeout=0")
    plan = plan_groups([("t1", named("g")), ("t2", named("g"))], unlimited)
    assert plan["t1"].timeout is unlimited


def test_timeouts_are_per_group() -> None:
    long = marker(100.0)
    requests = [("t1", named("a", long)), ("t2", named("b")), ("t3", own("t3"))]
    plan = plan_groups(requests, DEFAULT)
    assert plan["t1"].timeout is long
    assert plan["t2"].timeout is DEFAULT
    assert plan["t3"].timeout is DEFAULT


def test_one_exclusive_test_makes_its_whole_group_exclusive() -> None:
    requests = [
        ("t1", named("g")),
        ("t2", named("g", exclusive=True)),
        ("t3", named("g")),
        ("t4", named("other")),
    ]
    plan = plan_groups(requests, DEFAULT)
    assert [plan[t].exclusive for t in ("t1", "t2", "t3", "t4")] == [
        True,
        True,
        True,
        False,
    ]


def test_an_exclusive_test_of_its_own() -> None:
    plan = plan_groups([("t1", own("t1", exclusive=True)), ("t2", own("t2"))], DEFAULT)
    assert shape(plan["t1"]) == (0, "t1", ["t1"], DEFAULT, True)
    assert shape(plan["t2"]) == (1, "t2", ["t2"], DEFAULT, False)


def test_the_first_request_names_the_group() -> None:
    # Two requests with the same key but different names: the first one's name.
    first = Request(("node", "m.py"), "m.py", None)
    second = Request(("node", "m.py"), "other name", None)
    plan = plan_groups([("t1", first), ("t2", second)], DEFAULT)
    assert plan["t2"].name == "m.py"
