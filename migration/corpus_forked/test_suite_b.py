"""A second module of the --forked suite."""

import pytest


@pytest.fixture(scope="session")
def settings():
    return {"debug": False}


def test_uses_session_fixture(settings):
    assert settings == {"debug": False}


@pytest.mark.parametrize("n", range(3))
def test_parametrized(n):
    assert n < 3


@pytest.mark.forked
def test_marked_anyway():
    pass
