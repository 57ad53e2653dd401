"""The module after one that ended on a forked test."""

import pytest


@pytest.fixture(scope="module")
def other():
    return "other"


def test_first_in_next_module(other):
    assert other == "other"


def test_second_in_next_module():
    pass
