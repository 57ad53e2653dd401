"""Parent side: each child's spec, the parent's session as the child must see it.

A child runs its group as the parent would have: with the parent's command
line, ``sys.path``, working directory and environment, its terminal's width
and colours, its JUnit family, and folders of its own inside the parent's
basetemp (``--basetemp``, the cache, ``--log-file``, ``--debug``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from pytest_isolated import _compat
from pytest_isolated.parent.forks import ForkedHandle
from pytest_isolated.parent.grouping import Group
from pytest_isolated.parent.handle import ChildHandle
from pytest_isolated.platform import tree
from pytest_isolated.protocol import CACHE_DIR, LOG_FILE, ChildSpec
from pytest_isolated.settings import STARTUP_PATH, STARTUP_PROCESS


@dataclasses.dataclass(frozen=True)
class Start:
    """The environment and working directory children start from."""

    env: dict[str, str]
    cwd: str


class Specs:
    """Writes each child's spec: the parent's command line, paths, environment."""

    def __init__(self, config: pytest.Config, start: Start | None = None) -> None:
        self.config = config
        self.start = start
        self.startup_path = config.stash.get(STARTUP_PATH, list(sys.path))
        startup = config.stash.get(STARTUP_PROCESS, None)
        #: The environment as this pytest started, before its conftests and
        #: plugins changed it, and as they left it once collection was done.
        self.startup_env = None if startup is None else startup[0]
        self.collected_env: dict[str, str] | None = None
        # pytest 9.2 inserts the pythonpath ini entries before it imports
        # plugins; the directory Python itself put first comes after them.
        added = {str(path) for path in config.getini("pythonpath")}
        #: The child's ``sys.path[0]``.
        self.path0 = next((p for p in self.startup_path if p not in added), "")
        #: What a child imports as it starts, before its spec comes (entry.py).
        self.preload = _compat.default_plugin_modules(config)
        self._own_basetemp: Path | None = None

    def collection_starts(self) -> None:
        """Note the environment the start-up left, for a child started
        before the collection is done (the fork template under ``--forked``):
        its start-up does the same again."""
        self.collected_env = dict(os.environ)

    def collection_done(self) -> None:
        """Note the environment the start-up and the collection left: what
        changes after this, a child's start-up does not do again."""
        self.collected_env = dict(os.environ)

    def make(
        self,
        child: ChildHandle,
        items: list[pytest.Item],
        *,
        basetemp: str,
        timeout: float | None,
        template: bool = False,
        whole: bool = False,
        group: str = "",
        mem_limit: float | None = None,
        cpu_limit: float | None = None,
        wait_for_turn: bool = False,
    ) -> ChildSpec:
        """What *child* needs to run *items* as the parent would have; with
        *wait_for_turn*, each test when the parent says (``ChildHandle.grant``)."""
        base = self._base_temp() / basetemp
        return self.build(
            child,
            items,
            base,
            self._extra_args(child, base),
            _terminal_and_junit(self.config),
            timeout=timeout,
            template=template,
            whole=whole,
            group=group,
            mem_limit=mem_limit,
            cpu_limit=cpu_limit,
            wait_for_turn=wait_for_turn,
        )

    def build(
        self,
        child: ChildHandle,
        items: list[pytest.Item],
        base: Path,
        extra: list[str],
        terminal_and_junit: dict[str, Any],
        *,
        timeout: float | None,
        template: bool = False,
        whole: bool = False,
        group: str = "",
        mem_limit: float | None = None,
        cpu_limit: float | None = None,
        wait_for_turn: bool = False,
    ) -> ChildSpec:
        """The spec of *child*, with its basetemp *base* and the *extra*
        arguments it gets on top of the parent's command line."""
        config = self.config
        margin = 0.0 if timeout is None else min(1.0, max(0.05, timeout / 10))
        env = {**self.environment(), tree.COOKIE: child.cookie}
        return ChildSpec(
            args=[*config.invocation_params.args, *extra],
            files=list(dict.fromkeys(str(item.path) for item in items)),
            nodeids=[item.nodeid for item in items],
            sys_path=self.startup_path,
            argv=list(sys.argv),
            invocation_dir=str(config.invocation_params.dir),
            cwd=os.getcwd() if self.start is None else self.start.cwd,
            env=env,
            startup_env=self._startup_environment(env),
            basetemp=str(base),
            workdir=str(child.workdir),
            timeout=timeout,
            mem_limit=None if mem_limit is None else int(mem_limit),
            cpu_limit=cpu_limit,
            dump_margin=margin,
            capture=child.capture,
            tee=bool(child.tees),
            template=template,
            whole=whole,
            group=group,
            wait_for_turn=wait_for_turn,
            events_path=str(child.events_path)
            if isinstance(child, ForkedHandle)
            else None,
            **terminal_and_junit,
        )

    def _startup_environment(self, env: dict[str, str]) -> dict[str, str] | None:
        """What a child's start-up begins with: the environment as this
        pytest started, with what changed in *env* since the collection (an
        in-process test's or fixture's doing).  A conftest that prepends to
        ``PATH`` at import, or pytest-env's ``{VAR}`` expansion, then gives
        the child what it gave this process, not the change twice."""
        if self.startup_env is None or self.collected_env is None:
            return None  # the collection is not over: env is as it began
        collected = self.collected_env
        startup = dict(self.startup_env)
        for name in collected.keys() - env.keys():
            startup.pop(name, None)
        for name, value in env.items():
            if collected.get(name) != value:
                startup[name] = value
        return startup

    def start_state(self) -> tuple[dict[Any, Any], str]:
        """The environment and working directory a child started now gets,
        to compare with a later moment's."""
        if self.start is not None:
            return self.start.env, self.start.cwd
        return _compat.environ_copy(), os.getcwd()

    def environment(self) -> dict[str, str]:
        """The environment a child runs its tests with."""
        return child_environment(None if self.start is None else self.start.env)

    def for_group(
        self,
        child: ChildHandle,
        group: Group[pytest.Item],
        pending: list[pytest.Item],
        basetemp: str,
        wait_for_turn: bool,
    ) -> ChildSpec:
        """What *child* needs to run *pending*, the rest of *group*, with the
        group's limits."""
        return self.make(
            child,
            pending,
            basetemp=basetemp,
            group=group.name,
            timeout=group.timeout.value,
            mem_limit=group.mem_limit.value,
            cpu_limit=group.cpu_limit.value,
            wait_for_turn=wait_for_turn,
        )

    def _extra_args(self, child: ChildHandle, base: Path) -> list[str]:
        """The arguments a child gets on top of the parent's command line:
        the session outputs of its own, and what plugins add."""
        config = self.config
        extra = [f"--basetemp={base}"]
        if config.getoption("capture", None) is not None:
            extra.append("--capture=no")
        extra += own_outputs(
            config,
            child,
            log_file=_compat.log_file_handler(config) is not None
            and bool(config.getoption("log_file", None) or config.getini("log_file")),
            debug=bool(config.getoption("debug", None)),
        )
        for more in config.hook.pytest_isolated_child_args(config=config):
            extra += more
        return extra

    def _base_temp(self) -> Path:
        """The parent's basetemp; a folder of our own under ``-p no:tmpdir``."""
        try:
            base = _compat.base_temp(self.config)
        except OSError:
            # pytest cannot make the --basetemp given (a missing parent
            # folder): every test asking for tmp_path errors at its setup, in
            # pytest's process and, under the same folder, in a child.
            given = self.config.getoption("basetemp")
            return Path(self.config.invocation_params.dir, given)
        if base is None:
            if self._own_basetemp is None:
                self._own_basetemp = Path(tempfile.mkdtemp(prefix="pytest-isolated-"))
            base = self._own_basetemp
        return base

    def cleanup(self) -> None:
        if self._own_basetemp is not None:
            shutil.rmtree(self._own_basetemp, ignore_errors=True)


