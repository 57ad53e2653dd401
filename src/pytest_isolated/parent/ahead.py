"""Parent side: the groups whose child starts before their first test's turn.

Under ``--isolated-parallel=N``, later groups start, in run order, while
slots are free, and run straight through.  One group at a time (the
default), the child of the group whose first test comes next is forked while
the test before it runs: it sets itself up, then waits for its turn, so that
a fork's set-up is off the critical path.  Only a fork starts ahead: it runs
nothing of the user's before its turn, where a spawned child would import the
group's test modules.  A fork made ahead whose environment or working
directory no longer is pytest's when its turn comes is discarded, and the
group gets a fork of that moment.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_isolated.parent.grouping import Group
from pytest_isolated.parent.grouprun import GroupRun
from pytest_isolated.roles import xdist_worker
from pytest_isolated.settings import start_method

if TYPE_CHECKING:
    from pytest_isolated.parent.session import IsolationScheduler


class Ahead:
    """Starts the session's groups ahead of their turn, where that is safe."""

    def __init__(self, session: IsolationScheduler) -> None:
        self.session = session
        #: The groups forked ahead, and the environment and working directory
        #: their spec gave them.
        self.prepared: dict[int, tuple[dict[Any, Any], str]] = {}
        #: The runs whose child was forked ahead, until it began a test.
        self.forked: dict[int, GroupRun] = {}
        #: Forks made ahead that ran nothing (discarded, or the session
        #: ended first), and the groups among them that never ran.
        self.unused = 0
        self.never_ran: set[int] = set()
        # In a pytest-xdist worker the run order is not the collection order:
        # it is the order of the tests the controller has handed the worker.
        self.in_worker = xdist_worker() is not None

    def fill(self) -> None:
        """Under --isolated-parallel: start later groups, in run order, while
        slots are free; an exclusive group starts alone and runs alone."""
        session = self.session
        if not session.lookahead:
            return
        for group in _upcoming(
            session.config, session.order, session.groups, self.in_worker
        ):
            active = [r for r in session.runs.values() if r.child is not None]
            if len(active) >= session.settings.parallel or any(
                r.group.exclusive for r in active
            ):
                return
            run = session.runs.get(group.index)
            if run is None and group.index not in session.started:
                if (group.exclusive and active) or not session.may_start(group):
                    return  # it waits for those; the groups after it wait for it
                run = session.runs[group.index] = GroupRun(session.config, group)
                session.launch(run)
            elif run is not None and run.needs_child and session.may_start(group):
                session.launch(run)  # the rest of a crashed group

    def fork_next(
        self, current: Group[pytest.Item], nextitem: pytest.Item | None
    ) -> None:
        """One group at a time: while *current*'s test runs, fork the child
        of the group whose first test is *nextitem*; it waits for its turn,
        and its time limit stands still meanwhile."""
        session = self.session
        group = None if nextitem is None else session.groups.get(nextitem)
        if (
            session.lookahead
            or group is None
            or group.index == current.index
            or group.index in session.started
            or group.exclusive
            or not self._forks_now(group)
            or not session.may_start(group)
        ):
            return
        run = session.runs[group.index] = GroupRun(session.config, group)
        self.prepared[group.index] = session.pool.specs.start_state()
        self.forked[group.index] = run
        session.launch(run)
        if run.child is not None:
            run.child.waits()

    def still_fits(self, run: GroupRun) -> bool:
        """Whether *run*'s child, if forked ahead, started with the environment
        and working directory a child started now would get."""
        prepared = self.prepared.pop(run.group.index, None)
        if prepared is None or prepared == self.session.pool.specs.start_state():
            return True
        self.unused += 1
        return False

    def lost_unused(self, run: GroupRun) -> bool:
        """*run*'s child died: if it was forked ahead and began no test (the
        test before killed the template, say), it ran nothing of its group's
        and is not the group's incident: the group starts anew, as if none
        had been forked ahead (True; *run* is dropped)."""
        index = run.group.index
        began = run.now.running_item is not None or run.now.phase is not None
        if self.forked.pop(index, None) is not run or began:
            return False
        self.prepared.pop(index, None)  # its turn may have come
        self.unused += 1
        self.session.driver.stop(run)
        self.session.runs.pop(index, None)
        return True

    def end(self) -> None:
        """The session ends: the forks still waiting for their turn ran
        nothing, and are not counted as the session's (``--isolated-usage``)."""
        self.unused += len(self.prepared)
        self.never_ran.update(self.prepared)
        self.prepared.clear()
        self.forked.clear()

    def _forks_now(self, group: Group[pytest.Item]) -> bool:
        """Whether *group*'s child would be a fork of the template, now,
        without waiting for the template."""
        pool = self.session.pool
        template = pool.template
        return (
            template is not None
            and start_method(pool.settings.start, group.forked) == "fork"
            and template.settled
            and template.can_run([item.nodeid for item in group.items])
        )


def _upcoming(
    config: pytest.Config,
    order: list[Group[pytest.Item]],
    groups: dict[pytest.Item, Group[pytest.Item]],
    in_worker: bool,
) -> list[Group[pytest.Item]]:
    """The groups in the order their first tests will run: the session's
    order, or in a pytest-xdist worker the order of the tests it was handed
    and has yet to run (none when that is unknown)."""
    if not in_worker:
        return order
    from pytest_isolated.adapters.xdist import xdist_queued_items  # a worker

    items = xdist_queued_items(config)
    if items is None:
        return []
    upcoming: dict[int, Group[pytest.Item]] = {}
    for item in items:
        group = groups.get(item)
        if group is not None:
            upcoming.setdefault(group.index, group)
    return list(upcoming.values())
