"""pytest-randomly: the subprocess uses the parent's seed.

An isolated test draws the same random numbers as it would in process, so
the child is given the seed the parent resolved
(``pytest_isolated_child_args``); a fork template started before the parent
resolved it is given it only if the command line names it.
"""

from __future__ import annotations

import argparse

import pytest


class RandomlySeed:
    """``--randomly-seed``: the seed the parent resolved (``default`` and
    ``last`` resolve differently in another process, with another cache)."""

    def pytest_isolated_child_args(self, config: pytest.Config) -> list[str]:
        seed = config.getoption("randomly_seed", None)
        return [f"--randomly-seed={seed}"] if isinstance(seed, int) else []


def early_child_args(
    config: pytest.Config, known: argparse.Namespace
) -> list[str] | None:
    """What :class:`RandomlySeed` will give children, as pytest loads its
    initial conftests (*known*: the options known then); None if it is not
    known yet (pytest-randomly resolves ``default``, a new seed, and
    ``last``, the cache's, in its ``pytest_configure``)."""
    if not config.pluginmanager.has_plugin("randomly"):
        return []
    seed = getattr(known, "randomly_seed", None)
    return [f"--randomly-seed={seed}"] if isinstance(seed, int) else None
