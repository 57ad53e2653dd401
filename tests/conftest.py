"""Shared set-up for the project's own tests.

Every test drives a real pytest in a subprocess (``runpytest_subprocess``).
Plugin autoloading is off in those runs, as in pytest's own test suite, so that
whatever else is installed cannot leak in; pytest-isolated is loaded
explicitly through ``PYTEST_PLUGINS``, which its children inherit.
"""

from __future__ import annotations

import os

import pytest

pytest_plugins = ["pytester"]

#: Every start method this platform has; each is a first-class citizen, so the
#: behaviour tests run over all of them (``every_start_method``).
START_METHODS = ["spawn", "prestart", *(["fork"] if hasattr(os, "fork") else [])]


@pytest.fixture(params=START_METHODS)
def every_start_method(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Run the test's sub-runs with each start method (an explicit
    ``--isolated-start`` on a sub-run's command line still wins)."""
    method: str = request.param
    monkeypatch.setenv("PYTEST_ADDOPTS", f"--isolated-start={method}")
    return method


@pytest.fixture(autouse=True)
def _clean_subrun_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTEST_PLUGINS", "pytest_isolated.plugin")
    for name in (
        "PYTEST_ADDOPTS",
        "PYTEST_RUNNING_IN_SUBPROCESS",
        "PYTEST_XDIST_WORKER",
    ):
        monkeypatch.delenv(name, raising=False)


def pytest_configure(config: pytest.Config) -> None:
    # scripts/matrix runs the suite on every supported Python x pytest pair but
    # one with -m "not slow"; mark tests that wait for deadlines or measure time.
    config.addinivalue_line(
        "markers", "slow: left out of the version matrix (scripts/matrix)"
    )
