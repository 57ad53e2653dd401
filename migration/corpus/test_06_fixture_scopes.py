"""Module and session fixtures used by forked and unforked tests."""

import os

import pytest

from conftest import log, read_log


@pytest.fixture(scope="module")
def module_resource():
    log("module06.log", f"setup {os.getpid()}")
    yield {"connections": 1}
    log("module06.log", f"teardown {os.getpid()}")


def test_unforked_uses_module_fixture(module_resource, session_resource):
    assert module_resource["connections"] == 1
    assert session_resource == "session-value"


@pytest.mark.forked
def test_forked_uses_module_fixture(module_resource, session_resource):
    module_resource["connections"] += 1
    assert module_resource["connections"] == 2


@pytest.mark.forked
def test_forked_again_gets_a_clean_fixture(module_resource):
    assert module_resource["connections"] == 1


def test_unforked_fixture_unchanged_by_children(module_resource):
    assert module_resource["connections"] == 1


def test_module_fixture_set_up_once_per_process():
    # Under fork the children inherit the fixture the parent set up; a
    # spawned child sets it up again (and tears it down).
    setups = [line for line in read_log("module06.log") if line.startswith("setup")]
    assert len(setups) == 1
