"""The marker on a module: every test of it forked."""

import os

import pytest

pytestmark = pytest.mark.forked


def test_first():
    assert os.getpid() != int(os.environ["MIGRATION_PARENT_PID"])


def test_second():
    assert os.getpid() != int(os.environ["MIGRATION_PARENT_PID"])


@pytest.mark.parametrize("value", ["a", "b", "c"])
def test_parametrized(value):
    assert value in "abc"
