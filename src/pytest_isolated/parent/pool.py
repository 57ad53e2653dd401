"""Parent side: the children, however they start, and every message they send.

The pool makes a child for each group by the group's start method: a fork of
the template (:mod:`pytest_isolated.parent.forks`), the pre-started
interpreter, or a freshly spawned one (:mod:`pytest_isolated.parent.spawned`).  It
writes each child's spec, owns the one inbox all children report to, handles
the template's own messages, and reaps children once their group is done.
When the template cannot serve a group, the group is spawned and the reason
is shown once per session.

Imports the parent-side modules ``_compat``, ``forkclient``, ``grouping``,
``process``, ``protocol`` and ``settings``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import queue
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from pytest_isolated import _compat
from pytest_isolated.parent.events import Event, Exited, Inbox, Message
from pytest_isolated.parent.forks import ForkedHandle, ForkTemplate
from pytest_isolated.parent.grouping import Group
from pytest_isolated.parent.handle import ChildHandle
from pytest_isolated.parent.spawned import SpawnedHandle
from pytest_isolated.parent.watchdog import Watchdog
from pytest_isolated.platform import tree
from pytest_isolated.protocol import CACHE_DIR, EV_OUTPUT, LOG_FILE, ChildSpec
from pytest_isolated.settings import STARTUP_PATH, STARTUP_PROCESS, Settings

#: The longest the fork template may take to collect.
TEMPLATE_LIMIT = 300.0


@dataclasses.dataclass(frozen=True)
class Start:
    """The environment and working directory children start from."""

    env: dict[str, str]
    cwd: str


class PytestIsolatedWarning(pytest.PytestWarning):
    """Something pytest-isolated could not do as asked (it says what instead)."""


class Pool:
    """Every child of one session."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        *,
        start: Start | None = None,
        capture: bool | None = None,
        outputs: bool = True,
    ) -> None:
        """*start*: the environment and working directory every child gets
        (default: the parent's at the moment the child starts); *capture*:
        whether the children's output goes to files (default: unless ``-s``);
        *outputs*: whether plugins get what the children hand over (not what
        a probe's children ran, which is no part of the session)."""
        self.config = config
        self.outputs = outputs
        self.settings = settings
        if capture is None:
            capture = config.getoption("capture", "no") != "no"
        self.capture = capture
        self.start = start
        self.specs = Specs(config, start)
        # Under -s the children's output passes through this process, which
        # keeps the tail of a test whose process dies (POSIX: the reader
        # multiplexes pipes).
        self.tee = not self.capture and sys.platform != "win32"
        # pytest 9.2 inserts the pythonpath ini entries before it imports
        # plugins; the directory Python itself put first comes after them.
        added = {str(path) for path in config.getini("pythonpath")}
        self.path0 = next((p for p in self.specs.startup_path if p not in added), "")
        self.inbox: Inbox = queue.Queue()
        self.watchdog = Watchdog()
        self.prestarted: SpawnedHandle | None = None
        self.template: ForkTemplate | None = None
        self.retired: list[ChildHandle] = []
        self.children_started = 0
        self.child_seconds = 0.0
        self._told: set[str] = set()
        #: Messages of running groups that came while the pool waited for
        #: the template: handed out first, in their order.
        self._held: collections.deque[tuple[ChildHandle, Message]] = collections.deque()
        #: Whether this process became a subreaper for the session.
        self._subreaper = False
        #: The group each child ran, for the output it hands over at its end.
        self.group_names: dict[ChildHandle, str] = {}
        #: The children whose output (or its loss) plugins were told of.
        self._accounted: set[ChildHandle] = set()

    def _adopt_orphans(self) -> None:
        """Become a subreaper (Linux), once: what a crashed child leaves
        comes here, not to init, and is found (``tree.adopted_orphans``)."""
        if not self._subreaper and not tree.is_subreaper():
            self._subreaper = tree.become_subreaper()

    # -- start methods ---------------------------------------------------------

    def method(self, group: Group[pytest.Item]) -> str:
        """How *group*'s children start: "fork", "prestart" or "spawn"."""
        start = self.settings.start
        if start == "auto":
            # pytest-forked's tests fork, where forking is the platform's way.
            wanted = group.forked and sys.platform.startswith("linux")
            start = "fork" if wanted else "prestart"
        if start == "fork" and not hasattr(os, "fork"):
            return "prestart"
        return start

    def start_template(self, groups: list[Group[pytest.Item]]) -> None:
        """Start the fork template now: it collects while the session runs."""
        forked = [g for g in groups if self.method(g) == "fork"]
        if not forked or self.config.option.collectonly:
            return
        limits = [g.timeout.value for g in forked]
        limit = min(
            TEMPLATE_LIMIT,
            max((s for s in limits if s is not None), default=TEMPLATE_LIMIT),
        )
        child = self._spawn()
        items = [item for group in forked for item in group.items]
        spec = self.specs.make(
            child, items, basetemp="isolated-template", timeout=limit, template=True
        )
        self.template = ForkTemplate(child, spec)

    def child_for(
        self,
        group: Group[pytest.Item],
        pending: list[pytest.Item],
        *,
        prestart_next: bool,
    ) -> ChildHandle:
        """A child for the rest of *group*: forked, pre-started or spawned;
        with *prestart_next*, the next interpreter is started ahead (prestart)."""
        method = self.method(group)
        child: ChildHandle | None = None
        if method == "fork":
            child = self._forked([item.nodeid for item in pending])
        if child is None:
            child = self._take_prestarted() or self._spawn()
        if prestart_next and method == "prestart" and self.prestarted is None:
            self.prestarted = self._spawn()
        self.group_names[child] = group.name
        return child

    def no_more_groups(self) -> None:
        """Every group has started: a pre-started interpreter would wait in vain."""
        if self.prestarted is not None:
            self.prestarted.kill()
            self.retired.append(self.prestarted)
            self.prestarted = None

    def _forked(self, nodeids: list[str]) -> ForkedHandle | None:
        """A fork of the template, once it has said whether it can make one."""
        template = self.template
        if template is None:
            self._tell("the fork template was not started")
            return None
        while not template.settled:
            child, message = self._get()
            if not self._dispatch(child, message):
                # A running group's: its run takes it later, in order.
                self._held.append((child, message))
        if not template.can_run(nodeids):
            self._tell(template.refusal or "the template did not collect the group")
            return None
        self.children_started += 1
        return ForkedHandle(self.inbox, self.watchdog, template, self._environment())

    def _tell(self, reason: str) -> None:
        """Say once per session why groups that would fork are spawned."""
        self._tell_once(
            f"pytest-isolated: {reason}; isolated tests that would be forked "
            "start as spawned subprocesses instead"
        )

    def _tell_once(self, text: str) -> None:
        """A warning of ours in the session's summary, once per session."""
        if text in self._told:
            return
        self._told.add(text)
        message = warnings.WarningMessage(
            PytestIsolatedWarning(text),
            PytestIsolatedWarning,
            __file__,
            0,
        )
        self.config.hook.pytest_warning_recorded.call_historic(
            kwargs={
                "warning_message": message,
                "when": "runtest",
                "nodeid": "",
                "location": None,
            }
        )

    def _spawn(self) -> SpawnedHandle:
        self._adopt_orphans()
        self.children_started += 1
        return SpawnedHandle(
            self.inbox,
            self.watchdog,
            self.capture,
            self._environment(),
            self.path0,
            tee=self.tee,
        )

    def _environment(self) -> dict[str, str]:
        return child_environment(None if self.start is None else self.start.env)

    def _take_prestarted(self) -> SpawnedHandle | None:
        """The pre-started interpreter, if it can pass for a fresh one."""
        child, self.prestarted = self.prestarted, None
        if child is None:
            return None
        if child.alive() and _startup_environment(child.env) == _startup_environment(
            self._environment()
        ):
            return child
        child.kill()
        self.retired.append(child)
        return None

    def next_message(self) -> tuple[ChildHandle, Message] | None:
        """The next message for a group's child (None: one the pool took)."""
        if self._held:
            return self._held.popleft()
        child, message = self._get()
        if self._dispatch(child, message):
            return None
        return child, message

    def _get(self) -> tuple[ChildHandle, Message]:
        # A bounded wait, so that Ctrl-C is seen on every platform; a message
        # is handled as soon as it arrives.
        while True:
            try:
                return self.inbox.get(timeout=1.0)
            except queue.Empty:
                continue

    def _dispatch(self, child: ChildHandle, message: Message) -> bool:
        """Handle the template's messages, children's output and retired
        children's exits."""
        if isinstance(message, Event) and message.name == EV_OUTPUT:
            # Sent as the child's session ends, often after its group's
            # last result, when its run no longer listens.
            output = message.fields.get("output")
            if self.outputs:
                self._output(child, output if isinstance(output, dict) else {})
            return True
        if self.template is not None and child is self.template.child:
            self.template.handle(message)
            return True
        if child in self.retired or child is self.prestarted:
            if isinstance(message, Exited):
                self.close(child)
            return True
        return False

    def output_lost(self, child: ChildHandle) -> None:
        """*child* died before its session ended: tell plugins it handed
        over nothing."""
        if self.outputs:
            self._output(child, None)

    def _output(self, child: ChildHandle, output: dict[str, Any] | None) -> None:
        """Hand plugins what a child's plugins handed over (None: nothing)."""
        if child in self._accounted:
            return
        self._accounted.add(child)
        group = self.group_names.get(child, "")
        try:
            self.config.hook.pytest_isolated_child_output(
                config=self.config, group=group, output=output
            )
        except Exception as exc:  # noqa: BLE001 - one plugin's error ends no session
            self._tell_once(
                f"pytest-isolated: a pytest_isolated_child_output hook failed on "
                f"the output of group {group!r}: {type(exc).__name__}: {exc}"
            )

    def retire(self, child: ChildHandle) -> None:
        """A child whose results are all in; reaped when it exits, off the
        critical path."""
        self.child_seconds += child.seconds
        if child.returncode is not None:
            child.close()
        else:
            self.retired.append(child)

    def close(self, child: ChildHandle) -> None:
        if child in self.retired:
            self.retired.remove(child)
        if child is self.prestarted:
            self.prestarted = None
        child.close()

    def shutdown(self) -> None:
        """Reap every child: forks first (their exits come through the
        template), then the template, which ends when its stdin closes."""
        self.no_more_groups()
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            template = self.template
            if template is not None and not any(
                isinstance(c, ForkedHandle) for c in self.retired
            ):
                template.close()
                self.retired.append(template.child)
                self.template = None
            if not self.retired:
                break
            for child in list(self.retired):
                if not child.alive():
                    self.close(child)
            with contextlib.suppress(queue.Empty):
                self._dispatch(*self.inbox.get(timeout=0.05))
        if self.template is not None:
            self.retired.append(self.template.child)
            self.template = None
        for child in list(self.retired):
            child.kill()  # stuck at exit
            self.close(child)
        # A closed child's last events (its output) may still wait here.
        with contextlib.suppress(queue.Empty):
            while True:
                self._dispatch(*self.inbox.get_nowait())
        if self.outputs:
            # Killed as the session ended early (-x, Ctrl-C), or stuck at its
            # exit: what its tests did is unknown to plugins.
            for child in self.group_names:
                self._output(child, None)
        self.specs.cleanup()
        self.watchdog.stop()
        if self._subreaper:
            tree.stop_being_subreaper()
            self._subreaper = False


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
        self._own_basetemp: Path | None = None

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
        group: str = "",
        mem_limit: float | None = None,
        cpu_limit: float | None = None,
        wait_for_turn: bool = False,
    ) -> ChildSpec:
        """What *child* needs to run *items* as the parent would have; with
        *wait_for_turn*, each test when the parent says (``ChildHandle.grant``)."""
        config = self.config
        base = self._base_temp() / basetemp
        extra = [f"--basetemp={base}"]
        if config.getoption("capture", None) is not None:
            extra.append("--capture=no")
        if config.pluginmanager.has_plugin("cacheprovider"):
            extra += ["-o", f"cache_dir={child.workdir / CACHE_DIR}"]
        if _compat.log_file_handler(config) is not None and (
            config.getoption("log_file", None) or config.getini("log_file")
        ):
            # The child never opens the session's log file: the parent writes
            # what the child logged there (LogLines).
            extra.append(f"--log-file={child.workdir / LOG_FILE}")
        if config.getoption("debug", None):
            extra.append(f"--debug={child.workdir / 'pytestdebug.log'}")
        for more in config.hook.pytest_isolated_child_args(config=config):
            extra += more
        margin = 0.0 if timeout is None else min(1.0, max(0.05, timeout / 10))
        env = {
            **child_environment(None if self.start is None else self.start.env),
            tree.COOKIE: child.cookie,
        }
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
            group=group,
            wait_for_turn=wait_for_turn,
            events_path=str(child.events_path)
            if isinstance(child, ForkedHandle)
            else None,
            **_terminal_and_junit(config),
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


def child_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a child runs its tests with: *env*, else the parent's
    now."""
    return dict(os.environ if env is None else env, PYTEST_RUNNING_IN_SUBPROCESS="1")


def _startup_environment(env: dict[str, str]) -> dict[str, str]:
    """The variables the interpreter reads when it starts (PYTHONPATH, ...):
    a pre-started interpreter can stand in only if they are unchanged."""
    return {k: v for k, v in env.items() if k.startswith("PYTHON")}
