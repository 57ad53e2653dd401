"""A suite that turns warnings into errors (-W error)."""

import pytest


@pytest.mark.forked
def test_forked_under_w_error():
    assert True


def test_unforked_under_w_error():
    assert True
