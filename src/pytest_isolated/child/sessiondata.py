"""Child side: what of the session happens once, and what a child hands back.

A child is a whole pytest session, started in the middle of the real one.
What conftests and plugins do once per session must not happen again there:

- a conftest's ``pytest_sessionstart``, ``pytest_sessionfinish`` and
  ``pytest_terminal_summary`` run only in pytest's own process;
- another plugin's ``pytest_sessionfinish`` and ``pytest_terminal_summary``
  too (there it writes the session's files and summary); its
  ``pytest_sessionstart`` runs in every child, as in every pytest-xdist
  worker, because plugins set up there what their fixtures need;
- pytest's own and ours run, as the child needs them.

In their place a child calls ``pytest_isolated_child_sessionfinish`` and sends
the parent its *output* dict (:func:`pytest_isolated.child_output`), which the
parent hands to ``pytest_isolated_child_output`` before its own session ends:
the way pytest-xdist's workers use ``config.workeroutput``.

Imports only ``_compat`` and ``protocol``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from pytest_isolated import _compat
from pytest_isolated.protocol import EV_OUTPUT
from pytest_isolated.roles import CHILD_PLUGIN_NAME

PLUGIN_NAME = "pytest-isolated-sessiondata"

#: In a child: the dict sent to the parent when the child's session ends.
OUTPUT_KEY = pytest.StashKey[dict[str, Any]]()

#: The session hooks that run once, in pytest's own process.
ONCE_FOR_CONFTESTS = (
    "pytest_sessionstart",
    "pytest_sessionfinish",
    "pytest_terminal_summary",
)
ONCE_FOR_PLUGINS = ("pytest_sessionfinish", "pytest_terminal_summary")

#: Modules whose hooks are the child's own machinery: pytest's, and ours.
OWN_PREFIXES = ("_pytest.", "pytest_isolated.")


def register(config: pytest.Config) -> None:
    """In a child, at configure: keep the session hooks to the parent."""
    config.stash[OUTPUT_KEY] = {}
    config.pluginmanager.register(SessionData(), PLUGIN_NAME)


def unregister(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if plugin is not None:
        config.pluginmanager.unregister(plugin, PLUGIN_NAME)


def once_per_session(plugin: object) -> tuple[str, ...]:
    """The hooks of *plugin* that run only in pytest's own process."""
    if is_own(plugin):
        return ()
    if _module_of(plugin).rpartition(".")[2] == "conftest":
        return ONCE_FOR_CONFTESTS
    return ONCE_FOR_PLUGINS


def is_own(plugin: object) -> bool:
    """Whether *plugin* is pytest's or ours: nothing of the user's."""
    module = _module_of(plugin)
    return module.startswith(OWN_PREFIXES) or module in ("pytest", "_pytest")


def _module_of(plugin: object) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    return type(plugin).__module__  # an object a plugin or conftest registered


class SessionData:
    """Registered in every child (and fork template) at configure."""

    def pytest_plugin_registered(
        self, plugin: object, manager: pytest.PytestPluginManager
    ) -> None:
        """Silence, as each plugin registers (historic: also those before
        this one), its hooks that run once per session."""
        names = once_per_session(plugin)
        if not names:
            return
        for caller in manager.get_hookcallers(plugin) or []:
            if caller.name not in names:
                continue
            for impl in caller.get_hookimpls():
                if impl.plugin is plugin:
                    _compat.silence_hookimpl(impl)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        child: Any = session.config.pluginmanager.get_plugin(CHILD_PLUGIN_NAME)
        if child is None or child.spec.template or not child.channel.ours:
            return  # a template runs no test; a test's own fork is no child
        output = session.config.stash[OUTPUT_KEY]
        session.config.hook.pytest_isolated_child_sessionfinish(
            session=session, exitstatus=int(exitstatus), output=output
        )
        # Nothing handed over reads as nothing if the child dies before its
        # next event: it goes with that one, in one write.
        (child.channel.send if output else child.channel.hold)(EV_OUTPUT, output=output)
