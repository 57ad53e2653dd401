"""Unit tests of watchdog.Watchdog: one thread calls each action in time."""

from __future__ import annotations

import threading
import time

from pytest_isolated.parent.watchdog import Watchdog


def test_actions_run_in_the_order_of_their_times() -> None:
    watchdog = Watchdog()
    done: list[str] = []
    last = threading.Event()

    def late() -> None:
        done.append("late")
        last.set()

    try:
        watchdog.after(0.5, late)
        watchdog.after(0.0, lambda: done.append("early"))
        assert last.wait(5.0)
    finally:
        watchdog.stop()
    assert done == ["early", "late"]


def test_a_cancelled_action_never_runs_and_a_failing_one_stops_nothing() -> None:
    watchdog = Watchdog()
    done: list[str] = []
    last = threading.Event()

    def fail() -> None:
        raise RuntimeError("boom")

    try:
        cancel = watchdog.after(0.01, lambda: done.append("cancelled"))
        watchdog.after(0.0, fail)
        watchdog.after(0.03, last.set)
        cancel()
        assert last.wait(5.0)
    finally:
        watchdog.stop()
    assert done == []


def test_stop_drops_what_is_pending() -> None:
    watchdog = Watchdog()
    done: list[str] = []
    watchdog.after(0.2, lambda: done.append("too late"))
    watchdog.stop()
    time.sleep(0.3)
    assert done == []


def test_an_earlier_action_wakes_the_thread_that_waits_for_a_later_one() -> None:
    watchdog = Watchdog()
    early = threading.Event()
    try:
        watchdog.after(60.0, lambda: None)
        time.sleep(0.05)  # the thread now sleeps until the first one's time
        watchdog.after(120.0, lambda: None)  # later: no need to wake it
        watchdog.after(0.0, early.set)
        assert early.wait(5.0)
    finally:
        watchdog.stop()
