"""``--isolated-bisect``: find the tests whose leftovers make later tests fail.

During the session this plugin notes the order in which tests ran in each
process (pytest's own, and each shared group subprocess) and which of them
failed.  At the end of the session (``pytest_sessionfinish``, so that the JSON
file is written whatever the verbosity), each failed test (the *victim*) is
probed: a probe is a fresh subprocess that runs some of the tests that ran
before the victim in its process, in their original order, then the victim
(:mod:`pytest_isolated.finding.ddmin` decides which, and what the answers mean).

Probes are run by the plugin's own machinery: a
:class:`~pytest_isolated.parent.pool.Pool` of their own (forked from a template
where that is safe, so that a probe costs milliseconds), and a
:class:`~pytest_isolated.parent.grouprun.GroupRun` each, whose outcomes are
read here and never re-emitted: the terminal, JUnit XML and ``--lf`` see the
session's outcomes only. Every probe starts from the environment, working
directory and ``sys.path`` of the session's start, not from what the tests left
in pytest's process.

Under pytest-xdist each worker bisects the tests that ran on it (the run order
is per worker) and sends its verdicts home in ``workeroutput``; the
controller prints them and writes the JSON file.

``probes`` (which starts the subprocesses) is imported only when there is
something to bisect.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_isolated import options
from pytest_isolated.finding.ddmin import (
    BUDGET_EXHAUSTED,
    POLLUTED,
    OutOfBudget,
    Verdict,
    diagnose,
)
from pytest_isolated.finding.verdicts import describe, summary
from pytest_isolated.parent.grouping import Group, plan_groups
from pytest_isolated.roles import xdist_worker
from pytest_isolated.settings import STARTUP_PROCESS, Settings, request_of

if TYPE_CHECKING:
    from pytest_isolated.finding.probes import Prober

JSON_OPTION = "--isolated-bisect-json"
PLUGIN_NAME = "pytest-isolated-bisect"
XDIST_PLUGIN_NAME = "pytest-isolated-bisect-xdist"
#: The ``workeroutput`` key carrying a worker's verdicts home.
WORKEROUTPUT_KEY = "pytest_isolated_bisect"
JSON_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Options:
    #: The bisect's time limit in seconds (None: none).
    budget: float | None
    #: Where the JSON file goes (None: nowhere).
    json_path: Path | None


def register(config: pytest.Config, settings: Settings) -> None:
    """Register the bisect (``--isolated-bisect``, its JSON file or ini key)."""
    json_arg = options.value(config, "isolated_bisect_json")
    budget = options.lookup(config, "isolated_bisect_budget")
    chosen = Options(
        budget=options.DEFAULT_BISECT_BUDGET if budget is None else budget.value,
        json_path=Path(config.invocation_params.dir, json_arg) if json_arg else None,
    )
    config.pluginmanager.register(Bisector(config, settings, chosen), PLUGIN_NAME)


def unregister(config: pytest.Config) -> None:
    for name in (PLUGIN_NAME, XDIST_PLUGIN_NAME):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin, name)


# -- what ran ---------------------------------------------------------------------


@dataclasses.dataclass
class Ran:
    """One test of the session, in run order."""

    item: pytest.Item
    #: The process it ran in: None for pytest's own, else its group's index.
    lane: int | None
    #: Its group's name (None: pytest's process); a group of one ran alone.
    group: str | None = None
    alone: bool = False
    failed: bool = False


class Bisector:
    """The plugin object, registered in pytest's process (and in each xdist
    worker) when the bisect is on."""

    def __init__(
        self, config: pytest.Config, settings: Settings, options: Options
    ) -> None:
        self.config = config
        self.settings = settings
        self.options = options
        # The probes' starting point: the session's, not what tests left.
        self.env, self.cwd = config.stash.get(
            STARTUP_PROCESS, (dict(os.environ), os.getcwd())
        )
        self.groups: dict[pytest.Item, Group[pytest.Item]] = {}
        self.ran: list[Ran] = []
        self.current: Ran | None = None
        #: Verdicts, as plain data (this process's and the workers').
        self.verdicts: list[dict[str, Any]] = []
        #: Each bisecting process's totals (one, or one per xdist worker).
        self.totals: list[dict[str, Any]] = []
        #: What went wrong (the bisect itself, or writing the JSON file).
        self.errors: list[str] = []
        if config.pluginmanager.has_plugin("xdist") and xdist_worker() is None:
            config.pluginmanager.register(_Controller(self), XDIST_PLUGIN_NAME)

    @property
    def worker(self) -> str | None:
        return xdist_worker()

    # -- recording ---------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.settings.disabled:
            return
        requests = [
            (item, request_of(item, self.settings.isolate_all))
            for item in session.items
        ]
        self.groups = plan_groups(requests, self.settings.timeout)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(
        self, item: pytest.Item
    ) -> Generator[None, object, object]:
        group = self.groups.get(item)
        ran = Ran(item, None)
        if group is not None:
            ran = Ran(item, group.index, group.name, len(group.items) == 1)
        self.ran.append(ran)
        self.current = ran
        try:
            return (yield)
        finally:
            self.current = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        current = self.current
        if (
            current is not None
            and report.failed
            and report.nodeid == current.item.nodeid
        ):
            current.failed = True

    # -- the bisect --------------------------------------------------------------

    # Plain order: registered before the scheduler, this runs after its
    # sessionfinish (which stops what -x left running) and before pytest's
    # own plugins' (tmpdir's keeps the basetemp the probes use until then).
    def pytest_sessionfinish(self, exitstatus: int) -> None:
        if exitstatus != pytest.ExitCode.INTERRUPTED:
            try:
                self._bisect()
            except KeyboardInterrupt:  # the probes are gone; the summary follows
                self.errors.append("the bisect was interrupted")
            except Exception as exc:  # noqa: BLE001 - never the session's outcome
                self.errors.append(f"the bisect stopped: {type(exc).__name__}: {exc}")
        workeroutput = getattr(self.config, "workeroutput", None)
        if workeroutput is not None:  # xdist sends it after every sessionfinish
            workeroutput[WORKEROUTPUT_KEY] = {
                "verdicts": self.verdicts,
                "totals": self.totals,
                "errors": self.errors,
            }
        elif self.options.json_path is not None:
            self._write_json(self.options.json_path)

    def _bisect(self) -> None:
        victims = [
            (index, ran)
            for index, ran in enumerate(self.ran)
            if ran.failed and not ran.alone
        ]
        if not victims:
            return
        from pytest_isolated.finding.probes import (
            Prober,  # starts subprocesses: parent only
        )

        prober = Prober(
            self.config, self.settings, self.env, self.cwd, self.options.budget
        )
        known: dict[tuple[pytest.Item, ...], int] = {}  # culprits -> victims
        try:
            items = {
                ran.item: None
                for index, victim in victims
                for ran in [*self._prefix(index, victim), victim]
            }
            prober.open(list(items))
            for index, victim in victims:
                self._diagnose(prober, victim, self._prefix(index, victim), known)
        finally:
            prober.close()
            self.totals.append(
                {
                    "worker": self.worker,
                    "probes": prober.count,
                    "seconds": round(prober.seconds, 3),
                    "budget": self.options.budget,
                    "budget_exhausted": prober.exhausted,
                    "start": prober.method,
                }
            )

    def _prefix(self, index: int, victim: Ran) -> list[Ran]:
        """The tests that ran before *victim*, in its process."""
        return [ran for ran in self.ran[:index] if ran.lane == victim.lane]

    def _diagnose(
        self,
        prober: Prober,
        victim: Ran,
        prefix: list[Ran],
        known: dict[tuple[pytest.Item, ...], int],
    ) -> None:
        item = victim.item
        group = self.groups.get(item)
        timeout = self.settings.timeout if group is None else group.timeout
        count, seconds = prober.count, prober.seconds

        def probe(tests: list[pytest.Item]) -> bool:
            return prober.probe(tests, item, timeout)

        # Most victims explained first; among equals, the latest to explain one.
        ranked = sorted(reversed(list(known)), key=lambda c: known[c], reverse=True)
        verdict: Verdict[pytest.Item]
        if prober.exhausted:
            verdict = Verdict(BUDGET_EXHAUSTED)
        else:
            try:
                verdict = diagnose([r.item for r in prefix], probe, ranked)
            except OutOfBudget:
                verdict = Verdict(BUDGET_EXHAUSTED)
        if verdict.kind == POLLUTED:
            known[verdict.culprits] = known.pop(verdict.culprits, 0) + 1
        record: dict[str, Any] = {
            "nodeid": item.nodeid,
            "verdict": verdict.kind,
            "culprits": [c.nodeid for c in verdict.culprits],
            "ran_before": len(prefix),
            "group": victim.group,
            "worker": self.worker,
            "probes": prober.count - count,
            "seconds": round(prober.seconds - seconds, 3),
        }
        record["message"] = describe(record)
        self.verdicts.append(record)

    # -- reporting ---------------------------------------------------------------

    def _write_json(self, path: Path) -> None:
        data = {
            "version": JSON_VERSION,
            "verdicts": self.verdicts,
            "runs": self.totals,
        }
        try:
            path.write_text(json.dumps(data, indent=2) + "\n", "utf-8")
        except OSError as exc:
            self.errors.append(f"{JSON_OPTION}: could not write {path}: {exc}")

    def pytest_terminal_summary(
        self, terminalreporter: pytest.TerminalReporter
    ) -> None:
        if self.errors or self.verdicts:
            budget = self.totals[0]["budget"] if self.totals else self.options.budget
            summary(terminalreporter, self.verdicts, self.totals, self.errors, budget)


class _Controller:
    """In pytest-xdist's controller: the workers' verdicts come home."""

    def __init__(self, bisector: Bisector) -> None:
        self.bisector = bisector

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        output: dict[str, Any] = getattr(node, "workeroutput", None) or {}
        sent = output.get(WORKEROUTPUT_KEY)
        if sent:
            self.bisector.verdicts.extend(sent["verdicts"])
            self.bisector.totals.extend(sent["totals"])
            self.bisector.errors.extend(sent["errors"])
