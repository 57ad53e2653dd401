"""Run pytest tests in fresh Python subprocesses.

PYTEST_DONT_REWRITE: a subprocess imports this package before pytest starts;
assertion rewriting would then warn that it cannot rewrite it (an error under
``-W error``), and the package has no assertions worth rewriting.
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # Looked up on first use: reading the installed metadata costs every
    # pytest run a few milliseconds at start-up otherwise.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("pytest-isolated")
    except PackageNotFoundError:  # imported from a source tree not installed
        return "0.0.0"
