"""Adapters for plugins that keep session data, each registered only when
that plugin is loaded: syrupy, pytest-benchmark, allure-pytest.

Each has a child half (it puts in the child's output what the plugin's tests
produced there, in ``pytest_isolated_child_sessionfinish``) and a parent half
(it gives that to the plugin's own session in pytest's process, in
``pytest_isolated_child_output``, before the plugin's ``pytest_sessionfinish``).

Both sides; imports nothing of the parent side.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import pytest

from pytest_isolated import warning_types
from pytest_isolated.settings import Settings
from pytest_isolated.warning_types import SessionDataWarning

#: Under the prefix of ``integrations``, whose ``unregister`` removes them.
PREFIX = "pytest-isolated-adapter-data-"


def loaded(config: pytest.Config, module: str) -> bool:
    """Whether the plugin module *module* is registered (by entry point or
    ``-p``, under whatever name)."""
    plugin = sys.modules.get(module)
    return plugin is not None and config.pluginmanager.is_registered(plugin)


def register_parent(config: pytest.Config, settings: Settings) -> None:
    if loaded(config, "syrupy"):
        from pytest_isolated.adapters import syrupy

        config.pluginmanager.register(syrupy.ParentSnapshots(), PREFIX + "syrupy")
    if loaded(config, "pytest_benchmark.plugin"):
        from pytest_isolated.adapters import benchmark

        config.pluginmanager.register(
            benchmark.ParentBenchmarks(), PREFIX + "benchmark"
        )
    if loaded(config, "allure_pytest.plugin"):
        from pytest_isolated.adapters import allure

        config.pluginmanager.register(allure.ParentAllure(settings), PREFIX + "allure")


def register_child(config: pytest.Config) -> None:
    if loaded(config, "syrupy"):
        from pytest_isolated.adapters import syrupy

        config.pluginmanager.register(syrupy.ChildSnapshots(), PREFIX + "syrupy")
    if loaded(config, "pytest_benchmark.plugin"):
        from pytest_isolated.adapters import benchmark

        config.pluginmanager.register(benchmark.ChildBenchmarks(), PREFIX + "benchmark")


def warn(config: pytest.Config, text: str) -> None:
    """One warning of ours in the session's warnings summary."""
    warning = SessionDataWarning(f"pytest-isolated: {text}")
    warning_types.record(config, warning, __file__)


def used_by(items: Sequence[pytest.Item], *fixtures: str) -> bool:
    """Whether a test among *items* asks for one of *fixtures*: a child that
    handed over nothing lost a plugin's data only if one of its tests used
    it (a crash elsewhere is none of that plugin's business)."""
    return any(
        name in getattr(item, "fixturenames", ()) for item in items for name in fixtures
    )
