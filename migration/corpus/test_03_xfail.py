"""xfail with crashes, failures and passes."""

import ctypes
import os
import signal

import pytest


@pytest.mark.xfail(reason="segfaults on purpose")
@pytest.mark.forked
def test_xfail_segfault():
    ctypes.string_at(0)


@pytest.mark.xfail(reason="terminated", strict=True)
@pytest.mark.forked
def test_xfail_strict_sigterm():
    os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.xfail(reason="exits", strict=False)
@pytest.mark.forked
def test_xfail_os_exit():
    os._exit(7)


@pytest.mark.xfail(reason="does not crash after all", strict=True)
@pytest.mark.forked
def test_xfail_strict_passes():
    assert True


@pytest.mark.xfail(reason="does not crash after all", strict=False)
@pytest.mark.forked
def test_xfail_non_strict_passes():
    assert True


@pytest.mark.xfail(reason="known bug")
@pytest.mark.forked
def test_xfail_assertion():
    assert [] == [1]


@pytest.mark.xfail(raises=ValueError, reason="only a ValueError is expected")
@pytest.mark.forked
def test_xfail_raises_but_crashes():
    ctypes.string_at(0)


@pytest.mark.xfail(run=False, reason="would hang")
@pytest.mark.forked
def test_xfail_not_run():
    ctypes.string_at(0)


@pytest.mark.forked
def test_imperative_xfail():
    pytest.xfail("decided at run time")
