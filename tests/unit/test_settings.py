"""Unit tests of settings: markers, limits and their sources."""

from __future__ import annotations

import pytest

from pytest_isolated.settings import Limit, MarkerArgs, parse_marker

NODEID = "tests/test_db.py::TestDb::test_query[1]"

# -- parse_marker --------------------------------------------------------------


def test_parse_marker_bare() -> None:
    mark = pytest.mark.isolated.mark
    assert parse_marker(mark, NODEID) == MarkerArgs(None, None, False)


@pytest.mark.parametrize(
    "mark",
    [pytest.mark.isolated("db").mark, pytest.mark.isolated(group="db").mark],
    ids=["positional", "keyword"],
)
def test_parse_marker_group(mark: pytest.Mark) -> None:
    assert parse_marker(mark, NODEID) == MarkerArgs("db", None, False)


def test_parse_marker_timeout_names_the_marker_and_the_test() -> None:
    mark = pytest.mark.isolated("db", timeout=30).mark
    args = parse_marker(mark, NODEID)
    assert args == MarkerArgs(
        "db",
        Limit(30.0, f"@pytest.mark.isolated('db', timeout=30) on {NODEID}"),
        False,
    )
    assert args.timeout is not None
    assert args.timeout.describe() == (
        f"30s (from @pytest.mark.isolated('db', timeout=30) on {NODEID})"
    )


def test_parse_marker_timeout_zero_is_no_limit() -> None:
    args = parse_marker(pytest.mark.isolated(timeout="0").mark, NODEID)
    assert args.timeout == Limit(
        None, f"@pytest.mark.isolated(timeout='0') on {NODEID}"
    )


def test_parse_marker_timeout_none_is_no_marker_timeout() -> None:
    args = parse_marker(pytest.mark.isolated(timeout=None).mark, NODEID)
    assert args == MarkerArgs(None, None, False)


def test_parse_marker_exclusive() -> None:
    args = parse_marker(pytest.mark.isolated(exclusive=True).mark, NODEID)
    assert args == MarkerArgs(None, None, True)
    args = parse_marker(pytest.mark.isolated(exclusive=False).mark, NODEID)
    assert args == MarkerArgs(None, None, False)


def test_parse_marker_everything() -> None:
    mark = pytest.mark.isolated(group="g", timeout=2.5, exclusive=True).mark
    shown = "@pytest.mark.isolated(group='g', timeout=2.5, exclusive=True)"
    assert parse_marker(mark, NODEID) == MarkerArgs(
        "g", Limit(2.5, f"{shown} on {NODEID}"), True
    )


@pytest.mark.parametrize(
    ("mark", "shown", "problem"),
    [
        (
            pytest.mark.isolated(grup="db").mark,
            "@pytest.mark.isolated(grup='db')",
            "unknown keyword argument grup (expected group=, timeout=, exclusive=, mem_limit=, cpu_limit=)",
        ),
        (
            pytest.mark.isolated(zeta=1, alpha=2).mark,
            "@pytest.mark.isolated(zeta=1, alpha=2)",
            "unknown keyword argument alpha, zeta "
            "(expected group=, timeout=, exclusive=, mem_limit=, cpu_limit=)",
        ),
        (
            pytest.mark.isolated("a", "b").mark,
            "@pytest.mark.isolated('a', 'b')",
            "takes one positional argument (the group name), got 2",
        ),
        (
            pytest.mark.isolated("a", group="b").mark,
            "@pytest.mark.isolated('a', group='b')",
            "the group is given both positionally and as group=",
        ),
        (
            pytest.mark.isolated(group="").mark,
            "@pytest.mark.isolated(group='')",
            "group must be a non-empty string, got ''",
        ),
        (
            pytest.mark.isolated("   ").mark,
            "@pytest.mark.isolated('   ')",
            "group must be a non-empty string, got '   '",
        ),
        (
            pytest.mark.isolated(group=3).mark,
            "@pytest.mark.isolated(group=3)",
            "group must be a non-empty string, got 3",
        ),
        (
            pytest.mark.isolated(timeout="soon").mark,
            "@pytest.mark.isolated(timeout='soon')",
            "timeout: expected a number of seconds, got 'soon'",
        ),
        (
            pytest.mark.isolated(timeout=-5).mark,
            "@pytest.mark.isolated(timeout=-5)",
            "timeout: expected a number of seconds >= 0, got -5",
        ),
        (
            pytest.mark.isolated(timeout=True).mark,
            "@pytest.mark.isolated(timeout=True)",
            "timeout: expected a number of seconds, got True",
        ),
        (
            pytest.mark.isolated(exclusive="yes").mark,
            "@pytest.mark.isolated(exclusive='yes')",
            "exclusive must be True or False, got 'yes'",
        ),
        (
            pytest.mark.isolated(exclusive=1).mark,
            "@pytest.mark.isolated(exclusive=1)",
            "exclusive must be True or False, got 1",
        ),
    ],
    ids=[
        "unknown-keyword",
        "unknown-keywords-sorted",
        "two-positionals",
        "group-twice",
        "empty-group",
        "blank-group",
        "group-not-a-string",
        "timeout-not-a-number",
        "timeout-negative",
        "timeout-bool",
        "exclusive-string",
        "exclusive-int",
    ],
)
def test_parse_marker_errors_name_test_argument_and_value(
    mark: pytest.Mark, shown: str, problem: str
) -> None:
    with pytest.raises(pytest.UsageError) as excinfo:
        parse_marker(mark, NODEID)
    assert str(excinfo.value) == f"{NODEID}: invalid {shown}: {problem}"
    # Not chained to the ValueError of parse_seconds.
    assert excinfo.value.__cause__ is None


# -- Limit.describe ----------------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "text"),
    [
        (Limit(300.0, "the default of 300s"), "300s (from the default of 300s)"),
        (Limit(2.5, "--isolated-timeout=2.5"), "2.5s (from --isolated-timeout=2.5)"),
        (Limit(0.1, "x"), "0.1s (from x)"),
        (Limit(None, "--isolated-timeout=0"), "no limit (from --isolated-timeout=0)"),
    ],
)
def test_timeout_describe(timeout: Limit, text: str) -> None:
    assert timeout.describe() == text


def test_serial_is_the_0_6_name_of_exclusive() -> None:
    mark = pytest.mark.isolated(group="g", serial=True).mark
    args = parse_marker(mark, NODEID)
    assert args.exclusive is True
    assert args.renamed == ("serial",)
    assert parse_marker(pytest.mark.isolated(exclusive=True).mark, NODEID).renamed == ()


def test_serial_must_be_a_bool() -> None:
    mark = pytest.mark.isolated(serial="yes").mark
    with pytest.raises(pytest.UsageError, match="serial must be True or False"):
        parse_marker(mark, NODEID)
