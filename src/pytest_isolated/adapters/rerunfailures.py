"""pytest-rerunfailures: a test whose subprocess died runs again.

In the parent (:class:`CrashReruns`), a test whose subprocess died runs again
in a fresh one while its reruns, ``--only-rerun``, ``--rerun-except`` and
``condition=`` allow (``pytest_isolated_crash``).  The filters see the crash
as a :class:`~pytest_isolated.parent.lost.SubprocessDied` exception whose
text is the cause (``CRASHED with signal 11 (SIGSEGV)``).  In a child
(:class:`ChildReruns`), its status server for xdist workers is stopped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pytest_isolated import _compat

if TYPE_CHECKING:
    from pytest_isolated.parent.lost import Cause


class ChildReruns:
    """pytest-rerunfailures in a child: no status server for xdist workers
    (its thread would keep the fork template from forking)."""

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config: pytest.Config) -> None:
        _compat.stop_rerunfailures_server(config)


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
        return True if _compat.rerun_filters_allow(item, report, exc) else None
