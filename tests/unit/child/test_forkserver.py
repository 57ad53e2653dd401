"""When the fork template refuses to fork."""

from __future__ import annotations

import sys
import threading
import types

import pytest

from pytest_isolated.child.forkserver import unsafe_reason


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
