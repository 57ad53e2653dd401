"""Plain tests, none marked: --forked boxes every one of them."""

import ctypes
import os

import pytest

CACHE = {}


@pytest.fixture(scope="module")
def connection():
    return {"open": True}


def test_each_test_is_boxed():
    assert os.getpid() != int(os.environ["MIGRATION_PARENT_PID"])


def test_fills_a_cache(connection):
    CACHE["key"] = "value"
    assert connection["open"]


def test_cache_is_empty_again(connection):
    # Every test runs in a child: nothing leaks from one test to the next.
    assert CACHE == {}


def test_crash_is_contained():
    ctypes.string_at(0)


def test_runs_after_the_crash():
    pass


@pytest.mark.xfail(reason="crashes", strict=True)
def test_xfail_crash():
    ctypes.string_at(0)


@pytest.mark.skip(reason="skipped")
def test_skipped():
    pass


def test_failure():
    assert "a" == "b"
