"""Adapters for other plugins, each behind a hook, registered only when needed.

One module per plugin: :mod:`~pytest_isolated.adapters.timeout`
(pytest-timeout), :mod:`~pytest_isolated.adapters.rerunfailures`
(pytest-rerunfailures), :mod:`~pytest_isolated.adapters.randomly`
(pytest-randomly) and :mod:`~pytest_isolated.adapters.coverage` (coverage.py
and pytest-cov); the plugins whose session data a child hands back are
registered here too (their shared parts are in
:mod:`~pytest_isolated.adapters.plugindata`).  Here: which
adapters each side registers, and their removal at unconfigure.  A child
loads this module and the child-side adapters, none of which imports the
parent side.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from pytest_isolated.adapters.coverage import CoverageDrain
from pytest_isolated.adapters.randomly import RandomlySeed
from pytest_isolated.adapters.rerunfailures import ChildReruns, CrashReruns
from pytest_isolated.adapters.timeout import ChildTimeout, ParentTimeout
from pytest_isolated.settings import Settings

PREFIX = "pytest-isolated-adapter-"


def register_parent(
    config: pytest.Config, settings: Settings, finish: Callable[[], None]
) -> None:
    """The parent's adapters; *finish* reaps every child (idempotent)."""
    plugins: dict[str, object] = {}
    if config.pluginmanager.has_plugin("timeout"):
        plugins["timeout"] = ParentTimeout(settings)
    if config.pluginmanager.has_plugin("_cov"):  # pytest-cov, measuring
        plugins["coverage"] = CoverageDrain(finish)
    if config.pluginmanager.has_plugin("rerunfailures"):
        plugins["rerunfailures"] = CrashReruns()
    if config.pluginmanager.has_plugin("randomly"):
        plugins["randomly"] = RandomlySeed()
    for name, plugin in plugins.items():
        config.pluginmanager.register(plugin, PREFIX + name)
    _register_data_parent(config, settings)


def register_child(config: pytest.Config) -> None:
    """The child's adapters (it runs the tests: their timers are its own)."""
    if config.pluginmanager.has_plugin("timeout"):
        config.pluginmanager.register(ChildTimeout(), PREFIX + "child-timeout")
    if config.pluginmanager.has_plugin("rerunfailures"):
        config.pluginmanager.register(ChildReruns(), PREFIX + "child-reruns")
    _register_data_child(config)


def unregister(config: pytest.Config) -> None:
    for name, plugin in list(config.pluginmanager.list_name_plugin()):
        if name is not None and name.startswith(PREFIX):
            config.pluginmanager.unregister(plugin, name)


def loaded(config: pytest.Config, module: str) -> bool:
    """Whether the plugin module *module* is registered (by entry point or
    ``-p``, under whatever name)."""
    plugin = sys.modules.get(module)
    return plugin is not None and config.pluginmanager.is_registered(plugin)


def _register_data_parent(config: pytest.Config, settings: Settings) -> None:
    if loaded(config, "syrupy"):
        from pytest_isolated.adapters import syrupy

        config.pluginmanager.register(syrupy.ParentSnapshots(), PREFIX + "data-syrupy")
    if loaded(config, "pytest_benchmark.plugin"):
        from pytest_isolated.adapters import benchmark

        config.pluginmanager.register(
            benchmark.ParentBenchmarks(), PREFIX + "data-benchmark"
        )
    if loaded(config, "allure_pytest.plugin"):
        from pytest_isolated.adapters import allure

        config.pluginmanager.register(
            allure.ParentAllure(settings), PREFIX + "data-allure"
        )


def _register_data_child(config: pytest.Config) -> None:
    if loaded(config, "syrupy"):
        from pytest_isolated.adapters import syrupy

        config.pluginmanager.register(syrupy.ChildSnapshots(), PREFIX + "data-syrupy")
    if loaded(config, "pytest_benchmark.plugin"):
        from pytest_isolated.adapters import benchmark

        config.pluginmanager.register(
            benchmark.ChildBenchmarks(), PREFIX + "data-benchmark"
        )
