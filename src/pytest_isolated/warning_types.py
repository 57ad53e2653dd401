"""The warnings pytest-isolated issues, for ``-W`` and ``filterwarnings``.

Each is a :class:`pytest.PytestWarning` subclass, so that
``-W error::pytest.PytestWarning`` and pytest's own filters treat them as
pytest's own.
"""

from __future__ import annotations

import warnings

import pytest

__all__ = [
    "ForkedShadowedWarning",
    "IsolatedDeprecationWarning",
    "SessionDataWarning",
]


def record(config: pytest.Config, warning: Warning, filename: str) -> None:
    """Put *warning*, of the session and no test, in the session's warnings
    summary, as issued from *filename*."""
    message = warnings.WarningMessage(warning, type(warning), filename, 0)
    config.hook.pytest_warning_recorded.call_historic(
        kwargs={
            "warning_message": message,
            "when": "runtest",
            "nodeid": "",
            "location": None,
        }
    )


class ForkedShadowedWarning(pytest.PytestWarning):
    """pytest-forked is installed, but pytest-isolated's alias runs instead."""


class IsolatedDeprecationWarning(pytest.PytestDeprecationWarning):
    """A spelling of pytest-isolated 0.6 that has a new name (the message names it)."""


class SessionDataWarning(pytest.PytestWarning):
    """A plugin's session data cannot be what one process would have made
    of the session (the message says what differs, and what was kept)."""
