"""The probes of ``--isolated-bisect``: fresh subprocesses that run some
tests, then a failed one, and tell whether it failed again.

Each probe is a :class:`~pytest_isolated.parent.grouprun.GroupRun` of a group made
for it, run as the session runs its groups
(:class:`~pytest_isolated.parent.driver.Driver`), in a
:class:`~pytest_isolated.parent.pool.Pool` of the bisect's own: forked
from a template that collected every test a probe may run (where forking is
safe), else pre-started.  Outcomes are read here and never re-emitted.
Every child starts from the environment and working directory the session
started with, and, as any child, from the session's start-up ``sys.path``.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time

import pytest

from pytest_isolated.finding.ddmin import OutOfBudget
from pytest_isolated.parent.driver import Driver
from pytest_isolated.parent.events import Event
from pytest_isolated.parent.forks import TEMPLATE_LIMIT
from pytest_isolated.parent.grouping import Group
from pytest_isolated.parent.grouprun import GroupRun
from pytest_isolated.parent.pool import Pool
from pytest_isolated.parent.specs import Start
from pytest_isolated.protocol import EV_LOGSTART
from pytest_isolated.settings import Limit, Settings


class Prober:
    """Runs probes: each a fresh subprocess running some tests, then the victim."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        env: dict[str, str],
        cwd: str,
        budget: float | None,
    ) -> None:
        self.config = config
        self.method = fastest_method(settings.start)
        self.settings = dataclasses.replace(settings, start=self.method)
        self.start = Start(env, cwd)
        self.began = time.monotonic()
        self.deadline = None if budget is None else self.began + budget
        self.pool: Pool | None = None
        self.driver: Driver | None = None
        self.count = 0
        self.seconds = 0.0
        self.exhausted = False

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return self.deadline - time.monotonic()

    def open(self, items: list[pytest.Item]) -> None:
        """The pool, and with the fork method its template, which collects
        every test a probe may run."""
        self.pool = Pool(
            self.config, self.settings, start=self.start, capture=True, outputs=False
        )
        self.driver = Driver(self.pool)
        remaining = self.remaining()
        limit = TEMPLATE_LIMIT if remaining is None else min(remaining, TEMPLATE_LIMIT)
        everything = Group(0, "bisect", items, Limit(limit, "the bisect"))
        self.pool.start_template([everything])

    def probe(
        self, tests: list[pytest.Item], victim: pytest.Item, timeout: Limit
    ) -> bool:
        """Whether *victim* fails after *tests*, in one fresh subprocess."""
        assert self.driver is not None
        remaining = self.remaining()
        if remaining is not None and remaining <= 0:
            self.exhausted = True
            raise OutOfBudget
        limit = timeout.value
        by_budget = remaining is not None and (limit is None or remaining < limit)
        if by_budget:
            limit = remaining
        self.count += 1
        began = time.monotonic()
        group = Group(
            self.count, victim.nodeid, [*tests, victim], Limit(limit, "the bisect")
        )
        run = GroupRun(self.config, group, basetemp_prefix="isolated-bisect-")
        self.driver.launch(run, prestart_next=True)
        reached = False  # the victim started in the probe's subprocess
        try:
            while victim not in run.done and run.child is not None:
                delivered = self.driver.deliver()
                if delivered is None or delivered.run is not run:
                    continue
                event = delivered.message
                if isinstance(event, Event) and event.name == EV_LOGSTART:
                    reached = reached or event.fields["nodeid"] == victim.nodeid
        finally:
            self.driver.stop(run)
            self.seconds += time.monotonic() - began
        child = run.now.child
        outcome = run.done.get(victim)
        if by_budget and child.timed_out:
            self.exhausted = True
            raise OutOfBudget
        if outcome is None or not reached or run.exit_request is not None:
            # An earlier test crashed the subprocess or ended its session
            # (pytest.exit()), or the victim could not be collected: it did
            # not run after the earlier tests.
            return False
        return any(report.failed for report in outcome.reports)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
            self.pool = self.driver = None


def fastest_method(asked: str) -> str:
    """The start method for probes: the one asked for, or under ``auto`` the
    fork server where it is safe (not on macOS: see how-it-works)."""
    if asked != "auto":
        return asked
    if hasattr(os, "fork") and sys.platform != "darwin":
        return "fork"
    return "prestart"
