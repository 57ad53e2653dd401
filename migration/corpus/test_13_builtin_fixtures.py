"""pytest's own fixtures inside forked tests."""

import os
import sys

import pytest


@pytest.mark.forked
def test_tmp_path(tmp_path):
    (tmp_path / "file.txt").write_text("data")
    assert (tmp_path / "file.txt").read_text() == "data"


@pytest.mark.forked
def test_capsys(capsys):
    print("hello")
    assert capsys.readouterr().out == "hello\n"


@pytest.mark.forked
def test_monkeypatch(monkeypatch):
    monkeypatch.setenv("MIGRATION_SET_IN_CHILD", "1")
    monkeypatch.setattr(sys, "migration_attribute", 1, raising=False)
    assert os.environ["MIGRATION_SET_IN_CHILD"] == "1"


def test_monkeypatch_did_not_leak():
    assert "MIGRATION_SET_IN_CHILD" not in os.environ
    assert not hasattr(sys, "migration_attribute")


@pytest.mark.forked
def test_record_property(record_property):
    record_property("answer", 42)


@pytest.mark.forked
def test_multiprocessing_start_method():
    import multiprocessing

    multiprocessing.set_start_method("spawn")
    assert multiprocessing.get_start_method() == "spawn"
