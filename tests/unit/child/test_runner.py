"""The child plugin's pure helpers."""

from __future__ import annotations

from pytest_isolated.child.runner import _drop_repeated_entries


def test_pythonpath_entries_keep_as_many_copies_as_the_parent_had() -> None:
    path = ["x", "ini", "a", "ini", "b", "ini"]
    _drop_repeated_entries(path, parents=["ini", "a", "ini"], entries=["ini"])
    assert path.count("ini") == 2
    assert path[:2] == ["x", "ini"]


def test_an_entry_the_parent_lacked_keeps_one_copy() -> None:
    path = ["ini", "a", "ini"]
    _drop_repeated_entries(path, parents=["a"], entries=["ini"])
    assert path == ["ini", "a"]
