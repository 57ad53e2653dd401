"""Run with both pytest-forked and pytest-isolated installed."""

import os
import sys

import pytest


def test_alias_holds_the_plugin_name(pytestconfig):
    plugin = pytestconfig.pluginmanager.get_plugin("pytest_forked")
    assert plugin.__name__ == "pytest_isolated.forked"
    assert pytestconfig.getoption("forked") is (
        os.environ["COEXIST_FORKED_FLAG"] == "1"
    )


def test_real_plugin_was_found_first_or_not(pytestconfig):
    # When pytest-forked's distribution comes first, pluggy loads it before
    # pytest-isolated displaces it; otherwise it is never imported.
    expected = os.environ["COEXIST_REAL_FIRST"] == "1"
    assert ("pytest_forked" in sys.modules) is expected


@pytest.mark.forked
def test_forked_runs_in_a_spawned_child():
    assert os.environ.get("PYTEST_RUNNING_IN_SUBPROCESS") == "1"
