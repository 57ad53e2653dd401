"""Parent side: one path from a group to its outcomes.

A :class:`Driver` starts a group's child (the pool picks it and writes its
spec, the group's run attaches it) and passes each message of the session's
children to the run it is for; a run that is done with its child gives it
back, to be reaped.  The session's scheduler and the bisect's probes both run
their groups through it.
"""

from __future__ import annotations

import dataclasses

from pytest_isolated.parent.events import Message
from pytest_isolated.parent.grouprun import GroupRun, Step
from pytest_isolated.parent.handle import ChildHandle
from pytest_isolated.parent.pool import Pool


@dataclasses.dataclass(frozen=True)
class Delivery:
    """A message, the run it went to, and what handling it led to."""

    run: GroupRun
    message: Message
    step: Step


class Driver:
    """Starts groups' children and drives their events to outcomes."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        #: The run each running child works for.
        self.owner: dict[ChildHandle, GroupRun] = {}

    def launch(
        self, run: GroupRun, *, prestart_next: bool, wait_for_turn: bool = False
    ) -> None:
        """Start a child on *run*'s pending tests (with *wait_for_turn*, each
        when the parent says); with *prestart_next*, the next interpreter is
        started ahead (prestart)."""
        child, spec = self.pool.prepare(
            run.group, run.pending, run.basetemp, wait_for_turn=wait_for_turn
        )
        self.owner[child] = run
        run.attach(child, spec)
        if prestart_next:  # after the spec went out: this group comes first
            self.pool.prestart_for(run.group)

    def deliver(self) -> Delivery | None:
        """Wait for the next message and pass it to its run (None: it was
        for no run: the pool's own, or a released child's)."""
        received = self.pool.next_message()
        if received is None:
            return None
        child, message = received
        run = self.owner.get(child)
        if run is None:
            return None
        step = run.handle(message)
        if step.incident is not None:  # it died before its session ended
            self.pool.handover.lost(child)
        self.release(step.release)
        return Delivery(run, message, step)

    def release(self, child: ChildHandle | None) -> None:
        """*child* is done with its run: reaped when it exits."""
        if child is not None:
            self.owner.pop(child, None)
            self.pool.retire(child)

    def stop(self, run: GroupRun) -> None:
        """Kill *run*'s child, if it has one (the run ends early)."""
        self.release(run.stop())
