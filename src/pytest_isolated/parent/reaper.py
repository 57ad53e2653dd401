"""Parent side: children whose work is done, reaped as they exit.

A child whose group has every result in is not waited for: it is handed to
the :class:`Reaper` and closed (its tree ended, its files removed) when its
exit comes through the inbox, off the critical path; at the session's end,
what is still running is given a few seconds, then killed.  What a crashed
child leaves running comes here too (Linux: this process is a subreaper).
"""

from __future__ import annotations

from pytest_isolated.parent.forks import ForkedHandle
from pytest_isolated.parent.handle import ChildHandle
from pytest_isolated.platform import tree


class Reaper:
    """The session's retired children, until each has exited and is closed."""

    def __init__(self) -> None:
        self.retired: list[ChildHandle] = []
        #: How long the children that had a group had it, in total.
        self.child_seconds = 0.0
        #: Whether this process became a subreaper for the session.
        self._subreaper = False

    def adopt_orphans(self) -> None:
        """Become a subreaper (Linux), once: what a crashed child leaves
        comes here, not to init, and is found (``tree.adopted_orphans``)."""
        if not self._subreaper and not tree.is_subreaper():
            self._subreaper = tree.become_subreaper()

    def stop_adopting(self) -> None:
        if self._subreaper:
            tree.stop_being_subreaper()
            self._subreaper = False

    def retire(self, child: ChildHandle) -> None:
        """A child whose results are all in; reaped when it exits."""
        self.child_seconds += child.seconds
        if child.returncode is not None:
            child.close()
        else:
            self.retired.append(child)

    def put_away(self, child: ChildHandle) -> None:
        """A child that had no group (killed, or no longer needed)."""
        self.retired.append(child)

    def holds(self, child: ChildHandle) -> bool:
        return child in self.retired

    def close(self, child: ChildHandle) -> None:
        if child in self.retired:
            self.retired.remove(child)
        child.close()

    def close_exited(self) -> None:
        for child in list(self.retired):
            if not child.alive():
                self.close(child)

    def forks_left(self) -> bool:
        """Whether a fork is still to be reaped (its exit comes through the
        template, which must live until then)."""
        return any(isinstance(child, ForkedHandle) for child in self.retired)

    def kill_all(self) -> None:
        """Kill and close what is left (stuck at exit)."""
        for child in list(self.retired):
            child.kill()
            self.close(child)
