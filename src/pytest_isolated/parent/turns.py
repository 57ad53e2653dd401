"""Parent side: one test at a time, in the run order.

Unless groups may run ahead (``--isolated-parallel``), a child runs each test
of its group only when the parent says the test's turn has come: so no test
runs beside another, and ``-x`` stops before the group's later tests.  The
parent lets it run the test whose turn it is and, if the group's next test
comes right after, that one too (the child goes on while the parent
reports).  While the child waits, its group's time limit stands still
(:meth:`~pytest_isolated.parent.handle.ChildHandle.waits`).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pytest_isolated.parent.handle import ChildHandle


class Turns:
    """The turns of one child's tests: how many it may run so far."""

    def __init__(self, child: ChildHandle, items: Sequence[pytest.Item]) -> None:
        self.child = child
        #: The tests the child waits for each one's turn to run, in its order.
        self.order = {item: n for n, item in enumerate(items)}
        #: How many of them it may run.
        self.granted = 0
        #: The positions of the tests it did not collect (it skips them).
        self.missing: set[int] = set()

    def let_run(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        """Let the child run *item*, and *nextitem* if it comes next."""
        if item not in self.order:
            return
        count = self.order[item] + 1
        if nextitem is not None and self.order.get(nextitem) == count:
            count += 1
        count = self.skip_missing(count)
        if count > self.granted:
            self.granted = count
            self.child.grant(count)

    def skip(self, item: pytest.Item) -> None:
        """The child did not collect *item*: it skips its turn."""
        if item in self.order:
            self.missing.add(self.order[item])

    def ran(self, item: pytest.Item) -> None:
        """The child is done with *item*: if it was let run nothing more, it
        waits for the next test's turn."""
        if item not in self.order:
            return
        if self.skip_missing(self.order[item] + 1) >= self.granted:
            self.child.waits()

    def skip_missing(self, position: int) -> int:
        """The first position from *position* on that the child runs."""
        while position in self.missing:
            position += 1
        return position
