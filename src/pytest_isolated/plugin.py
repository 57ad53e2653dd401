"""pytest-isolated: run marked tests in fresh Python subprocesses.

The entry point: options, the ini key, the markers, and the registration of
the parent-side scheduler (``session.IsolationScheduler``) when isolation is on.
Inside a subprocess started by this plugin the child plugin is registered
instead, and this module stays passive.
"""

from __future__ import annotations

import pytest

from pytest_isolated import forked, integrations, settings
from pytest_isolated.protocol import CHILD_PLUGIN_NAME
from pytest_isolated.session import IsolationScheduler

SCHEDULER_NAME = "pytest-isolated"
settings_key = pytest.StashKey[settings.Settings]()


def pytest_addoption(
    parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager
) -> None:
    forked.install(pluginmanager)  # the pytest-forked alias, unless -p no:forked
    group = parser.getgroup("isolated", "run tests in fresh subprocesses")
    group.addoption(
        "--isolated", action="store_true", dest="isolated", help=settings.HELP_ISOLATED
    )
    group.addoption(
        "--no-isolation",
        action="store_true",
        dest="no_isolation",
        help=settings.HELP_NO_ISOLATION,
    )
    group.addoption(
        "--isolated-timeout",
        dest="isolated_timeout",
        type=settings.timeout_option,
        default=settings._UNSET,
        metavar="SECONDS",
        help=settings.HELP_TIMEOUT,
    )
    group.addoption(
        "--isolated-start",
        dest="isolated_start",
        choices=settings.START_METHODS,
        default=None,
        help=settings.HELP_START,
    )
    group.addoption(
        "--isolated-parallel",
        dest="isolated_parallel",
        type=settings.parallel_option,
        default=None,
        metavar="N",
        help=settings.HELP_PARALLEL,
    )
    parser.addini("isolated_timeout", settings.HELP_TIMEOUT, default=None)
    parser.addini("isolated_start", settings.HELP_START, default=None)
    parser.addini("isolated_parallel", settings.HELP_PARALLEL, default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", settings.MARKER_DOC)
    if config.pluginmanager.has_plugin(CHILD_PLUGIN_NAME):
        integrations.register_child(config)
        return  # inside a subprocess: the child plugin is in charge
    resolved = settings.resolve_settings(config)
    config.stash[settings_key] = resolved
    if not resolved.disabled:
        config.pluginmanager.register(
            IsolationScheduler(config, resolved), SCHEDULER_NAME
        )
        integrations.register_parent(config, resolved, SCHEDULER_NAME)
        if config.pluginmanager.has_plugin("xdist"):
            from pytest_isolated import xdist  # imports pytest-xdist

            xdist.register(config, resolved, SCHEDULER_NAME)


def pytest_unconfigure(config: pytest.Config) -> None:
    integrations.unregister(config)
    if config.pluginmanager.has_plugin("xdist"):
        from pytest_isolated import xdist

        xdist.unregister(config)
    scheduler = config.pluginmanager.get_plugin(SCHEDULER_NAME)
    if scheduler is not None:
        config.pluginmanager.unregister(scheduler, SCHEDULER_NAME)
