"""Unit tests of settings.start_method: how each group's children start."""

from __future__ import annotations

import os
import sys

import pytest

from pytest_isolated.settings import start_method


@pytest.fixture
def on_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    if not hasattr(os, "fork"):
        monkeypatch.setattr(os, "fork", lambda: 0, raising=False)


@pytest.mark.usefixtures("on_linux")
def test_auto_forks_pytest_forked_groups_and_prestarts_the_others() -> None:
    assert start_method("auto", forked=True) == "fork"
    assert start_method("auto", forked=False) == "prestart"


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_auto_forks_nothing_off_linux(
    monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    assert start_method("auto", forked=True) == "prestart"
    assert start_method("auto", forked=False) == "prestart"


@pytest.mark.usefixtures("on_linux")
@pytest.mark.parametrize("asked", ["spawn", "prestart", "fork"])
def test_an_explicit_method_is_every_group_s(asked: str) -> None:
    assert start_method(asked, forked=True) == asked
    assert start_method(asked, forked=False) == asked


def test_fork_without_os_fork_prestarts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "fork", raising=False)
    assert start_method("fork", forked=True) == "prestart"
    assert start_method("auto", forked=True) == "prestart"
