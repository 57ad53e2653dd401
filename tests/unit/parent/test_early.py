"""The fork template started as pytest loads its conftests: when the session
takes it over (:func:`same_start`), and pytest-randomly's part of its spec."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from pytest_isolated.adapters.randomly import early_child_args
from pytest_isolated.parent.early import same_start
from pytest_isolated.protocol import ChildSpec

LATE = ChildSpec(
    args=["--forked", "--basetemp=/tmp/pytest-0/isolated-template", "--capture=no"],
    files=[],
    nodeids=[],
    sys_path=["/src"],
    argv=["pytest", "--forked"],
    invocation_dir="/project",
    cwd="/project",
    env={"PATH": "/bin", "SET_BY_A_PLUGIN": "1"},
    startup_env={"PATH": "/bin"},
    basetemp="/tmp/pytest-0/isolated-template",
    workdir="/tmp/pytest-isolated-x",
    timeout=300.0,
    dump_margin=1.0,
    capture=True,
    template=True,
    whole=True,
    term_width=120,
    term_markup=True,
    junit_family="xunit2",
)
EARLY = dataclasses.replace(
    LATE,
    args=["--forked", "--basetemp=/tmp/pytest-isolated-x/basetemp", "--capture=no"],
    env={"PATH": "/bin"},
    startup_env=None,
    basetemp="/tmp/pytest-isolated-x/basetemp",
    term_width=None,
    term_markup=False,
    junit_family=None,
)


def test_its_own_basetemp_environment_and_terminal_do_not_count() -> None:
    assert same_start(EARLY, LATE)


@pytest.mark.parametrize(
    "change",
    [
        {"args": [*EARLY.args, "--randomly-seed=1"]},
        {"args": ["--forked", "--basetemp=/tmp/pytest-isolated-x/basetemp"]},
        {"timeout": 5.0},
        {"cwd": "/elsewhere"},
        {"sys_path": ["/src", "/more"]},
        {"capture": False},
    ],
    ids=["extra-arg", "missing-arg", "timeout", "cwd", "sys-path", "capture"],
)
def test_anything_else_that_differs_counts(change: dict[str, object]) -> None:
    assert not same_start(dataclasses.replace(EARLY, **change), LATE)  # type: ignore[arg-type]


class _Plugins:
    def __init__(self, *names: str) -> None:
        self.names = names

    def has_plugin(self, name: str) -> bool:
        return name in self.names


class _Config:
    def __init__(self, *plugins: str) -> None:
        self.pluginmanager = _Plugins(*plugins)


@pytest.mark.parametrize(
    ("plugins", "seed", "expected"),
    [
        ((), "default", []),
        (("randomly",), 42, ["--randomly-seed=42"]),
        (("randomly",), "default", None),
        (("randomly",), "last", None),
    ],
    ids=["no-randomly", "seed-given", "seed-drawn", "seed-cached"],
)
def test_pytest_randomlys_seed_is_known_early_only_when_given(
    plugins: tuple[str, ...], seed: object, expected: list[str] | None
) -> None:
    known = argparse.Namespace(randomly_seed=seed)
    config: pytest.Config = _Config(*plugins)  # type: ignore[assignment]
    assert early_child_args(config, known) == expected
