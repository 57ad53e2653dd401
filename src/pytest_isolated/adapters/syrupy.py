"""syrupy: one snapshot session, wherever its tests ran.

In a child, syrupy's session ends as in a pytest-xdist worker: it writes the
snapshots its tests created or updated and deletes nothing; its report (which
snapshots were used, created, updated, failed) goes to the parent.  There
syrupy merges the children's reports as a pytest-xdist controller merges its
workers', before it reports, and deletes unused snapshots (``--snapshot-update``)
knowing every test's.  If a child died before it sent its report, what it
used is unknown: nothing is reported or deleted as unused, and a warning says
so.

Both sides; syrupy's private parts are used through ``_compat``.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

from pytest_isolated import _compat
from pytest_isolated.adapters.plugindata import used_by, warn

KEY = "syrupy"


class ChildSnapshots:
    def pytest_isolated_child_sessionfinish(
        self, session: pytest.Session, output: dict[str, Any]
    ) -> None:
        data = _compat.syrupy_child_report(session.config)
        if data is not None:
            output[KEY] = data


class ParentSnapshots:
    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []
        self.sidecars: list[str] = []
        self.lost: list[str] = []
        #: A child's syrupy (before 7.0) has no report to hand over.
        self.unmerged = False

    def pytest_isolated_child_output(
        self, group: str, items: list[pytest.Item], output: dict[str, Any] | None
    ) -> None:
        if output is None:
            if used_by(items, "snapshot"):
                self.lost.append(group)
            return
        data = output.get(KEY)
        if not data:
            return
        if data.get("unmerged"):
            self.unmerged = True
        if data.get("report") is not None:
            self.reports.append(data["report"])
        self.sidecars.extend(data.get("sidecars", []))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None]:
        """Before syrupy's own: hand it the children's reports."""
        config = session.config
        snapshots: Any = getattr(config, "_syrupy", None)
        if snapshots is not None:
            if self.lost:
                names = ", ".join(repr(name) for name in dict.fromkeys(self.lost))
                warn(
                    config,
                    f"syrupy: the subprocess of group {names} ended before it "
                    "reported its snapshots (it crashed, timed out or was "
                    "stopped); none is reported or deleted as unused in this "
                    "session",
                )
                config.option.disable_unused_snapshots = True
            if self.unmerged:
                warn(
                    config,
                    "syrupy before 7.0 cannot take the snapshots a subprocess "
                    "used; none is reported or deleted as unused in this session",
                )
                config.option.disable_unused_snapshots = True
                self.reports.clear()
            # The states of the tests are this process's: it saw every report.
            selected = _compat.syrupy_selected(config)
            for report in self.reports:
                report["selected"] = selected
                snapshots.add_worker_report(report)
            snapshots.add_written_snapshot_locations(self.sidecars)
        return (yield)

    @pytest.hookimpl(trylast=True, specname="pytest_sessionfinish")
    def pytest_sessionfinish_late(self, session: pytest.Session) -> None:
        """After syrupy's own (and before pytest-xdist sends a worker's
        output): what a controller does with its workers' reports."""
        config = session.config
        if hasattr(config, "workeroutput"):
            if self.reports and getattr(config, "_syrupy", None) is not None:
                # A worker publishes its own report only: the children's too.
                _compat.syrupy_republish(config)
        elif not os.environ.get("PYTEST_XDIST_WORKER"):
            from syrupy.utils import cleanup_snapshot_write_sidecars

            # The lock files the children left, as a controller removes its
            # workers'.
            cleanup_snapshot_write_sidecars(*self.sidecars)
