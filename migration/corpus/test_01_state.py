"""Module state: what a forked test sees of what ran before it."""

import os

import pytest

STATE = {"counter": 0}
IMPORTED_IN_PID = os.getpid()


def test_unforked_changes_module_state():
    STATE["counter"] += 1
    assert STATE["counter"] == 1


@pytest.mark.forked
def test_forked_sees_the_parents_state():
    # A fork copies the parent's memory; a fresh interpreter imports the
    # module again and starts from the initial value.
    assert STATE["counter"] == 1


@pytest.mark.forked
def test_forked_changes_stay_in_the_child():
    STATE["counter"] += 100
    assert STATE["counter"] >= 100


def test_unforked_does_not_see_the_childs_change():
    assert STATE["counter"] == 1


@pytest.mark.forked
def test_forked_module_was_imported_by_the_parent():
    # Module-level code ran in the parent under fork, in the child under spawn.
    assert os.getpid() != IMPORTED_IN_PID


@pytest.mark.forked
def test_forked_runs_in_another_process():
    assert os.getpid() != int(os.environ["MIGRATION_PARENT_PID"])


def test_unforked_runs_in_the_parent():
    assert os.getpid() == int(os.environ["MIGRATION_PARENT_PID"])
