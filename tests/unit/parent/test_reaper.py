"""Unit tests of reaper.Reaper: a retired child is closed once it exits."""

from __future__ import annotations

from typing import cast

from pytest_isolated.parent.handle import ChildHandle
from pytest_isolated.parent.reaper import Reaper


class FakeHandle:
    def __init__(self, returncode: int | None, seconds: float = 1.0) -> None:
        self.returncode = returncode
        self.seconds = seconds
        self.closed = self.killed = False

    def alive(self) -> bool:
        return self.returncode is None

    def close(self) -> None:
        self.closed = True

    def kill(self) -> None:
        self.killed = True


def handle(returncode: int | None, seconds: float = 1.0) -> ChildHandle:
    return cast(ChildHandle, FakeHandle(returncode, seconds))


def test_a_child_that_has_exited_is_closed_at_once() -> None:
    reaper = Reaper()
    child = handle(0, seconds=2.5)
    reaper.retire(child)
    assert cast(FakeHandle, child).closed
    assert not reaper.holds(child)
    assert reaper.child_seconds == 2.5


def test_a_running_child_is_held_until_it_exits() -> None:
    reaper = Reaper()
    running, exited = handle(None), handle(None)
    reaper.retire(running)
    reaper.put_away(exited)
    cast(FakeHandle, exited).returncode = 0
    reaper.close_exited()
    assert cast(FakeHandle, exited).closed
    assert reaper.retired == [running]
    assert not reaper.forks_left()
    reaper.kill_all()
    assert cast(FakeHandle, running).killed
    assert cast(FakeHandle, running).closed
    assert reaper.retired == []
