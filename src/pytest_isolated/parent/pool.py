"""Parent side: the children, however they start, and every message they send.

The pool makes a child for each group by the group's start method: a fork of
the template (:mod:`pytest_isolated.parent.forks`), the pre-started
interpreter, or a freshly spawned one (:mod:`pytest_isolated.parent.spawned`).  It
writes each child's spec, owns the one inbox all children report to, handles
the template's own messages, and reaps children once their group is done.
When the template cannot serve a group, the group is spawned and the reason
is shown once per session.
"""

from __future__ import annotations

import collections
import contextlib
import queue
import sys
import time
from typing import Any

import pytest

from pytest_isolated import warning_types
from pytest_isolated.parent.early import EarlyTemplate
from pytest_isolated.parent.early import take as take_early_template
from pytest_isolated.parent.events import Exited, Inbox, Message
from pytest_isolated.parent.forks import ForkedHandle, ForkTemplate, template_limit
from pytest_isolated.parent.grouping import Group
from pytest_isolated.parent.handle import ChildHandle
from pytest_isolated.parent.handover import Handover
from pytest_isolated.parent.reaper import Reaper
from pytest_isolated.parent.spawned import SpawnedHandle
from pytest_isolated.parent.specs import (
    Specs,
    Start,
    startup_environment,
)
from pytest_isolated.parent.watchdog import Watchdog
from pytest_isolated.protocol import ChildSpec
from pytest_isolated.settings import Settings, start_method


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
        self.tell_once = OnceWarnings(config)
        self.handover = Handover(config, outputs, self.tell_once)
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
        self.inbox: Inbox = queue.Queue()
        self.watchdog = Watchdog()
        self.prestarted: SpawnedHandle | None = None
        self.template: ForkTemplate | None = None
        self.reaper = Reaper()
        self.children_started = 0
        #: Messages of running groups that came while the pool waited for
        #: the template: handed out first, in their order.
        self._held: collections.deque[tuple[ChildHandle, Message]] = collections.deque()

    def start_template_early(self) -> None:
        """Start the fork template before the collection: every test will be
        forked, and the template collects what the command line names
        while this process collects the same (if it started as pytest
        loaded its conftests, it is taken over).  Its collection's deadline
        is the session's time limit (a marker's is not known yet)."""
        self.specs.collection_starts()
        limits = [self.settings.timeout.value]
        early = take_early_template(self.config)
        if early is None or not _take_over(self, early, limits):
            self._start_template([], limits, whole=True)

    def start_template(self, groups: list[Group[pytest.Item]]) -> None:
        """Start the fork template now: it collects while the session runs
        (unless it started before the collection)."""
        if self.template is not None:
            return
        asked = self.settings.start
        forked = [g for g in groups if start_method(asked, g.forked) == "fork"]
        if not forked or self.config.option.collectonly:
            return
        items = [item for group in forked for item in group.items]
        self._start_template(items, [g.timeout.value for g in forked])

    def _start_template(
        self, items: list[pytest.Item], limits: list[float | None], whole: bool = False
    ) -> None:
        child = self._spawn()
        spec = self.specs.make(child, items, **_template(limits, whole))
        self.template = ForkTemplate(child, spec)

    def prepare(
        self,
        group: Group[pytest.Item],
        pending: list[pytest.Item],
        basetemp: str,
        *,
        wait_for_turn: bool = False,
    ) -> tuple[ChildHandle, ChildSpec]:
        """A child for the rest of *group* (forked, pre-started or spawned),
        and the spec that starts it on *pending* (with *wait_for_turn*, each
        test when the parent says)."""
        method = start_method(self.settings.start, group.forked)
        child: ChildHandle | None = None
        if method == "fork":
            child = self._forked([item.nodeid for item in pending])
        if child is None:
            child = self._take_prestarted() or self._spawn()
        self.handover.groups[child] = (group.name, list(pending))
        spec = self.specs.for_group(child, group, pending, basetemp, wait_for_turn)
        return child, spec

    def prestart_for(self, group: Group[pytest.Item]) -> None:
        """After *group*'s child has its spec: start the interpreter of the
        next group ahead, if groups are pre-started."""
        method = start_method(self.settings.start, group.forked)
        if method == "prestart" and self.prestarted is None:
            self.prestarted = self._spawn()

    def no_more_groups(self) -> None:
        """Every group has started: a pre-started interpreter would wait in vain."""
        if self.prestarted is not None:
            self.prestarted.kill()
            self.reaper.put_away(self.prestarted)
            self.prestarted = None

    def _forked(self, nodeids: list[str]) -> ForkedHandle | None:
        """A fork of the template, once it has said whether it can make one."""
        template = self.template
        reason = "the fork template was not started"
        if template is not None:
            while not template.settled:
                child, message = _wait(self.inbox)
                if not self._dispatch(child, message):
                    # A running group's: its run takes it later, in order.
                    self._held.append((child, message))
            if template.can_run(nodeids):
                self.children_started += 1
                env = self.specs.environment()
                return ForkedHandle(self.inbox, self.watchdog, template, env)
            reason = template.refusal or "the template did not collect the group"
        self.tell_once(f"pytest-isolated: {reason}; {FALLBACK}")
        return None

    def _spawn(self) -> SpawnedHandle:
        self.reaper.adopt_orphans()
        self.children_started += 1
        return SpawnedHandle(
            self.inbox,
            self.watchdog,
            self.capture,
            self.specs.environment(),
            self.specs.path0,
            tee=self.tee,
            preload=self.specs.preload,
        )

    def _take_prestarted(self) -> SpawnedHandle | None:
        """The pre-started interpreter, if it can pass for a fresh one."""
        child, self.prestarted = self.prestarted, None
        if child is None:
            return None
        if child.alive() and startup_environment(child.env) == startup_environment(
            self.specs.environment()
        ):
            return child
        child.kill()
        self.reaper.put_away(child)
        return None

    def next_message(self) -> tuple[ChildHandle, Message] | None:
        """The next message for a group's child (None: one the pool took)."""
        if self._held:
            return self._held.popleft()
        child, message = _wait(self.inbox)
        if self._dispatch(child, message):
            return None
        return child, message

    def _dispatch(self, child: ChildHandle, message: Message) -> bool:
        """Handle the template's messages, children's output and retired
        children's exits."""
        if self.handover.take(child, message):
            return True
        if self.template is not None and child is self.template.child:
            self.template.handle(message)
            return True
        if self.reaper.holds(child) or child is self.prestarted:
            if isinstance(message, Exited):
                self.close(child)
            return True
        return False

    def retire(self, child: ChildHandle) -> None:
        """A child whose results are all in; reaped when it exits, off the
        critical path."""
        self.reaper.retire(child)

    def close(self, child: ChildHandle) -> None:
        if child is self.prestarted:
            self.prestarted = None
        self.reaper.close(child)

    def shutdown(self) -> None:
        """Reap every child: forks first (their exits come through the
        template), then the template, which ends when its stdin closes."""
        self.no_more_groups()
        _reap_for(self, seconds=10.0)
        if self.template is not None:
            self.reaper.put_away(self.template.child)
            self.template = None
        self.reaper.kill_all()  # stuck at exit
        # A closed child's last events (its output) may still wait here.
        with contextlib.suppress(queue.Empty):
            while True:
                self._dispatch(*self.inbox.get_nowait())
        self.handover.lost_all()
        self.specs.cleanup()
        self.watchdog.stop()
        self.reaper.stop_adopting()


