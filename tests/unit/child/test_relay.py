"""When a test's events may wait for the next one: only while nothing of the
user's runs between its phases."""

from __future__ import annotations

import types
from typing import Any

import pytest

from pytest_isolated.child.relay import BETWEEN_PHASES, _only_own_between_phases


def config_with(plugins: dict[str, list[object]]) -> Any:
    """A config whose hooks have implementations from *plugins* (by hook
    name), and one of pytest's own for the others."""
    own = types.ModuleType("_pytest.runner")

    def caller(name: str) -> Any:
        impls = [types.SimpleNamespace(plugin=p) for p in plugins.get(name, [own])]
        return types.SimpleNamespace(get_hookimpls=lambda: impls)

    return types.SimpleNamespace(
        hook=types.SimpleNamespace(**{name: caller(name) for name in BETWEEN_PHASES})
    )


def test_with_only_pytests_and_ours_events_wait() -> None:
    terminal, ours = (
        types.ModuleType("_pytest.terminal"),
        types.ModuleType("pytest_isolated.child.relay"),
    )
    assert _only_own_between_phases(
        config_with({"pytest_runtest_logreport": [terminal, ours]})
    )


@pytest.mark.parametrize("hook", BETWEEN_PHASES)
@pytest.mark.parametrize("module", ["conftest", "tests.conftest", "pytest_timeout"])
def test_a_conftest_or_plugin_between_phases_has_every_event_sent_at_once(
    hook: str, module: str
) -> None:
    assert not _only_own_between_phases(
        config_with(
            {hook: [types.ModuleType("_pytest.runner"), types.ModuleType(module)]}
        )
    )
