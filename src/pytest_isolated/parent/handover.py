"""Parent side: what children's plugins hand over, handed to this session's.

As a child's session ends, its plugins may hand the parent plain data (the
``output`` event); the parent's plugins get it through
``pytest_isolated_child_output``, with the name of the group the child ran.
A child that died before its session ended handed over nothing, and they
are told so (``output=None``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pytest_isolated.parent.events import Event, Message
from pytest_isolated.parent.handle import ChildHandle
from pytest_isolated.protocol import EV_OUTPUT


class Handover:
    """Hands the parent's plugins what each child's plugins handed over."""

    def __init__(
        self, config: pytest.Config, enabled: bool, warn: Callable[[str], None]
    ) -> None:
        """*enabled*: whether plugins get anything (not what a probe's
        children ran, which is no part of the session); *warn*: says once
        that a plugin's hook failed."""
        self.config = config
        self.enabled = enabled
        self.warn = warn
        #: The group each child ran (its name, the tests it was given), for
        #: the output it hands over at its end.
        self.groups: dict[ChildHandle, tuple[str, list[pytest.Item]]] = {}
        #: The children whose output (or its loss) plugins were told of.
        self._accounted: set[ChildHandle] = set()

    def take(self, child: ChildHandle, message: Message) -> bool:
        """Whether *message* is a child's output (handed on if enabled)."""
        if not isinstance(message, Event) or message.name != EV_OUTPUT:
            return False
        # Sent as the child's session ends, often after its group's last
        # result, when its run no longer listens.
        output = message.fields.get("output")
        if self.enabled:
            self._hand(child, output if isinstance(output, dict) else {})
        return True

    def lost(self, child: ChildHandle) -> None:
        """*child* died before its session ended: tell plugins it handed
        over nothing."""
        if self.enabled:
            self._hand(child, None)

    def lost_all(self) -> None:
        """The session is over: a child killed as it ended early (-x,
        Ctrl-C), or stuck at its exit, handed over nothing."""
        if self.enabled:
            for child in self.groups:
                self._hand(child, None)

    def _hand(self, child: ChildHandle, output: dict[str, Any] | None) -> None:
        """Hand plugins what a child's plugins handed over (None: nothing)."""
        if child in self._accounted:
            return
        self._accounted.add(child)
        group, items = self.groups.get(child, ("", []))
        try:
            self.config.hook.pytest_isolated_child_output(
                config=self.config, group=group, items=items, output=output
            )
        except Exception as exc:  # noqa: BLE001 - one plugin's error ends no session
            self.warn(
                f"pytest-isolated: a pytest_isolated_child_output hook failed on "
                f"the output of group {group!r}: {type(exc).__name__}: {exc}"
            )
