"""The marker on a class: each of its tests in a process of its own."""

import os

import pytest

from conftest import log, read_log


@pytest.fixture(scope="class")
def resource():
    return os.getpid()


@pytest.mark.forked
class TestForkedClass:
    def test_one(self, resource):
        log("class10.log", str(os.getpid()))
        assert resource == os.getpid()

    def test_two(self, resource):
        log("class10.log", str(os.getpid()))
        assert len(set(read_log("class10.log"))) == 2


class TestMixedClass:
    def test_here(self):
        assert os.getpid() == int(os.environ["MIGRATION_PARENT_PID"])

    @pytest.mark.forked
    def test_there(self):
        assert os.getpid() != int(os.environ["MIGRATION_PARENT_PID"])
