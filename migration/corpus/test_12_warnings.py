"""Warnings raised in forked tests."""

import warnings

import pytest


@pytest.mark.forked
def test_warns_user_warning():
    warnings.warn("something to look at", UserWarning, stacklevel=1)


@pytest.mark.forked
def test_expects_a_warning():
    with pytest.warns(DeprecationWarning, match="old"):
        warnings.warn("old", DeprecationWarning, stacklevel=1)


@pytest.mark.filterwarnings("error::UserWarning")
@pytest.mark.forked
def test_warning_as_error():
    warnings.warn("now an error", UserWarning, stacklevel=1)


def test_unforked_warns():
    warnings.warn("in the parent", UserWarning, stacklevel=1)
