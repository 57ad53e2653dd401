"""Unit tests of the part a process plays: the names both sides read."""

from __future__ import annotations

import pytest

from pytest_isolated import roles


def test_the_xdist_worker_is_named_by_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert roles.xdist_worker() is None
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    assert roles.xdist_worker() == "gw3"
