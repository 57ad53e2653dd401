"""Unit tests of xdist.merge_units: the work units of an xdist mode, merged
wherever one isolation group spans several of them; and of the look-ahead's
view of a worker's queue (xdist_queued_items)."""

from __future__ import annotations

import collections
import contextlib
import enum
import types
from collections.abc import Iterator
from typing import Any

from pytest_isolated.adapters.xdist import merge_units, xdist_queued_items


def by_file(nodeid: str) -> str:
    """loadfile's unit: the file."""
    return nodeid.split("::", 1)[0]


def by_scope(nodeid: str) -> str:
    """loadscope's unit: everything but the test name."""
    return nodeid.rsplit("::", 1)[0]


def each_test(nodeid: str) -> str:
    """load's and worksteal's unit: the test itself."""
    return nodeid


COLLECTION = [
    "a.py::test_1",
    "a.py::test_2",
    "b.py::test_1",
    "c.py::test_1",
    "c.py::test_2",
    "d.py::test_1",
]


def test_without_groups_each_test_keeps_its_unit() -> None:
    assert merge_units(COLLECTION, by_file, []) == {
        "a.py::test_1": "a.py",
        "a.py::test_2": "a.py",
        "b.py::test_1": "b.py",
        "c.py::test_1": "c.py",
        "c.py::test_2": "c.py",
        "d.py::test_1": "d.py",
    }


def test_a_group_within_one_unit_changes_nothing() -> None:
    groups = [["a.py::test_1", "a.py::test_2"]]
    assert merge_units(COLLECTION, by_file, groups) == merge_units(
        COLLECTION, by_file, []
    )


def test_a_group_spanning_two_units_merges_them() -> None:
    units = merge_units(COLLECTION, by_file, [["a.py::test_2", "c.py::test_1"]])
    assert units == {
        "a.py::test_1": "a.py",
        "a.py::test_2": "a.py",
        "b.py::test_1": "b.py",
        # The whole of c.py joins a.py, not only the group's test.
        "c.py::test_1": "a.py",
        "c.py::test_2": "a.py",
        "d.py::test_1": "d.py",
    }


def test_the_merged_unit_is_named_after_its_earliest_member() -> None:
    # The group lists the later unit first.
    units = merge_units(COLLECTION, by_file, [["d.py::test_1", "b.py::test_1"]])
    assert units["d.py::test_1"] == "b.py"
    assert units["b.py::test_1"] == "b.py"
    assert set(units.values()) == {"a.py", "b.py", "c.py"}


def test_groups_sharing_a_unit_merge_transitively() -> None:
    groups = [["d.py::test_1", "c.py::test_2"], ["b.py::test_1", "d.py::test_1"]]
    units = merge_units(COLLECTION, by_file, groups)
    assert units == {
        "a.py::test_1": "a.py",
        "a.py::test_2": "a.py",
        "b.py::test_1": "b.py",
        "c.py::test_1": "b.py",
        "c.py::test_2": "b.py",
        "d.py::test_1": "b.py",
    }


def test_a_chain_of_groups_ends_in_one_unit() -> None:
    groups = [
        ["c.py::test_1", "d.py::test_1"],
        ["b.py::test_1", "c.py::test_2"],
        ["a.py::test_2", "b.py::test_1"],
    ]
    units = merge_units(COLLECTION, by_file, groups)
    assert set(units.values()) == {"a.py"}


def test_a_group_of_three_units() -> None:
    groups = [["d.py::test_1", "b.py::test_1", "c.py::test_2"]]
    units = merge_units(COLLECTION, by_file, groups)
    assert [units[n] for n in COLLECTION] == [
        "a.py",
        "a.py",
        "b.py",
        "b.py",
        "b.py",
        "b.py",
    ]


def test_the_collection_order_is_kept() -> None:
    collection = ["z.py::t", "m.py::t", "a.py::t", "m.py::u"]
    units = merge_units(collection, by_file, [["a.py::t", "z.py::t"]])
    assert list(units) == collection
    # Named after the unit first seen in the collection, not the smallest name.
    assert units == {
        "z.py::t": "z.py",
        "m.py::t": "m.py",
        "a.py::t": "z.py",
        "m.py::u": "m.py",
    }


