"""pytest.exit() inside a forked test."""

import pytest


@pytest.mark.forked
def test_calls_pytest_exit():
    pytest.exit("stop here")


def test_after_exit():
    pass