def _take_over(pool: Pool, early: EarlyTemplate, limits: list[float | None]) -> bool:
    """Make the template started early *pool*'s; True if it can serve the
    session, else it is ended (told other than the session would tell it)."""
    # Nothing was started yet: its inbox and watchdog become the pool's.
    pool.inbox, pool.watchdog = early.inbox, early.watchdog
    pool.reaper.adopt_orphans()
    pool.children_started += 1
    if early.matches(pool.specs.make(early.child, [], **_template(limits, True))):
        pool.template = early.template
        return True
    early.child.kill()
    pool.reaper.put_away(early.child)
    return False


def _template(limits: list[float | None], whole: bool) -> dict[str, Any]:
    """The template's part of its spec (:meth:`Specs.make`)."""
    timeout = template_limit(limits)
    return {
        "basetemp": "isolated-template",
        "timeout": timeout,
        "template": True,
        "whole": whole,
    }


def _reap_for(pool: Pool, seconds: float) -> None:
    """Reap *pool*'s retired children as they exit, for at most *seconds*;
    the template is closed once its forks are gone."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        template = pool.template
        if template is not None and not pool.reaper.forks_left():
            if not template.ready:  # started early, no test to fork
                template.child.kill()
            template.close()
            pool.reaper.put_away(template.child)
            pool.template = None
        if not pool.reaper.retired:
            break
        pool.reaper.close_exited()
        with contextlib.suppress(queue.Empty):
            pool._dispatch(*pool.inbox.get(timeout=0.05))


def _wait(inbox: Inbox) -> tuple[ChildHandle, Message]:
    """The next message: a bounded wait, so that Ctrl-C is seen on every
    platform; a message is handled as soon as it arrives."""
    while True:
        try:
            return inbox.get(timeout=1.0)
        except queue.Empty:
            continue


#: What follows a reason the fork template cannot serve a group (said once
#: per session, as each reason comes).
FALLBACK = "isolated tests that would be forked start as spawned subprocesses instead"


class OnceWarnings:
    """Our warnings in the session's summary, each once per session."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.told: set[str] = set()

    def __call__(self, text: str) -> None:
        if text not in self.told:
            self.told.add(text)
            warn(self.config, text)


def warn(config: pytest.Config, text: str) -> None:
    """Record a :class:`PytestIsolatedWarning` for the session's summary."""
    warning_types.record(config, PytestIsolatedWarning(text), __file__)
