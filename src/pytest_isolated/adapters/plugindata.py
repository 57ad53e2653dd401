"""What the adapters of plugins that keep session data share (syrupy,
pytest-benchmark, allure-pytest; each registered by
:mod:`~pytest_isolated.adapters.integrations` only when that plugin is loaded).

Each has a child half (it puts in the child's output what the plugin's tests
produced there, in ``pytest_isolated_child_sessionfinish``) and a parent half
(it gives that to the plugin's own session in pytest's process, in
``pytest_isolated_child_output``, before the plugin's ``pytest_sessionfinish``).

Both sides; imports nothing of the parent side.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pytest_isolated import warning_types
from pytest_isolated.warning_types import SessionDataWarning


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
