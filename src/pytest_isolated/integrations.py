"""Other plugins, on both sides of the process boundary.

pytest-timeout
    Its timer belongs to the process that runs the test.  In the parent it is
    not armed for an isolated test (it would fire while the parent waits for
    the subprocess, and its ``thread`` method would end the whole session); in
    the subprocess it runs as usual.  Its ``thread`` method prints the stacks to
    the terminal and calls ``os._exit(1)``; the subprocess's terminal is no
    one's, so there the same report goes to the subprocess's stderr, which the
    crash report of the test shows ("+++ Timeout +++").

pytest-randomly
    The subprocess must use the parent's seed, so that an isolated test draws
    the same random numbers as it would in process: see :func:`child_args`.

coverage.py and pytest-cov
    A subprocess is measured by coverage.py itself (``[run] patch =
    subprocess``); the parent's pytest-cov must combine only once every
    child has written its data: see :class:`CoverageDrain`.

Everything here is registered only when the plugin concerned is loaded.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import traceback
from collections.abc import Generator
from typing import Any

import pytest

from pytest_isolated.settings import Settings, resolve_request

PARENT_TIMEOUT_PLUGIN = "pytest-isolated-timeout"
CHILD_TIMEOUT_PLUGIN = "pytest-isolated-child-timeout"
COVERAGE_PLUGIN = "pytest-isolated-coverage"


def register_parent(config: pytest.Config, settings: Settings, scheduler: str) -> None:
    if config.pluginmanager.has_plugin("timeout"):
        plugin = ParentTimeout(settings)
        config.pluginmanager.register(plugin, PARENT_TIMEOUT_PLUGIN)
    if config.pluginmanager.has_plugin("_cov"):  # pytest-cov, measuring
        config.pluginmanager.register(CoverageDrain(scheduler), COVERAGE_PLUGIN)


def register_child(config: pytest.Config) -> None:
    if config.pluginmanager.has_plugin("timeout"):
        config.pluginmanager.register(ChildTimeout(), CHILD_TIMEOUT_PLUGIN)


def unregister(config: pytest.Config) -> None:
    for name in (PARENT_TIMEOUT_PLUGIN, CHILD_TIMEOUT_PLUGIN, COVERAGE_PLUGIN):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin, name)


def child_args(config: pytest.Config) -> list[str]:
    """Options the subprocess needs on top of the parent's command line.

    ``--randomly-seed``: the seed the parent resolved (``default`` and
    ``last`` resolve differently in another process, with another cache).
    """
    args: list[str] = []
    if config.pluginmanager.has_plugin("randomly"):
        seed = config.getoption("randomly_seed", None)
        if isinstance(seed, int):
            args.append(f"--randomly-seed={seed}")
    return args


class ParentTimeout:
    """pytest-timeout in the parent: no timer for a test that runs elsewhere."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _isolated(self, item: pytest.Item) -> bool:
        return resolve_request(item, self.settings.isolate_all) is not None

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

    def __init__(self, scheduler: str) -> None:
        self.scheduler = scheduler

    # trylast: inside pytest-cov's own wrapper, so this ends before it combines.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtestloop(
        self, session: pytest.Session
    ) -> Generator[None, object, object]:
        try:
            return (yield)
        finally:
            plugin = session.config.pluginmanager.get_plugin(self.scheduler)
            finish = getattr(plugin, "pytest_sessionfinish", None)
            if finish is not None:
                finish()  # stops what runs, waits for the children; idempotent


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

        item.cancel_timeout = cancel  # type: ignore[attr-defined]  # pytest-timeout's
        timer.start()
        return True


def _timeout_thread(item: pytest.Item, settings: Any) -> None:
    import pytest_timeout  # type: ignore[import-untyped]

    if not settings.disable_debugger_detection and pytest_timeout.is_debugging():
        return
    out = sys.__stderr__
    try:
        if out is not None:
            current = threading.get_ident()
            names = {t.ident: t.name for t in threading.enumerate()}
            lines = [f"\n{'+' * 20} Timeout {'+' * 20}\n"]
            lines.append(f"Timeout (>{settings.timeout}s) from pytest-timeout.\n")
            for ident, frame in sys._current_frames().items():
                if ident != current:
                    name = names.get(ident, "<unknown>")
                    lines.append(f"{'~' * 10} Stack of {name} ({ident}) {'~' * 10}\n")
                    lines.extend(traceback.format_stack(frame))
            lines.append(f"{'+' * 20} Timeout {'+' * 20}\n")
            out.write("".join(lines))
            out.flush()
    finally:
        os._exit(1)


#: The banner :func:`_timeout_thread` writes around its report.
TIMEOUT_BANNER = f"{'+' * 20} Timeout {'+' * 20}"


def timeout_exit_summary(returncode: int, stderr: str) -> str | None:
    """The short summary for a child that pytest-timeout's ``thread`` method
    ended (exit status 1 after the banner), else None."""
    if returncode != 1 or TIMEOUT_BANNER not in stderr:
        return None
    found = re.search(r"Timeout \(>[^)]*\) from pytest-timeout\.", stderr)
    what = found.group(0).rstrip(".") if found else "Timeout from pytest-timeout"
    return f"{what} (thread method: EXITED with status 1)"


def crash_reruns_left(item: pytest.Item, attempts: int) -> bool:
    """Whether pytest-rerunfailures (``--reruns``, ``@pytest.mark.flaky``) allows
    one more attempt of *item* after *attempts* crashed ones."""
    if not item.config.pluginmanager.has_plugin("rerunfailures"):
        return False
    import pytest_rerunfailures  # type: ignore[import-untyped]

    reruns = pytest_rerunfailures.get_reruns_count(item)
    return bool(reruns) and attempts <= reruns
