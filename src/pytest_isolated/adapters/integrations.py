"""Adapters for other plugins, each behind a hook, registered only when needed.

pytest-timeout
    Its timer belongs to the process that runs the test.  In the parent it is
    not armed for an isolated test (it would fire while the parent waits for
    the subprocess, and its ``thread`` method would end the whole session); in
    the subprocess it runs as usual.  Its ``thread`` method prints the stacks
    to the terminal and calls ``os._exit(1)``; the subprocess's terminal is no
    one's, so there the same report goes to the subprocess's stderr, which
    the test's crash report shows, and the parent is told the cause first.

pytest-rerunfailures
    A test whose subprocess died runs again in a fresh one while its reruns,
    ``--only-rerun``, ``--rerun-except`` and ``condition=`` allow
    (``pytest_isolated_crash``).  The filters see the crash as a
    :class:`~pytest_isolated.parent.lost.SubprocessDied` exception whose text is
    the cause (``CRASHED with signal 11 (SIGSEGV)``).

pytest-randomly
    The subprocess must use the parent's seed, so that an isolated test draws
    the same random numbers as it would in process
    (``pytest_isolated_child_args``).

coverage.py and pytest-cov
    A subprocess is measured by coverage.py itself (``[run] patch =
    subprocess``); the parent's pytest-cov must combine only once every
    child has written its data: see :class:`CoverageDrain`.

Both sides; imports ``_compat``, ``crash``, ``protocol`` and ``settings``.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_isolated import _compat
from pytest_isolated.adapters import plugindata
from pytest_isolated.protocol import CHILD_PLUGIN_NAME, EV_PLUGIN_TIMEOUT
from pytest_isolated.settings import Settings, request_of

if TYPE_CHECKING:
    from pytest_isolated.parent.lost import Cause

PREFIX = "pytest-isolated-adapter-"


def register_parent(
    config: pytest.Config, settings: Settings, finish: Callable[[], None]
) -> None:
    """The parent's adapters; *finish* reaps every child (idempotent)."""
    plugins: dict[str, object] = {}
    if config.pluginmanager.has_plugin("timeout"):
        plugins["timeout"] = ParentTimeout(settings)
    if config.pluginmanager.has_plugin("_cov"):  # pytest-cov, measuring
        plugins["coverage"] = CoverageDrain(finish)
    if config.pluginmanager.has_plugin("rerunfailures"):
        plugins["rerunfailures"] = CrashReruns()
    if config.pluginmanager.has_plugin("randomly"):
        plugins["randomly"] = RandomlySeed()
    for name, plugin in plugins.items():
        config.pluginmanager.register(plugin, PREFIX + name)
    plugindata.register_parent(config, settings)


def register_child(config: pytest.Config) -> None:
    if config.pluginmanager.has_plugin("timeout"):
        config.pluginmanager.register(ChildTimeout(), PREFIX + "child-timeout")
    if config.pluginmanager.has_plugin("rerunfailures"):
        config.pluginmanager.register(ChildReruns(), PREFIX + "child-reruns")
    plugindata.register_child(config)


class ChildReruns:
    """pytest-rerunfailures in a child: no status server for xdist workers
    (its thread would keep the fork template from forking)."""

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        _compat.stop_rerunfailures_server(config)


def unregister(config: pytest.Config) -> None:
    for name, plugin in list(config.pluginmanager.list_name_plugin()):
        if name is not None and name.startswith(PREFIX):
            config.pluginmanager.unregister(plugin, name)


class RandomlySeed:
    """``--randomly-seed``: the seed the parent resolved (``default`` and
    ``last`` resolve differently in another process, with another cache)."""

    def pytest_isolated_child_args(self, config: pytest.Config) -> list[str]:
        seed = config.getoption("randomly_seed", None)
        return [f"--randomly-seed={seed}"] if isinstance(seed, int) else []


class CrashReruns:
    """pytest-rerunfailures' policy for tests whose subprocess died."""

    def pytest_isolated_crash(
        self, item: pytest.Item, cause: Cause, report: pytest.TestReport, attempt: int
    ) -> bool | None:
        import pytest_rerunfailures  # type: ignore[import-untyped]

        reruns = pytest_rerunfailures.get_reruns_count(item)
        if not reruns or attempt > reruns:
            return None
        from pytest_isolated.parent.lost import SubprocessDied  # parent only

        exc = SubprocessDied(cause.summary)
        return True if _compat.rerun_filters_allow(item, report, exc) else None


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


class CoverageDrain:
    """pytest-cov combines the data files when the run loop ends; a child
    writes its file only when it exits, and the parent reaps its children
    only at ``pytest_sessionfinish``.  So with pytest-cov measuring, the
    reaping (and the end of a pre-started interpreter) comes first."""

    def __init__(self, finish: Callable[[], None]) -> None:
        self.finish = finish

    # trylast: inside pytest-cov's own wrapper, so this ends before it combines.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtestloop(
        self, session: pytest.Session
    ) -> Generator[None, object, object]:
        try:
            return (yield)
        finally:
            self.finish()


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

        _compat.set_timeout_cancel(item, cancel)
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
