"""Tests forked by a conftest hook (item.add_marker)."""

import os

import pytest


def test_dynamic_runs_elsewhere():
    assert os.getpid() != int(os.environ["MIGRATION_PARENT_PID"])


@pytest.mark.parametrize("n", [1, 2])
def test_dynamic_parametrized(n):
    assert os.getpid() != int(os.environ["MIGRATION_PARENT_PID"])


def test_static_runs_here():
    assert os.getpid() == int(os.environ["MIGRATION_PARENT_PID"])


def test_dynamic_marker_is_visible(request):
    assert request.node.get_closest_marker("forked") is not None
