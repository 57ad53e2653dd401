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

from pytest_isolated.adapters.plugindata import used_by, warn

KEY = "syrupy"


class ChildSnapshots:
    def pytest_isolated_child_sessionfinish(
        self, session: pytest.Session, output: dict[str, Any]
    ) -> None:
        data = syrupy_child_report(session.config)
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
            selected = syrupy_selected(config)
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
                syrupy_republish(config)
        elif not os.environ.get("PYTEST_XDIST_WORKER"):
            from syrupy.utils import cleanup_snapshot_write_sidecars

            # The lock files the children left, as a controller removes its
            # workers'.
            cleanup_snapshot_write_sidecars(*self.sidecars)


# -- the plugin's private API, used here only -------------------------------------


def syrupy_child_report(config: pytest.Config) -> dict[str, Any] | None:
    """Finish a child's syrupy session as a pytest-xdist worker's: write its
    snapshots, delete nothing, and return the report a worker publishes.

    syrupy decides by ``PYTEST_XDIST_WORKER`` and publishes on
    ``config.workeroutput``: both are set while its ``finish()`` runs, the
    only way to have it act as the worker that a child is.
    """
    snapshots: Any = getattr(config, "_syrupy", None)
    if snapshots is None:
        return None
    if not hasattr(snapshots, "_publish_worker_report"):  # syrupy < 7: no report
        flush = getattr(snapshots, "flush_snapshot_write_queue", None)
        if flush is not None:
            flush()
        return {"unmerged": True}
    from syrupy.utils import decompress_json

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    os.environ["PYTEST_XDIST_WORKER"] = worker or "pytest-isolated"
    had_output = hasattr(config, "workeroutput")
    saved = getattr(config, "workeroutput", None)
    output: dict[str, Any] = {}
    config.workeroutput = output  # type: ignore[attr-defined]
    try:
        snapshots.finish()
    finally:
        if worker is None:
            del os.environ["PYTEST_XDIST_WORKER"]
        if had_output:
            config.workeroutput = saved  # type: ignore[attr-defined]
        else:
            del config.workeroutput  # type: ignore[attr-defined]
    report = output.get("syrupy_report")
    if report is None:
        return {"sidecars": output.get("syrupy_write_sidecars", [])}
    for key in ("collections", "collected"):  # zlib bytes JSON cannot carry
        if isinstance(report.get(key), bytes):
            report[key] = decompress_json(report[key])
    return {"report": report, "sidecars": output.get("syrupy_write_sidecars", [])}


def syrupy_selected(config: pytest.Config) -> dict[str, Any]:
    """What became of each test syrupy saw selected in this process (its
    merge of workers' reports takes the tests' states from the reports)."""
    snapshots: Any = getattr(config, "_syrupy", None)
    selected = getattr(snapshots, "_selected_items", {})
    return {nodeid: status.value for nodeid, status in selected.items()}


def syrupy_republish(config: pytest.Config) -> None:
    """In a pytest-xdist worker: fold the children's reports into the one
    syrupy published for the controller (a worker does not merge)."""
    snapshots: Any = getattr(config, "_syrupy", None)
    if snapshots is None or snapshots.report is None:
        return
    snapshots._merge_worker_reports()
    snapshots._publish_worker_report()
