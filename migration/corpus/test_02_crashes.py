"""Tests that take their process down, and tests that must survive them."""

import ctypes
import os
import signal
import sys

import pytest


@pytest.mark.forked
def test_segfault():
    ctypes.string_at(0)


@pytest.mark.forked
def test_sigterm():
    os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.forked
def test_sigkill():
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.forked
def test_abort():
    os.abort()


@pytest.mark.forked
def test_os_exit_nonzero():
    os._exit(3)


@pytest.mark.forked
def test_os_exit_zero():
    os._exit(0)


@pytest.mark.forked
def test_sys_exit():
    sys.exit(5)


@pytest.mark.forked
def test_prints_then_crashes():
    print("state before the crash")
    sys.stdout.flush()
    ctypes.string_at(0)


@pytest.mark.forked
def test_plain_failure():
    assert 1 + 1 == 3


@pytest.mark.forked
def test_passes_after_crashes():
    assert True


def test_unforked_after_crashes():
    assert True
