"""coverage.py and pytest-cov: every child's data, combined once.

A subprocess is measured by coverage.py itself (``[run] patch =
subprocess``); the parent's pytest-cov must combine only once every child has
written its data: see :class:`CoverageDrain`.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

import pytest


class CoverageDrain:
    """pytest-cov combines the data files when the run loop ends; a child
    writes its file only when it exits, and the parent reaps its children
    only at ``pytest_sessionfinish``.  So with pytest-cov measuring, the
    reaping (and the end of a pre-started interpreter) comes first."""

    def __init__(self, finish: Callable[[], None]) -> None:
        self.finish = finish

    # trylast: inside pytest-cov's own wrapper, so this ends before it combines.
    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtestloop(
        self, session: pytest.Session
    ) -> Generator[None, object, object]:
        try:
            return (yield)
        finally:
            self.finish()