def own_outputs(
    config: pytest.Config, child: ChildHandle, *, log_file: bool, debug: bool
) -> list[str]:
    """The arguments that give *child* a cache folder, a log file
    (*log_file*: the session writes one) and a debug file (*debug*) of its
    own, in its work folder."""
    extra = []
    if config.pluginmanager.has_plugin("cacheprovider"):
        extra += ["-o", f"cache_dir={child.workdir / CACHE_DIR}"]
    if log_file:
        # The child never opens the session's log file: the parent writes
        # what the child logged there (LogLines).
        extra.append(f"--log-file={child.workdir / LOG_FILE}")
    if debug:
        extra.append(f"--debug={child.workdir / 'pytestdebug.log'}")
    return extra


def _terminal_and_junit(config: pytest.Config) -> dict[str, Any]:
    """The parent's terminal width and colours, and its JUnit family."""
    fields: dict[str, Any] = {}
    with contextlib.suppress(Exception):  # -p no:terminal
        writer = config.get_terminal_writer()
        fields["term_width"] = writer.fullwidth
        fields["term_markup"] = writer.hasmarkup
    xml = config.stash.get(_compat.junit_key(), None)
    if xml is not None:
        fields["junit_family"] = str(getattr(xml, "family", "xunit1"))
    return fields


#: ``os.environ``'s own data when last read, and the child environment of it.
_read: tuple[dict[Any, Any], dict[str, str]] | None = None


def child_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a child runs its tests with: *env*, else the parent's
    now (read anew only when it changed: decoding every variable, twice a
    group, is much of what the parent spends on a forked test)."""
    global _read
    if env is not None:
        return dict(env, PYTEST_RUNNING_IN_SUBPROCESS="1")
    raw = _compat.environ_copy()
    if _read is None or _read[0] != raw:
        _read = (raw, dict(os.environ, PYTEST_RUNNING_IN_SUBPROCESS="1"))
    return dict(_read[1])


def startup_environment(env: dict[str, str]) -> dict[str, str]:
    """The variables the interpreter reads when it starts (PYTHONPATH, ...):
    a pre-started interpreter can stand in only if they are unchanged."""
    return {k: v for k, v in env.items() if k.startswith("PYTHON")}
