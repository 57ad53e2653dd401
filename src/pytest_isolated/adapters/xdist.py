"""pytest-xdist support: a group's tests land on one worker, in one subprocess.

Each xdist worker is an ordinary pytest session as far as isolation goes: it
plans the groups of everything it collected and starts the subprocesses of the
tests it is given.  What xdist does not know is that the tests of a group must
all be given to the *same* worker, or each worker that gets one of them starts
the whole group again.  The controller, which schedules, collects nothing, so:

* the controller names a file for each worker (``workerinput``);
* each worker, once it has collected and before it reports its collection,
  writes there the groups that hold more than one test;
* when every worker has collected, the controller's scheduler reads one of
  the files.  Without such groups it is the scheduler the ``--dist`` mode
  chose, unchanged.  With them, scheduling becomes scope-based (xdist's own
  ``LoadScopeScheduling``): the work units of the chosen mode (a test for
  ``load`` and ``worksteal``, a module or class for ``loadscope``, a file for
  ``loadfile``, an ``xdist_group`` for ``loadgroup``) are merged wherever one
  isolation group spans several of them, and a merged unit goes to one worker.

Loaded only when pytest-xdist is: this module imports it.

Imports ``_compat``, ``crash``, ``grouprun`` and ``settings``.
"""

from __future__ import annotations

import collections.abc
import contextlib
import functools
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import (  # type: ignore[import-untyped]
    LoadFileScheduling,
    LoadGroupScheduling,
    LoadScheduling,
    LoadScopeScheduling,
    Scheduling,
    WorkStealingScheduling,
)
from xdist.workermanage import WorkerController  # type: ignore[import-untyped]

from pytest_isolated.parent.grouprun import Incident
from pytest_isolated.parent.lost import Cause
from pytest_isolated.parent.usage import UsageLedger
from pytest_isolated.platform.resources import Usage
from pytest_isolated.roles import xdist_worker
from pytest_isolated.settings import Settings, request_of

PLUGIN_NAME = "pytest-isolated-xdist"

#: The ``workerinput`` key naming the file a worker writes its groups to.
GROUPS_FILE_KEY = "pytest_isolated_groups"
#: The ``workeroutput`` key carrying a worker's crashes and timeouts home.
INCIDENTS_KEY = "pytest_isolated_incidents"
#: The ``workeroutput`` key carrying what a worker's groups used (``-v`` table).
USAGE_KEY = "pytest_isolated_usage"

#: xdist's own schedulers for the modes that split the suite between workers.
#: ``each`` runs everything everywhere and needs nothing; a scheduler another
#: plugin supplies is left alone.
_SPLITTING = (
    LoadScheduling,
    LoadScopeScheduling,
    LoadFileScheduling,
    LoadGroupScheduling,
    WorkStealingScheduling,
)


def register(
    config: pytest.Config,
    settings: Settings,
    incidents: list[Incident],
    ledger: UsageLedger,
) -> None:
    """Register the controller's or the worker's side, whichever this is."""
    if xdist_worker() is not None:
        workerinput: dict[str, Any] = getattr(config, "workerinput", {})
        path = workerinput.get(GROUPS_FILE_KEY)
        plugin: object = WorkerSide(config, settings, path, incidents, ledger)
    elif config.getoption("dist", "no") != "no":
        plugin = ControllerSide(incidents, ledger)
    else:
        return
    config.pluginmanager.register(plugin, PLUGIN_NAME)