def test_tests_absent_from_the_collection_are_ignored() -> None:
    groups = [
        ["gone.py::test_1", "b.py::test_1", "gone.py::test_2", "d.py::test_1"],
        ["gone.py::test_3", "a.py::test_1"],  # only one present member
        ["gone.py::test_4", "gone.py::test_5"],  # none present
    ]
    units = merge_units(COLLECTION, by_file, groups)
    assert "gone.py::test_1" not in units
    assert list(units) == COLLECTION
    assert units == {
        "a.py::test_1": "a.py",
        "a.py::test_2": "a.py",
        "b.py::test_1": "b.py",
        "c.py::test_1": "c.py",
        "c.py::test_2": "c.py",
        "d.py::test_1": "b.py",
    }


def test_each_test_as_a_unit() -> None:
    collection = ["m.py::t1", "m.py::t2", "m.py::t3", "m.py::t4"]
    units = merge_units(collection, each_test, [["m.py::t4", "m.py::t2"]])
    assert units == {
        "m.py::t1": "m.py::t1",
        "m.py::t2": "m.py::t2",
        "m.py::t3": "m.py::t3",
        "m.py::t4": "m.py::t2",
    }


def test_each_test_as_a_unit_with_str() -> None:
    # GroupAwareScheduling passes str itself as unit_of for load and worksteal.
    collection = ["m.py::t1", "m.py::t2", "m.py::t3"]
    units = merge_units(collection, str, [["m.py::t3", "m.py::t1"]])
    assert units == {
        "m.py::t1": "m.py::t1",
        "m.py::t2": "m.py::t2",
        "m.py::t3": "m.py::t1",
    }


def test_scopes_as_units() -> None:
    collection = [
        "m.py::TestA::test_1",
        "m.py::TestA::test_2",
        "m.py::TestB::test_1",
        "m.py::test_free",
        "n.py::TestC::test_1",
    ]
    groups = [["n.py::TestC::test_1", "m.py::TestB::test_1"]]
    units = merge_units(collection, by_scope, groups)
    assert units == {
        "m.py::TestA::test_1": "m.py::TestA",
        "m.py::TestA::test_2": "m.py::TestA",
        "m.py::TestB::test_1": "m.py::TestB",
        "m.py::test_free": "m.py",
        "n.py::TestC::test_1": "m.py::TestB",
    }


def test_an_empty_collection() -> None:
    assert merge_units([], by_file, [["a.py::t", "b.py::t"]]) == {}


# -- what a worker was handed: xdist_queued_items ----------------------


class RunQueue:
    """pytest-xdist's queue of the indices a worker is to run (its shape)."""

    def __init__(self, indices: list[object]) -> None:
        self._items = collections.deque(indices)

    @contextlib.contextmanager
    def lock(self) -> Iterator[collections.deque[object]]:
        yield self._items


class WorkerInteractor:
    """pytest-xdist's worker plugin (its shape)."""

    def __init__(self, items: list[str], nextitem: object, queued: list[object]):
        self.session = types.SimpleNamespace(items=items)
        self.nextitem_index = nextitem
        self.torun = RunQueue(queued)


def config_with(*plugins: object) -> Any:
    manager = types.SimpleNamespace(get_plugins=lambda: set(plugins))
    return types.SimpleNamespace(pluginmanager=manager)


class Marker(enum.Enum):
    SHUTDOWN = 0


def test_the_next_test_then_the_queue_in_order() -> None:
    items = ["t0", "t1", "t2", "t3", "t4"]
    worker = WorkerInteractor(items, 3, [1, 4, Marker.SHUTDOWN])
    queued: Any = xdist_queued_items(config_with(worker))
    assert queued == ["t3", "t1", "t4"]


def test_nothing_queued_yet() -> None:
    worker = WorkerInteractor(["t0"], None, [])
    queued: Any = xdist_queued_items(config_with(worker))
    assert queued == []


def test_an_unknown_shape_gives_none() -> None:
    assert xdist_queued_items(config_with(object())) is None
    worker = WorkerInteractor(["t0"], 0, [])
    del worker.torun
    assert xdist_queued_items(config_with(worker)) is None
    worker = WorkerInteractor(["t0"], 0, [])
    worker.torun.lock = None  # type: ignore[assignment]
    assert xdist_queued_items(config_with(worker)) is None
