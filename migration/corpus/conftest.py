"""Shared fixtures of the corpus, written the way pytest-forked users write them."""

import os
import tempfile

import pytest

# One log folder and the pid of the user's pytest, for every process of the
# session: forked and spawned children inherit the environment.
os.environ.setdefault("MIGRATION_LOG_DIR", tempfile.mkdtemp(prefix="migration-"))
os.environ.setdefault("MIGRATION_PARENT_PID", str(os.getpid()))


def log(name, line):
    path = os.path.join(os.environ["MIGRATION_LOG_DIR"], name)
    with open(path, "a") as f:
        f.write(line + "\n")


def read_log(name):
    path = os.path.join(os.environ["MIGRATION_LOG_DIR"], name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().splitlines()


@pytest.fixture(scope="session")
def session_resource():
    log("session.log", f"setup {os.getpid()}")
    yield "session-value"
    log("session.log", f"teardown {os.getpid()}")


def pytest_collection_modifyitems(items):
    # Dynamic markers: a common way to fork a whole family of tests.
    for item in items:
        if "dynamic" in item.name:
            item.add_marker(pytest.mark.forked)
