"""When the fork template refuses to fork."""

from __future__ import annotations

import sys
import threading
import types

import pytest

from pytest_isolated.child.forkserver import unsafe_reason, warm_up


@pytest.fixture
def only_this_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test process's own threads (plugins run some) are not the point."""
    monkeypatch.setattr(threading, "enumerate", lambda: [threading.current_thread()])


@pytest.mark.usefixtures("only_this_thread")
def test_a_single_threaded_process_may_fork() -> None:
    assert unsafe_reason() is None


def test_another_thread_makes_forking_unsafe(monkeypatch: pytest.MonkeyPatch) -> None:
    other = threading.Thread(target=lambda: None, name="busy-one")
    monkeypatch.setattr(
        threading, "enumerate", lambda: [threading.current_thread(), other]
    )
    assert unsafe_reason() == (
        "the fork template runs 1 other thread(s) (busy-one), "
        "which a fork would not have"
    )


@pytest.mark.usefixtures("only_this_thread")
def test_an_initialised_gpu_runtime_makes_forking_unsafe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cuda = types.SimpleNamespace(is_initialized=lambda: True)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    assert unsafe_reason() == (
        "torch.cuda was initialised in the fork template, "
        "and a GPU runtime does not survive fork()"
    )


class Item:
    """An item whose location pytest computes once and keeps: pytest's own
    test function's."""

    reportinfo = pytest.Function.reportinfo

    def __init__(self, fails: bool = False) -> None:
        self.fails = fails
        self.computed = 0

    @property
    def location(self) -> tuple[str, int, str]:
        self.computed += 1
        if self.fails:
            raise ValueError("a plugin's reportinfo() failed")
        return ("test_x.py", 1, "test_x")


def test_the_warm_up_computes_each_items_location_a_step_at_a_time() -> None:
    items = [Item(), Item(fails=True), Item()]
    steps = warm_up(items)
    assert [i.computed for i in items] == [0, 0, 0]  # nothing before the first step
    next(steps)
    assert [i.computed for i in items] == [1, 0, 0]
    assert list(steps) == [None, None]  # a failure is the fork's, as pytest's
    assert [i.computed for i in items] == [1, 1, 1]


def test_the_warm_up_leaves_other_kinds_of_items_to_their_fork() -> None:
    class Custom(Item):
        def reportinfo(self) -> tuple[str, int, str]:  # a relative path, maybe
            return ("test_x.py", 1, "custom")

    custom = Custom()
    assert list(warm_up([custom])) == [None]
    assert custom.computed == 0
