"""pytest-randomly: the subprocess uses the parent's seed.

An isolated test draws the same random numbers as it would in process, so
the child is given the seed the parent resolved
(``pytest_isolated_child_args``).
"""

from __future__ import annotations

import pytest


class RandomlySeed:
    """``--randomly-seed``: the seed the parent resolved (``default`` and
    ``last`` resolve differently in another process, with another cache)."""

    def pytest_isolated_child_args(self, config: pytest.Config) -> list[str]:
        seed = config.getoption("randomly_seed", None)
        return [f"--randomly-seed={seed}"] if isinstance(seed, int) else []
