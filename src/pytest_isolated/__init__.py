"""Run pytest tests in fresh Python subprocesses.

PYTEST_DONT_REWRITE: a subprocess imports this package before pytest starts;
assertion rewriting would then warn that it cannot rewrite it (an error under
``-W error``), and the package has no assertions worth rewriting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

__all__ = ["__version__", "child_output", "in_child"]


def __getattr__(name: str) -> str:
    # Looked up on first use: reading the installed metadata costs every
    # pytest run a few milliseconds at start-up otherwise.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest-isolated")
    except PackageNotFoundError:  # imported from a source tree not installed
        return "0.0.0"


def in_child(config: pytest.Config) -> str | None:
    """The name of the group this process runs, in an isolated child.

    ``None`` in pytest's own process (also in a pytest-xdist worker, which is
    pytest's own process for its tests), ``""`` in a fork template (which
    runs no test; each of its forks then answers with its group).
    """
    from pytest_isolated.roles import CHILD_PLUGIN_NAME

    plugin: Any = config.pluginmanager.get_plugin(CHILD_PLUGIN_NAME)
    return None if plugin is None else str(plugin.spec.group)


def child_output(config: pytest.Config) -> dict[str, Any] | None:
    """In a child, the dict handed to the parent when the child ends.

    Put JSON-able values under keys of your plugin's name; the parent gets
    them in ``pytest_isolated_child_output(config, group, output)``.  ``None``
    in pytest's own process.
    """
    from pytest_isolated.child.sessiondata import OUTPUT_KEY

    return config.stash.get(OUTPUT_KEY, None)
