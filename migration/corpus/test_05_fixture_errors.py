"""Setup and teardown errors around forked tests."""

import pytest


@pytest.fixture
def broken_setup():
    raise RuntimeError("setup went wrong")


@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown went wrong")


@pytest.mark.forked
def test_setup_error(broken_setup):
    pass


@pytest.mark.forked
def test_teardown_error(broken_teardown):
    pass


@pytest.mark.forked
def test_failure_and_teardown_error(broken_teardown):
    raise AssertionError("the test fails too")


def test_unforked_teardown_error(broken_teardown):
    pass


def test_unforked_after_errors():
    pass
