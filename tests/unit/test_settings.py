"""Unit tests of settings: the parsing and validation of every user input."""

from __future__ import annotations

import argparse
import os

import pytest

from pytest_isolated import settings
from pytest_isolated.settings import (
    MarkerArgs,
    Timeout,
    parse_marker,
    parse_parallel,
    parse_seconds,
    timeout_option,
    usable_cores,
)

NODEID = "tests/test_db.py::TestDb::test_query[1]"

# -- parse_seconds -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5.0),
        (2.5, 2.5),
        ("10", 10.0),
        ("0.25", 0.25),
        ("  3 ", 3.0),
        ("1e3", 1000.0),
        (10**6, 1e6),
    ],
)
def test_parse_seconds_accepts_numbers(value: object, expected: float) -> None:
    result = parse_seconds(value)
    assert result == expected
    assert type(result) is float


@pytest.mark.parametrize("value", [0, 0.0, "0", " 0.0 ", "-0"])
def test_parse_seconds_zero_means_no_limit(value: object) -> None:
    assert parse_seconds(value) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "expected a number of seconds, got True"),
        (False, "expected a number of seconds, got False"),
        (None, "expected a number of seconds, got None"),
        ("soon", "expected a number of seconds, got 'soon'"),
        ("", "expected a number of seconds, got ''"),
        ("   ", "expected a number of seconds, got '   '"),
        ([5], "expected a number of seconds, got [5]"),
        (b"5", "expected a number of seconds, got b'5'"),
        (-1, "expected a number of seconds >= 0, got -1"),
        (-0.5, "expected a number of seconds >= 0, got -0.5"),
        ("-2", "expected a number of seconds >= 0, got '-2'"),
        (float("inf"), "expected a number of seconds >= 0, got inf"),
        ("inf", "expected a number of seconds >= 0, got 'inf'"),
        (float("nan"), "expected a number of seconds >= 0, got nan"),
        ("nan", "expected a number of seconds >= 0, got 'nan'"),
    ],
)
def test_parse_seconds_rejects(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=r"^expected") as excinfo:
        parse_seconds(value)
    assert str(excinfo.value) == message


# -- timeout_option (argparse type=) ------------------------------------------


def test_timeout_option_parses() -> None:
    assert timeout_option("7.5") == 7.5
    assert timeout_option("0") is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "expected a number of seconds, got 'abc'"),
        ("-3", "expected a number of seconds >= 0, got '-3'"),
    ],
)
def test_timeout_option_raises_argument_type_error(value: str, message: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError) as excinfo:
        timeout_option(value)
    assert str(excinfo.value) == message
    # Not chained: argparse shows only the message.
    assert excinfo.value.__cause__ is None
    assert excinfo.value.__suppress_context__


def test_timeout_option_as_an_argparse_type() -> None:
    parser = argparse.ArgumentParser(prog="pytest", exit_on_error=False)
    parser.add_argument("--isolated-timeout", type=timeout_option)
    assert parser.parse_args(["--isolated-timeout", "12"]).isolated_timeout == 12.0
    with pytest.raises(argparse.ArgumentError) as excinfo:
        parser.parse_args(["--isolated-timeout", "x"])
    assert str(excinfo.value) == (
        "argument --isolated-timeout: expected a number of seconds, got 'x'"
    )


# -- parse_parallel ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"), [(1, 1), (4, 4), ("1", 1), ("16", 16), (" 3 ", 3)]
)
def test_parse_parallel_accepts_whole_numbers(value: object, expected: int) -> None:
    result = parse_parallel(value)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize("value", ["auto", " auto ", "auto\n"])
def test_parse_parallel_auto_is_the_usable_cores(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settings, "usable_cores", lambda: 6)
    assert parse_parallel(value) == 6


def test_parse_parallel_auto_without_patching() -> None:
    assert parse_parallel("auto") == usable_cores()
    assert usable_cores() >= 1


@pytest.mark.parametrize(
    "value",
    [0, "0", -1, "-1", True, False, 2.0, "2.0", "1.5", "", "  ", "+2", "AUTO",
     "Auto", "two", None, [2]],
)  # fmt: skip
def test_parse_parallel_rejects(value: object) -> None:
    with pytest.raises(ValueError, match=r"^expected") as excinfo:
        parse_parallel(value)
    assert str(excinfo.value) == (
        f"expected a whole number >= 1 or 'auto', got {value!r}"
    )


def test_parse_parallel_rejects_a_digit_int_cannot_parse() -> None:
    # "²".isdigit() is True, but int("²") raises: the message must still be
    # parse_parallel's own.
    with pytest.raises(ValueError, match=r"^expected") as excinfo:
        parse_parallel("²")
    assert str(excinfo.value) == "expected a whole number >= 1 or 'auto', got '²'"


def test_usable_cores_is_the_affinity_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 2, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert usable_cores() == 3


def test_usable_cores_without_affinity_is_the_cpu_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 12)
    assert usable_cores() == 12
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert usable_cores() == 1


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
        Timeout(30.0, f"@pytest.mark.isolated('db', timeout=30) on {NODEID}"),
        False,
    )
    assert args.timeout is not None
    assert args.timeout.describe() == (
        f"30s (from @pytest.mark.isolated('db', timeout=30) on {NODEID})"
    )


def test_parse_marker_timeout_zero_is_no_limit() -> None:
    args = parse_marker(pytest.mark.isolated(timeout="0").mark, NODEID)
    assert args.timeout == Timeout(
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
        "g", Timeout(2.5, f"{shown} on {NODEID}"), True
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


# -- Timeout.describe ----------------------------------------------------------


@pytest.mark.parametrize(
    ("timeout", "text"),
    [
        (Timeout(300.0, "the default of 300s"), "300s (from the default of 300s)"),
        (Timeout(2.5, "--isolated-timeout=2.5"), "2.5s (from --isolated-timeout=2.5)"),
        (Timeout(0.1, "x"), "0.1s (from x)"),
        (Timeout(None, "--isolated-timeout=0"), "no limit (from --isolated-timeout=0)"),
    ],
)
def test_timeout_describe(timeout: Timeout, text: str) -> None:
    assert timeout.describe() == text
