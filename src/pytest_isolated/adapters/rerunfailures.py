"""pytest-rerunfailures: a test whose subprocess died runs again.

In the parent (:class:`CrashReruns`), a test whose subprocess died runs again
in a fresh one while its reruns, ``--only-rerun``, ``--rerun-except`` and
``condition=`` allow (``pytest_isolated_crash``).  The filters see the crash
as a :class:`~pytest_isolated.parent.lost.SubprocessDied` exception whose
text is the cause (``CRASHED with signal 11 (SIGSEGV)``).  In a child
(:class:`ChildReruns`), its status server for xdist workers is stopped.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_isolated.parent.lost import Cause


class ChildReruns:
    """pytest-rerunfailures in a child: no status server for xdist workers
    (its thread would keep the fork template from forking)."""

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        stop_rerunfailures_server(config)


class CrashReruns:
    """pytest-rerunfailures' policy for tests whose subprocess died."""

    def pytest_isolated_crash(
        self, item: pytest.Item, cause: Cause, report: pytest.TestReport, attempt: int
    ) -> bool | None:
        import pytest_rerunfailures  # type: ignore[import-untyped]

        reruns = pytest_rerunfailures.get_reruns_count(item)
        if not reruns or attempt > reruns:
            return None
        from pytest_isolated.parent.lost import SubprocessDied  # parent only

        exc = SubprocessDied(cause.summary)
        return True if rerun_filters_allow(item, report, exc) else None


# -- the plugin's private API, used here only -------------------------------------


def rerun_filters_allow(
    item: pytest.Item, report: pytest.TestReport, exc: BaseException
) -> bool:
    """Whether pytest-rerunfailures' ``--only-rerun``, ``--rerun-except`` and
    ``condition=`` let *item* run again after *exc*.  Its functions for this
    are private; without them (another version), a rerun is allowed."""
    import pytest_rerunfailures as rerun

    try:
        raise exc  # an exception with a traceback, as the filters expect
    except BaseException as raised:  # noqa: BLE001
        excinfo = pytest.ExceptionInfo.from_exception(raised)
    hard_fail = getattr(rerun, "_should_hard_fail_on_error", None)
    if hard_fail is not None and hard_fail(item, report, excinfo):
        return False
    condition = getattr(rerun, "get_reruns_condition", None)
    return condition is None or bool(condition(item))


def stop_rerunfailures_server(config: pytest.Config) -> None:
    """In a child: end the status server pytest-rerunfailures starts for
    pytest-xdist workers (a child has none).  Its thread would keep a fork
    template from forking; the server and its thread are not public."""
    import socket
    import threading

    db = getattr(config, "failures_db", None)
    sock = getattr(db, "sock", None)
    if not isinstance(sock, socket.socket) or not hasattr(db, "run_server"):
        return
    import pytest_rerunfailures as rerun

    config.failures_db = rerun.StatusDB()  # type: ignore[attr-defined]
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    for thread in threading.enumerate():
        if thread.name.endswith("(run_server)"):
            thread.join(timeout=5.0)
