"""pytest-isolated: run marked tests in fresh Python subprocesses.

The entry point: options and ini keys (:mod:`pytest_isolated.options`),
markers, our hookspecs, and, in pytest's own process, the registration of the
session (:class:`pytest_isolated.parent.session.IsolationScheduler`, once
collection shows a test to isolate), the finders (``--isolated-check-state``,
``--isolated-bisect``) and the adapters for other plugins; everything is
unregistered at unconfigure.  Inside a subprocess started by this plugin the
child plugin is in charge, and this module only adds the child's adapters.

Loaded by every pytest run, and in every child: it imports only what both
need; the finders in ``pytest_configure`` when asked for, and the parent
side only when a selected test is isolated (or under pytest-xdist).

PYTEST_DONT_REWRITE: a child imports this module before its pytest starts
(under ``-p pytest_isolated.plugin`` assertion rewriting would then warn that
it cannot rewrite it), and it has no assertion to rewrite.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator
from typing import TYPE_CHECKING

import pytest

from pytest_isolated import forked, hookspecs, options, settings
from pytest_isolated.roles import CHILD_PLUGIN_NAME, xdist_worker
from pytest_isolated.settings import STARTUP_PATH, STARTUP_PROCESS

if TYPE_CHECKING:
    from pytest_isolated.parent.session import IsolationScheduler

SCHEDULER_NAME = "pytest-isolated"
ON_DEMAND_NAME = "pytest-isolated-on-demand"
STATECHECK_NAME = "pytest-isolated-statecheck"
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


# Neither tryfirst nor a wrapper (a second implementation in this module:
# its name must begin with "pytest_"): after the plugins that set up the process
# first (pytest-cov starts coverage.py, whose ``patch = subprocess`` puts its
# configuration in os.environ for the template to be measured; pytest-env),
# before pytest's own (trylast) imports the root conftests.
@pytest.hookimpl(specname="pytest_load_initial_conftests")
def pytest_load_initial_conftests_template(early_config: pytest.Config) -> None:
    """When every test will be forked, the fork template starts here, so
    that it imports the conftests while this process does."""
    if _may_fork_all(early_config):
        from pytest_isolated.parent import early

        early.start(early_config)


def _may_fork_all(early_config: pytest.Config) -> bool:
    """Whether the command line asks to isolate every test, in pytest's own
    process (a first look, before anything of the parent side is imported)."""
    from pytest_isolated import _compat

    if early_config.pluginmanager.has_plugin(CHILD_PLUGIN_NAME):
        return False
    known = _compat.known_options(early_config)
    return bool(
        (getattr(known, "isolated", False) or getattr(known, "forked", False))
        and not getattr(known, "no_isolation", False)
    )


def pytest_addoption(
    parser: pytest.Parser, pluginmanager: pytest.PytestPluginManager
) -> None:
    forked.install(pluginmanager)  # the pytest-forked alias, unless -p no:forked
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", settings.MARKER_DOC)
    if config.pluginmanager.has_plugin(CHILD_PLUGIN_NAME):
        # Inside a subprocess: the child plugin is in charge.
        from pytest_isolated.adapters import integrations
        from pytest_isolated.child import sessiondata

        integrations.register_child(config)
        sessiondata.register(config)
        return
    resolved = settings.resolve_settings(config)
    config.stash[settings_key] = resolved
    if options.lookup(config, "isolated_check_state") is not None:
        from pytest_isolated.finding import statecheck

        statecheck.register(config, resolved)
    if options.value(config, "isolated_bisect") or options.value(
        config, "isolated_bisect_json"
    ):
        from pytest_isolated.finding import bisector

        bisector.register(config, resolved)
    if resolved.disabled:
        _no_early_template(config)
        return
    if _xdist_in_use(config):
        # The controller collects nothing, and a worker's groups must be
        # written before it reports its collection: both need the session now.
        register_session(config, resolved)
    elif settings.forks_from_the_start(config, resolved):
        # The session is needed anyway: its fork template starts with it (if
        # it did not start with the conftests) and collects while this
        # process does.
        register_session(config, resolved).fork_early = True
        return
    else:
        config.pluginmanager.register(SessionOnDemand(config, resolved), ON_DEMAND_NAME)
    _no_early_template(config)


def _no_early_template(config: pytest.Config) -> None:
    """End a fork template started with the conftests that the session, as
    configured, does not fork every test from."""
    early = sys.modules.get("pytest_isolated.parent.early")
    if early is not None:
        early.discard(config)


class SessionOnDemand:
    """Registers the session once collection is done, if a selected test is
    isolated: a run that isolates nothing never imports the parent side."""

    def __init__(self, config: pytest.Config, resolved: settings.Settings) -> None:
        self.config = config
        self.settings = resolved

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        isolate_all = self.settings.isolate_all
        if any(
            settings.request_of(item, isolate_all) is not None for item in session.items
        ):
            scheduler = register_session(self.config, self.settings)
            # Registered during this hook: its own implementation was not
            # among those called.
            scheduler.pytest_collection_finish(session)


def register_session(
    config: pytest.Config, resolved: settings.Settings
) -> IsolationScheduler:
    """Register the session (the scheduler) and the parent's adapters."""
    from pytest_isolated.adapters import integrations
    from pytest_isolated.parent.session import IsolationScheduler

    scheduler = IsolationScheduler(config, resolved)
    config.pluginmanager.register(scheduler, SCHEDULER_NAME)
    integrations.register_parent(config, resolved, scheduler.pytest_sessionfinish)
    if _xdist_in_use(config):
        from pytest_isolated.adapters import xdist  # imports pytest-xdist

        xdist.register(config, resolved, scheduler.incidents, scheduler.ledger)
    return scheduler


def _xdist_in_use(config: pytest.Config) -> bool:
    """Whether this is a pytest-xdist worker or a controller that distributes."""
    if not config.pluginmanager.has_plugin("xdist"):
        return False
    return xdist_worker() is not None or config.getoption("dist", "no") != "no"


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.pluginmanager.has_plugin(CHILD_PLUGIN_NAME):
        # A child's process ends with its session: nothing to tidy for a
        # later session, and pluggy's unregistering costs every fork.
        return
    # Each module below is loaded only if configure registered something of it.
    for name in (
        "adapters.integrations",
        "adapters.xdist",
        "finding.bisector",
        "child.sessiondata",
    ):
        module = sys.modules.get(f"pytest_isolated.{name}")
        if module is not None:
            module.unregister(config)
    for name in (STATECHECK_NAME, SCHEDULER_NAME, ON_DEMAND_NAME):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin, name)
    if settings_key in config.stash:
        del config.stash[settings_key]
