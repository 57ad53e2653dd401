"""The pytest-forked compatibility layer: the ``forked`` marker and ``--forked``.

pytest-forked registered itself as the plugin ``pytest_forked``; so does this
module, so that everything users and plugins did with pytest-forked keeps
working unchanged:

- ``@pytest.mark.forked`` (on a function, a class, a module's ``pytestmark``
  or added by a hook) runs the test in a fresh Python subprocess of its own;
- ``--forked`` runs every test that way (it is ``--isolated`` under its
  pytest-forked name);
- ``-p no:forked`` (or ``-p no:pytest_forked``) turns both off, exactly as it
  turned pytest-forked off: ``--forked`` is then an unknown option and the
  marker does nothing;
- ``config.pluginmanager.hasplugin("pytest_forked")``,
  ``config.getoption("forked")`` and ``config.option.forked`` keep answering.

Only the spelling lives here; which tests run where is decided by
:func:`pytest_isolated.settings.resolve_request`, like any other isolation.

When the real pytest-forked is installed as well, both distributions claim the
plugin name ``pytest_forked`` and pluggy would keep whichever it happens to
find first on ``sys.path``.  :func:`install` makes the outcome fixed instead:
pytest-isolated's alias always holds the name, the real plugin never runs (it
is unregistered if it got in first), and one :class:`ForkedShadowedWarning`
asks the user to uninstall pytest-forked.

Without the real pytest-forked, ``import pytest_forked`` (the usual guard
``pytest.importorskip("pytest_forked")`` of a test that needs ``--forked``)
finds a stand-in module for as long as the alias is registered: a finder at
the end of ``sys.meta_path`` answers for that one name when no other finder
does, so it never hides a real pytest-forked.

Loaded in children too, where it is passive.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types

import pytest

from pytest_isolated.roles import CHILD_PLUGIN_NAME
from pytest_isolated.warning_types import ForkedShadowedWarning

__all__ = ["ForkedShadowedWarning"]

#: The name pytest-forked's entry point registered it under.
PLUGIN_NAME = "pytest_forked"

#: The real plugin's module (pytest-forked 1.x).
REAL_MODULE = "pytest_forked"

HELP_FORKED = "box each test run in a separate process (unix)"

MARKER_DOC = (
    "forked: run the test in a fresh Python subprocess of its own "
    "(pytest-forked's marker, provided by pytest-isolated)"
)

SHADOW_MESSAGE = (
    "pytest-forked is installed alongside pytest-isolated. pytest-isolated "
    "provides the 'forked' marker and the --forked option itself, so it has taken "
    "them over: forked tests run in fresh subprocesses and pytest-forked stays "
    "inactive. Uninstall pytest-forked (pip uninstall pytest-forked) to remove "
    "this warning; see docs/migration.md in pytest-isolated."
)


class _ImportAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes ``import pytest_forked`` succeed when pytest-forked is absent."""

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != REAL_MODULE:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__doc__ = (
            "pytest-forked's module name, provided by pytest-isolated: the "
            "'forked' marker and --forked are pytest_isolated.forked's."
        )


_ALIAS = _ImportAlias()


def _real_module_installed() -> bool:
    spec = importlib.util.find_spec(REAL_MODULE)
    return spec is not None and spec.loader is not _ALIAS


def install(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register this module as ``pytest_forked``, unless the user blocked it.

    Called by pytest-isolated's main plugin as it is registered, which is
    before any test or ``pytest_load_initial_conftests`` hook runs.  If the
    real pytest-forked was registered first (its distribution came first on
    ``sys.path``), it is unregistered; the ``--forked`` option it already
    added to the parser is identical to ours and stays.
    """
    if pluginmanager.is_blocked(PLUGIN_NAME):
        return  # -p no:forked / -p no:pytest_forked
    this = sys.modules[__name__]
    current = pluginmanager.get_plugin(PLUGIN_NAME)
    if current is this:
        return
    if current is not None:
        pluginmanager.unregister(current, PLUGIN_NAME)
    pluginmanager.register(this, PLUGIN_NAME)
    if _ALIAS not in sys.meta_path:
        sys.meta_path.append(_ALIAS)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("forked", "forked subprocess test execution")
    # ValueError: the real pytest-forked was registered before install()
    # displaced it, and its (identical) --forked is already there.
    with contextlib.suppress(ValueError):
        group.addoption(
            "--forked",
            action="store_true",
            dest="forked",
            default=False,
            help=HELP_FORKED,
        )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_DOC)
    # Warn in the user's session only, not again in each pytest-isolated
    # child or pytest-xdist worker.
    helper = config.pluginmanager.has_plugin(CHILD_PLUGIN_NAME) or bool(
        os.environ.get("PYTEST_XDIST_WORKER")
    )
    if not helper and _real_module_installed():
        config.issue_config_time_warning(ForkedShadowedWarning(SHADOW_MESSAGE), 2)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Take the import alias away with the plugin (a later ``pytest.main()``
    in this process may run with ``-p no:forked``)."""
    with contextlib.suppress(ValueError):
        sys.meta_path.remove(_ALIAS)
    module = sys.modules.get(REAL_MODULE)
    if module is not None and getattr(module, "__loader__", None) is _ALIAS:
        del sys.modules[REAL_MODULE]
