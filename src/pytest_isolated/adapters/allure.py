"""allure-pytest: one result per test.

A child's allure-pytest writes the result of each test it runs to
``--alluredir``, as a pytest-xdist worker's does (and leaves
``--clean-alluredir`` to the parent, which cleaned the folder at its start).
In the parent, allure-pytest would write a second, empty result (no status)
for the same test, around the reports pytest-isolated passes on: that one is
dropped.

Parent side; allure-pytest's private parts are used through ``_compat``.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_isolated.settings import Settings, request_of


class ParentAllure:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.running: pytest.Item | None = None

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None]:
        isolated = request_of(item, self.settings.isolate_all) is not None
        self.running = item if isolated else None
        try:
            return (yield)
        finally:
            self.running = None

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_logfinish(self, nodeid: str) -> Generator[None]:
        item = self.running
        if item is not None and item.nodeid == nodeid:
            # The child wrote this test's result.
            allure_drop_result(item)
        return (yield)


# -- the plugin's private API, used here only -------------------------------------


def allure_drop_result(item: pytest.Item) -> None:
    """Drop the result allure-pytest started in this process for *item*,
    which ran in a child (whose allure-pytest wrote the real one).

    allure-pytest keeps its results under ``id(item.nodeid)`` in a private
    cache and offers no way to leave a test out.
    """
    listener: Any = item.config.pluginmanager.get_plugin("allure_listener")
    if listener is None:
        return
    uuid = listener._cache.pop(item.nodeid)
    if uuid:
        listener.allure_logger.drop_test(uuid)
