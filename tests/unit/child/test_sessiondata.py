"""Which session hooks run once: the rule, and how a hook is silenced."""

from __future__ import annotations

import types
from collections.abc import Generator
from typing import Any

import pluggy
import pytest

from pytest_isolated import _compat
from pytest_isolated.child.sessiondata import (
    ONCE_FOR_CONFTESTS,
    ONCE_FOR_PLUGINS,
    once_per_session,
)


def _module(name: str) -> types.ModuleType:
    return types.ModuleType(name)


class FromConftest:
    pass


FromConftest.__module__ = "tests.conftest"


class FromPytest:
    pass


FromPytest.__module__ = "_pytest.terminal"


@pytest.mark.parametrize(
    ("plugin", "once"),
    [
        (_module("conftest"), ONCE_FOR_CONFTESTS),
        (_module("tests.unit.conftest"), ONCE_FOR_CONFTESTS),
        (FromConftest(), ONCE_FOR_CONFTESTS),
        (_module("syrupy"), ONCE_FOR_PLUGINS),
        (_module("pytest_benchmark.plugin"), ONCE_FOR_PLUGINS),
        (_module("conftest_helpers"), ONCE_FOR_PLUGINS),
        (_module("_pytest.terminal"), ()),
        (FromPytest(), ()),
        (_module("pytest_isolated.plugin"), ()),
    ],
)
def test_the_hooks_that_run_once(plugin: object, once: tuple[str, ...]) -> None:
    assert once_per_session(plugin) == once


def test_a_conftests_session_start_runs_once_a_plugins_in_every_child() -> None:
    assert "pytest_sessionstart" in ONCE_FOR_CONFTESTS
    assert "pytest_sessionstart" not in ONCE_FOR_PLUGINS
    assert set(ONCE_FOR_PLUGINS) < set(ONCE_FOR_CONFTESTS)


hookspec = pluggy.HookspecMarker("demo")
hookimpl = pluggy.HookimplMarker("demo")


class Spec:
    @hookspec
    def finish(self, session: Any) -> None: ...


def test_a_silenced_hook_does_nothing_and_a_wrapper_still_wraps() -> None:
    calls: list[str] = []

    class Plain:
        @hookimpl
        def finish(self, session: Any) -> None:
            calls.append("plain")

    class Wrapper:
        @hookimpl(wrapper=True)
        def finish(self, session: Any) -> Generator[None]:
            calls.append("wrapper")
            return (yield)

    class OldWrapper:
        @hookimpl(hookwrapper=True)
        def finish(self, session: Any) -> Generator[None]:
            calls.append("old wrapper")
            yield

    class Kept:
        @hookimpl
        def finish(self, session: Any) -> None:
            calls.append("kept")

    pm = pluggy.PluginManager("demo")
    pm.add_hookspecs(Spec)
    silenced = [Plain(), Wrapper(), OldWrapper()]
    for plugin in [*silenced, Kept()]:
        pm.register(plugin)
    for impl in pm.hook.finish.get_hookimpls():
        if impl.plugin in silenced:
            _compat.silence_hookimpl(impl)
    pm.hook.finish(session=None)
    assert calls == ["kept"]
