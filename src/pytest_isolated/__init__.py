"""Run pytest tests in fresh Python subprocesses.

PYTEST_DONT_REWRITE: a subprocess imports this package before pytest starts;
assertion rewriting would then warn that it cannot rewrite it (an error under
``-W error``), and the package has no assertions worth rewriting.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("pytest-isolated")
except PackageNotFoundError:  # imported from a source tree that is not installed
    __version__ = "0.0.0"
