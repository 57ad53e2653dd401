"""Hooks that pytest-isolated calls, for other plugins and conftests to implement.

Registered with ``pluginmanager.add_hookspecs`` when the plugin loads.
Imports nothing of the package at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def pytest_isolated_child_sessionfinish(
    session: pytest.Session, exitstatus: int, output: dict[str, Any]
) -> None:
    """A child's session ends: the place for what a plugin does per child.

    Called in each child that ran tests, in place of ``pytest_sessionfinish``,
    which conftests and other plugins get only in pytest's own process (see
    "What runs once, what per child" in the documentation).  Put in *output*
    what the parent needs of this child's tests: values JSON can carry (str
    keys; tuples come back as tuples; anything else as its ``repr``).  The
    same dict is :func:`pytest_isolated.child_output`.
    """


def pytest_isolated_child_output(
    config: pytest.Config,
    group: str,
    items: list[pytest.Item],
    output: dict[str, Any] | None,
) -> None:
    """A child of *group* ended; *output* is what it handed over; *items* are
    the tests it was given (a plugin can tell whether any used its fixture).

    Called in pytest's own process once per child that ran tests, before this
    session's ``pytest_sessionfinish``: *output* is the child's
    :func:`pytest_isolated.child_output` dict, or ``None`` when the child
    ended before it could send it (crashed, timed out, or was stopped by
    ``-x`` or Ctrl-C).  Under pytest-xdist, in the
    worker that ran the group.  Modelled on pytest-xdist's
    ``pytest_testnodedown`` and ``workeroutput``.
    """