def unregister(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if plugin is not None:
        config.pluginmanager.unregister(plugin, PLUGIN_NAME)
        if isinstance(plugin, ControllerSide):
            plugin.cleanup()


# -- worker side ---------------------------------------------------------------


class WorkerSide:
    """In a worker: tell the controller the groups; send incidents and the
    groups' usage home."""

    def __init__(
        self,
        config: pytest.Config,
        settings: Settings,
        path: str | None,
        incidents: list[Incident],
        ledger: UsageLedger,
    ) -> None:
        self.config = config
        self.settings = settings
        self.path = Path(path) if path else None
        self.incidents = incidents
        self.ledger = ledger

    # tryfirst: xdist's worker reports its collection to the controller in its
    # own pytest_collection_finish; the file must be complete before that.
    @pytest.hookimpl(tryfirst=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self.path is None:
            return
        by_key: dict[tuple[str, str], list[str]] = {}
        for item in session.items:
            request = request_of(item, self.settings.isolate_all)
            if request is not None:
                by_key.setdefault(request.key, []).append(item.nodeid)
        groups = [nodeids for nodeids in by_key.values() if len(nodeids) > 1]
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps({"version": 1, "groups": groups}), "utf-8")
        os.replace(partial, self.path)

    def pytest_sessionfinish(self) -> None:
        # xdist sends workeroutput after every pytest_sessionfinish ran.
        workeroutput: dict[str, Any] = self.config.workeroutput  # type: ignore[attr-defined]
        workeroutput[INCIDENTS_KEY] = [
            [i.group, i.nodeid, i.cause.kind, i.cause.summary] for i in self.incidents
        ]
        workeroutput[USAGE_KEY] = {
            name: [used.peak_rss, used.cpu] for name, used in self.ledger.groups.items()
        }


# -- controller side -----------------------------------------------------------


class ControllerSide:
    """In the controller: hand out file names, wrap the scheduler, and list the
    workers' crashes, timeouts and groups' usage in the controller's summary."""

    def __init__(self, incidents: list[Incident], ledger: UsageLedger) -> None:
        self.incidents = incidents
        self.ledger = ledger
        self.directory = Path(tempfile.mkdtemp(prefix="pytest-isolated-xdist-"))

    def pytest_configure_node(self, node: WorkerController) -> None:
        path = self.directory / f"{node.gateway.id}.json"
        node.workerinput[GROUPS_FILE_KEY] = str(path)

    @pytest.hookimpl(wrapper=True)
    def pytest_xdist_make_scheduler(
        self, config: pytest.Config, log: Any
    ) -> Any:  # Generator[None, Scheduling | None, Scheduling | None]
        chosen = yield
        if type(chosen) in _SPLITTING:
            return GroupAwareScheduling(config, log, chosen)
        return chosen

    def pytest_testnodedown(self, node: WorkerController, error: object) -> None:
        output: dict[str, Any] = getattr(node, "workeroutput", None) or {}
        for group, nodeid, kind, summary in output.get(INCIDENTS_KEY, []):
            self.incidents.append(Incident(group, nodeid, Cause(kind, summary)))
        for name, (peak, cpu) in output.get(USAGE_KEY, {}).items():
            self.ledger.groups[name] = Usage(int(peak), float(cpu))

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def read_groups(nodes: Sequence[WorkerController]) -> list[list[str]] | None:
    """The groups of several tests, from the first worker that wrote them.

    None if no worker did (remote workers, ``--tx ssh=...``, write where the
    controller cannot read).
    """
    for node in nodes:
        path = node.workerinput.get(GROUPS_FILE_KEY)
        if not path:
            continue
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(Path(path).read_text("utf-8"))
            groups: list[list[str]] = data["groups"]
            return groups
    return None


def merge_units(
    collection: Sequence[str],
    unit_of: Any,  # Callable[[str], str]
    groups: Sequence[Sequence[str]],
) -> dict[str, str]:
    """Map each node id to its work unit: the unit *unit_of* gives it, merged
    with every other unit that holds a test of the same isolation group.

    A merged unit is named after its earliest member, so the work queue keeps
    the collection order.
    """
    first_seen: dict[str, int] = {}
    units = {nodeid: unit_of(nodeid) for nodeid in collection}
    for unit in units.values():
        first_seen.setdefault(unit, len(first_seen))
    parent = {unit: unit for unit in first_seen}

    def find(unit: str) -> str:
        while parent[unit] != unit:
            parent[unit] = parent[parent[unit]]
            unit = parent[unit]
        return unit

    for group in groups:
        members = [units[nodeid] for nodeid in group if nodeid in units]
        for unit in members[1:]:
            a, b = find(members[0]), find(unit)
            if a != b:
                if first_seen[b] < first_seen[a]:
                    a, b = b, a
                parent[b] = a
    return {nodeid: find(unit) for nodeid, unit in units.items()}


class MergedScopeScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """xdist's scope scheduling over the merged work units."""

    def __init__(self, config: pytest.Config, log: Any, units: dict[str, str]) -> None:
        super().__init__(config, log)
        self.units = units

    # xdist's extension point for scope scheduling is this private method.
    def _split_scope(self, nodeid: str) -> str:
        return self.units.get(nodeid, nodeid)


class GroupAwareScheduling:
    """Stands for the ``--dist`` mode's scheduler until every worker has
    collected; then stays that scheduler, or becomes a
    :class:`MergedScopeScheduling` if some isolation group has several tests.

    Until the choice, workers and their collections are registered with both.
    """

    def __init__(self, config: pytest.Config, log: Any, default: Scheduling) -> None:
        self.config = config
        self.log = log
        self.default = default
        self.chosen: Scheduling | None = None
        self._nodes: list[WorkerController] = []
        self._collections: dict[WorkerController, list[str]] = {}

    @property
    def active(self) -> Scheduling:
        return self.default if self.chosen is None else self.chosen

    # -- the Scheduling protocol -------------------------------------------------

    @property
    def nodes(self) -> list[WorkerController]:
        nodes: list[WorkerController] = self.active.nodes
        return nodes

    @property
    def collection_is_completed(self) -> bool:
        return bool(self.active.collection_is_completed)

    @property
    def tests_finished(self) -> bool:
        return bool(self.active.tests_finished)

    @property
    def has_pending(self) -> bool:
        return bool(self.active.has_pending)

    def add_node(self, node: WorkerController) -> None:
        if self.chosen is None:
            self._nodes.append(node)
        self.active.add_node(node)

    def add_node_collection(
        self, node: WorkerController, collection: Sequence[str]
    ) -> None:
        if self.chosen is None:
            self._collections[node] = list(collection)
        self.active.add_node_collection(node, collection)

    def mark_test_complete(
        self, node: WorkerController, item_index: int, duration: float = 0
    ) -> None:
        self.active.mark_test_complete(node, item_index, duration)

    def mark_test_pending(self, item: str) -> None:
        self.active.mark_test_pending(item)

    def remove_pending_tests_from_node(
        self, node: WorkerController, indices: Sequence[int]
    ) -> None:
        self.active.remove_pending_tests_from_node(node, indices)

    def remove_node(self, node: WorkerController) -> str | None:
        if self.chosen is None:
            with contextlib.suppress(ValueError):
                self._nodes.remove(node)
            self._collections.pop(node, None)
        crashed: str | None = self.active.remove_node(node)
        return crashed

    def schedule(self) -> None:
        if self.chosen is None:
            self.chosen = self._choose()
        self.chosen.schedule()

    def _choose(self) -> Scheduling:
        groups = read_groups(self._nodes)
        if not groups:
            if groups is None:
                self.log("pytest-isolated: no worker's groups are readable")
            return self.default
        collection = next(iter(self._collections.values()), [])
        default = self.default
        if isinstance(default, LoadScopeScheduling):
            unit_of: Any = functools.partial(split_scope, default)
        else:  # load, worksteal: each test is a unit
            unit_of = str
        units = merge_units(collection, unit_of, groups)
        merged = MergedScopeScheduling(self.config, self.log, units)
        for node in self._nodes:
            merged.add_node(node)
        for node, ids in self._collections.items():
            merged.add_node_collection(node, ids)
        return merged

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {type(self.active).__name__}>"


# -- the plugin's private API, used here only -------------------------------------


def split_scope(scheduling: Any, nodeid: str) -> str:
    """The work unit pytest-xdist's scope scheduling puts *nodeid* in (module,
    class, file or xdist_group); xdist's only way is this private method."""
    unit: str = scheduling._split_scope(nodeid)
    return unit


def xdist_queued_items(config: pytest.Config) -> list[pytest.Item] | None:
    """In a pytest-xdist worker: the tests it was handed and has yet to run,
    the next one first; None if that cannot be known.

    ``--isolated-parallel`` starts later groups ahead, in the order their
    tests will run, and a worker runs what the controller sends it, in the
    order it arrives: xdist's ``WorkerInteractor`` (registered as a plugin)
    keeps the index of the next test in ``nextitem_index`` and the rest in
    ``torun``, a queue whose deque ``_items`` is read under its ``lock()``.
    None of it is public; any other shape (another version) gives None, and
    the worker runs one group at a time.
    """
    interactor = next(
        (
            plugin
            for plugin in config.pluginmanager.get_plugins()
            if type(plugin).__name__ == "WorkerInteractor"
        ),
        None,
    )
    session = getattr(interactor, "session", None)
    items = getattr(session, "items", None)
    torun = getattr(interactor, "torun", None)
    lock = getattr(torun, "lock", None)
    if not isinstance(items, list) or not callable(lock):
        return None
    try:
        with lock() as queued:
            if not isinstance(queued, collections.abc.Iterable):
                return None
            indices = [getattr(interactor, "nextitem_index", None), *queued]
    except Exception:  # noqa: BLE001 - an unknown shape: no look-ahead
        return None
    return [
        items[i]
        for i in indices
        if type(i) is int and 0 <= i < len(items)  # not the SHUTDOWN marker
    ]
