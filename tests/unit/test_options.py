"""Unit tests of options: the parsers of every option and ini value."""

from __future__ import annotations

import argparse
import os

import pytest

from pytest_isolated import options
from pytest_isolated.options import (
    argparse_type,
    parse_parallel,
    parse_seconds,
    usable_cores,
)

timeout_option = argparse_type(parse_seconds)

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
    monkeypatch.setattr(options, "usable_cores", lambda: 6)
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
