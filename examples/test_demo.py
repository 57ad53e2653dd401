"""A tour of pytest-isolated.  Run it with ``bash scripts/demo`` (exits 0).

Every test here passes, or fails in the way it is expected to, so the run is
green; read the ``-v`` output and the reasons of the XFAIL lines.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time

import pytest

#: Module state that a badly behaved test changes.
SETTINGS = {"mode": "default"}


def test_parent_process() -> None:
    # Not marked: runs in pytest's own process, as without the plugin.
    assert "PYTEST_RUNNING_IN_SUBPROCESS" not in os.environ


@pytest.mark.isolated
def test_mutates_global_state() -> None:
    # Runs in a fresh interpreter: the change dies with it.
    assert os.environ["PYTEST_RUNNING_IN_SUBPROCESS"] == "1"
    SETTINGS["mode"] = "changed"
    sys.modules.pop("json", None)


def test_global_state_is_untouched() -> None:
    assert SETTINGS["mode"] == "default"


@pytest.mark.isolated(group="shared")
def test_group_first() -> None:
    # Tests of one group share one subprocess, in run order.
    SETTINGS["mode"] = f"set by {os.getpid()}"


@pytest.mark.isolated(group="shared")
def test_group_second() -> None:
    assert SETTINGS["mode"] == f"set by {os.getpid()}"


@pytest.mark.xfail(reason="reads address 0: the subprocess dies, pytest does not")
@pytest.mark.isolated
def test_segfault_is_contained() -> None:
    print("printed before the crash: kept in the report")
    ctypes.string_at(0)


@pytest.mark.xfail(reason="hangs: the group's 2 s limit kills it")
@pytest.mark.isolated(timeout=2)
def test_hang_is_cut_off() -> None:
    time.sleep(60)


@pytest.mark.forked
def test_pytest_forked_marker_still_works() -> None:
    assert os.environ["PYTEST_RUNNING_IN_SUBPROCESS"] == "1"


def test_still_running_after_all_that() -> None:
    assert SETTINGS["mode"] == "default"
