"""Hooks that pytest-isolated calls, for other plugins and conftests to implement.

Registered with ``pluginmanager.add_hookspecs`` when the plugin loads.
Imports nothing of the package at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_isolated.parent.lost import Cause


@pytest.hookspec(firstresult=True)
def pytest_isolated_crash(
    item: pytest.Item, cause: Cause, report: pytest.TestReport, attempt: int
) -> bool | None:
    """The subprocess running *item* died, timed out or broke the protocol.

    Called in pytest's own process, before *report* (the failed report that
    stands for the lost test, ``report.outcome == "failed"``) is logged.
    *cause* says why (``cause.kind`` is ``"crash"``, ``"timeout"``, ``"exit"``
    or ``"protocol"``; ``cause.summary`` is the one-line text) and *attempt*
    counts the test's lost attempts, from 1.  Return ``True`` to run the test
    again in a fresh subprocess: the report is then logged with the outcome
    ``"rerun"``, as pytest-rerunfailures does.  Modelled on pytest-xdist's
    ``pytest_handlecrashitem``.
    """


def pytest_isolated_child_args(config: pytest.Config) -> list[str]:
    """Command-line arguments every child gets on top of the parent's own.

    Called in pytest's own process for each child; the lists of all
    implementations are joined.  A plugin whose option resolves differently
    in another process (a random seed, a path relative to a changed working
    directory) passes its resolved value here.
    """
    return []
