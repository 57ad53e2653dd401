"""Skips in forked tests."""

import sys

import pytest


@pytest.mark.skip(reason="not today")
@pytest.mark.forked
def test_skip_marker():
    raise AssertionError("never runs")


@pytest.mark.skipif(sys.platform != "nonexistent", reason="condition true")
@pytest.mark.forked
def test_skipif_marker():
    raise AssertionError("never runs")


@pytest.mark.forked
def test_skip_at_run_time():
    pytest.skip("decided in the test")


@pytest.mark.forked
def test_importorskip():
    pytest.importorskip("a_module_that_does_not_exist")


@pytest.fixture
def skipping_fixture():
    pytest.skip("skipped by a fixture")


@pytest.mark.forked
def test_skipped_by_fixture(skipping_fixture):
    raise AssertionError("never runs")
