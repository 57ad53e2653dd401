"""pytest-isolated: run marked tests in fresh Python subprocesses.

The entry point: options, ini keys, markers, our hookspecs, and the
registration of the parent-side scheduler (``scheduler.IsolationScheduler``)
and the adapters for other plugins when isolation is on; everything is
unregistered at unconfigure.  Inside a subprocess started by this plugin the
child plugin is in charge, and this module only adds the child's adapters.

Imports ``bisect``, ``forked``, ``hooks``, ``integrations``, ``protocol``,
``settings`` and ``statecheck`` at import; the parent side (``scheduler``,
``xdist``, ``probes``) only in pytest's own process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator
from typing import Any

import pytest

from pytest_isolated import forked, hookspecs, settings
from pytest_isolated.adapters import integrations
from pytest_isolated.finding import bisector, statecheck
from pytest_isolated.protocol import CHILD_PLUGIN_NAME
from pytest_isolated.settings import STARTUP_PATH, STARTUP_PROCESS

SCHEDULER_NAME = "pytest-isolated"
settings_key = pytest.StashKey[settings.Settings]()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> Generator[None]:
    """Note ``sys.path`` before conftests and ``pythonpath`` change it: a
    child starts from this session's path, not from the one the plugin was
    first imported with (a second ``pytest.main()`` may have another)."""
    early_config.stash[STARTUP_PATH] = list(sys.path)
    # What --isolated-bisect's probes start from: the session's start.
    early_config.stash[STARTUP_PROCESS] = (dict(os.environ), os.getcwd())
    return (yield)


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
    # The options that also have an ini key of the same name: (flag, how).
    valued: list[tuple[str, dict[str, Any]]] = [
        (
            "--isolated-timeout",
            {"type": settings.timeout_option, "default": settings._UNSET},
        ),
        ("--isolated-start", {"choices": settings.START_METHODS, "default": None}),
        ("--isolated-parallel", {"type": settings.parallel_option, "default": None}),
        (
            "--isolated-mem-limit",
            {"type": settings.memory_option, "default": settings._UNSET},
        ),
        (
            "--isolated-cpu-limit",
            {"type": settings.cpu_option, "default": settings._UNSET},
        ),
    ]
    helps = {
        "isolated_timeout": (settings.HELP_TIMEOUT, "SECONDS"),
        "isolated_start": (settings.HELP_START, None),
        "isolated_parallel": (settings.HELP_PARALLEL, "N"),
        "isolated_mem_limit": (settings.HELP_MEM_LIMIT, "SIZE"),
        "isolated_cpu_limit": (settings.HELP_CPU_LIMIT, "SECONDS"),
    }
    for flag, how in valued:
        dest = flag[2:].replace("-", "_")
        text, metavar = helps[dest]
        group.addoption(flag, dest=dest, metavar=metavar, help=text, **how)
        parser.addini(dest, text, default=None)
    group.addoption(
        statecheck.OPTION,
        dest="isolated_check_state",
        nargs="?",
        const=statecheck.WARN,
        default=None,
        type=statecheck.mode_option,
        metavar="warn|fail",
        help=statecheck.HELP,
    )
    parser.addini(statecheck.INI, statecheck.HELP, default=None)
    parser.addini(
        settings.JUNIT_USAGE_INI, settings.HELP_JUNIT_USAGE, type="bool", default=True
    )
    bisector.addoption(group, parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", settings.MARKER_DOC)
    if config.pluginmanager.has_plugin(CHILD_PLUGIN_NAME):
        integrations.register_child(config)
        return  # inside a subprocess: the child plugin is in charge
    resolved = settings.resolve_settings(config)
    config.stash[settings_key] = resolved
    mode = statecheck.resolve_mode(config)
    if mode is not None:  # in this process only: isolated tests are not checked
        checker = statecheck.StateCheck(config, resolved, mode)
        config.pluginmanager.register(checker, statecheck.PLUGIN_NAME)
    options = bisector.resolve(config)
    if options is not None:
        bisector.register(config, resolved, options)
    if not resolved.disabled:
        # Imported here: a child loads nothing of the parent side.
        from pytest_isolated.parent.session import IsolationScheduler

        scheduler = IsolationScheduler(config, resolved)
        config.pluginmanager.register(scheduler, SCHEDULER_NAME)
        integrations.register_parent(config, resolved, scheduler.pytest_sessionfinish)
        if config.pluginmanager.has_plugin("xdist"):
            from pytest_isolated.adapters import xdist  # imports pytest-xdist

            xdist.register(config, resolved, scheduler.incidents, scheduler.ledger)


def pytest_unconfigure(config: pytest.Config) -> None:
    integrations.unregister(config)
    xdist = sys.modules.get("pytest_isolated.adapters.xdist")  # imported if registered
    if xdist is not None:
        xdist.unregister(config)
    bisector.unregister(config)
    checker = config.pluginmanager.get_plugin(statecheck.PLUGIN_NAME)
    if checker is not None:
        config.pluginmanager.unregister(checker, statecheck.PLUGIN_NAME)
    scheduler = config.pluginmanager.get_plugin(SCHEDULER_NAME)
    if scheduler is not None:
        config.pluginmanager.unregister(scheduler, SCHEDULER_NAME)
    if settings_key in config.stash:
        del config.stash[settings_key]
