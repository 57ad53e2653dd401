"""pytest-timeout: its timer belongs to the process that runs the test.

In the parent it is not armed for an isolated test (it would fire while the
parent waits for the subprocess, and its ``thread`` method would end the whole
session): :class:`ParentTimeout`.  In the subprocess it runs as usual.  Its
``thread`` method prints the stacks to the terminal and calls ``os._exit(1)``;
the subprocess's terminal is no one's, so there the same report goes to the
subprocess's stderr, which the test's crash report shows, and the parent is
told the cause first: :class:`ChildTimeout`.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from typing import Any

import pytest

from pytest_isolated import _compat
from pytest_isolated.protocol import EV_PLUGIN_TIMEOUT
from pytest_isolated.roles import CHILD_PLUGIN_NAME
from pytest_isolated.settings import Settings, request_of


class ParentTimeout:
    """pytest-timeout in the parent: no timer for a test that runs elsewhere."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _isolated(self, item: pytest.Item) -> bool:
        return request_of(item, self.settings.isolate_all) is not None

    @pytest.hookimpl(tryfirst=True)
    def pytest_timeout_set_timer(self, item: pytest.Item, settings: Any) -> bool | None:
        return True if self._isolated(item) else None

    @pytest.hookimpl(tryfirst=True)
    def pytest_timeout_cancel_timer(self, item: pytest.Item) -> bool | None:
        return True if self._isolated(item) else None


class ChildTimeout:
    """pytest-timeout's ``thread`` method in a subprocess: the same stack dump
    and ``os._exit(1)``, written to stderr instead of the unseen terminal."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_timeout_set_timer(self, item: pytest.Item, settings: Any) -> bool | None:
        if settings.method != "thread":
            return None
        timer = threading.Timer(settings.timeout, _timeout_thread, (item, settings))
        timer.name = f"pytest_timeout {item.nodeid}"

        def cancel() -> None:
            timer.cancel()
            timer.join()

        set_timeout_cancel(item, cancel)
        timer.start()
        return True


def _timeout_thread(item: pytest.Item, settings: Any) -> None:
    import pytest_timeout  # type: ignore[import-untyped]

    if not settings.disable_debugger_detection and pytest_timeout.is_debugging():
        return
    what = f"Timeout (>{settings.timeout}s) from pytest-timeout"
    child: Any = item.config.pluginmanager.get_plugin(CHILD_PLUGIN_NAME)
    out = sys.__stderr__
    try:
        child.channel.send(
            EV_PLUGIN_TIMEOUT, summary=f"{what} (thread method: EXITED with status 1)"
        )
        if out is not None:
            current = threading.get_ident()
            names = {t.ident: t.name for t in threading.enumerate()}
            lines = [f"\n{'+' * 20} Timeout {'+' * 20}\n", f"{what}.\n"]
            for ident, frame in _compat.current_frames().items():
                if ident != current:
                    name = names.get(ident, "<unknown>")
                    lines.append(f"{'~' * 10} Stack of {name} ({ident}) {'~' * 10}\n")
                    lines.extend(traceback.format_stack(frame))
            lines.append(f"{'+' * 20} Timeout {'+' * 20}\n")
            out.write("".join(lines))
            out.flush()
    finally:
        os._exit(1)


# -- the plugin's private API, used here only -------------------------------------


def set_timeout_cancel(item: pytest.Item, cancel: Any) -> None:
    """pytest-timeout cancels a timer that a ``pytest_timeout_set_timer``
    implementation armed by calling ``item.cancel_timeout``, its private
    attribute."""
    item.cancel_timeout = cancel  # type: ignore[attr-defined]
