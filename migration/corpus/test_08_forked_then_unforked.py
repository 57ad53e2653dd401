"""A forked test between unforked ones: the parent's fixture stack stays sound."""

import pytest


@pytest.fixture(scope="module")
def shared():
    return []


def test_unforked_first(shared):
    shared.append("first")


@pytest.mark.forked
def test_forked_in_the_middle(shared):
    assert shared in ([], ["first"])


def test_unforked_after_forked(shared):
    assert shared == ["first"]


@pytest.mark.forked
def test_forked_last_in_module():
    pass
