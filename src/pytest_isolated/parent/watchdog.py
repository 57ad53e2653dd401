"""Parent side: the one thread that keeps every deadline of a session.

A timer thread per child would cost a thread start per group, a noticeable
share of a forked group's few milliseconds; so the children's deadlines (the
stack dump shortly before, the kill at the time limit) are actions on one
heap, called in time by one thread.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class Watchdog:
    """One thread for all of a session's deadlines: calls each action in time.

    Times are ``time.monotonic()``; an action that raises is reported on
    stderr and the thread goes on.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, list[Callable[[], None] | None]]] = []
        self._cond = threading.Condition()
        self._count = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopped = False

    def stop(self) -> None:
        """End the thread (the session is over); pending actions are dropped."""
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def after(self, delay: float, action: Callable[[], None]) -> Callable[[], None]:
        """Call *action* in *delay* seconds; returns a function that cancels."""
        slot: list[Callable[[], None] | None] = [action]
        with self._cond:
            when = time.monotonic() + delay
            # The thread sleeps until the earliest deadline: it needs waking
            # only for an earlier one (most actions are cancelled unused).
            sooner = not self._heap or when < self._heap[0][0]
            heapq.heappush(self._heap, (when, next(self._count), slot))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="pytest-isolated-watchdog", daemon=True
                )
                self._thread.start()
            if sooner:
                self._cond.notify()
        return lambda: slot.__setitem__(0, None)

    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopped:
                    return
                while self._heap and self._heap[0][2][0] is None:
                    heapq.heappop(self._heap)  # cancelled
                if not self._heap:
                    self._cond.wait()
                    continue
                delay = self._heap[0][0] - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                _, _, slot = heapq.heappop(self._heap)
            action = slot[0]
            if action is not None:
                try:
                    action()
                except Exception as exc:  # noqa: BLE001 - the thread must live on
                    print(f"pytest-isolated: watchdog action failed: {exc!r}")


def never() -> None:
    """The cancel function of a deadline that was never set."""
