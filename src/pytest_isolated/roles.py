"""Which part a process plays in a session: pytest's own process, a
subprocess of ours, a pytest-xdist worker.

Imported by every pytest run, and by both sides: two names, no more (the wire
protocol between the sides is :mod:`pytest_isolated.protocol`).
"""

from __future__ import annotations

import os

#: The name the child plugin is registered under in a subprocess's pytest:
#: its presence is what makes a process one of our children.
CHILD_PLUGIN_NAME = "pytest-isolated-child"


def xdist_worker() -> str | None:
    """The pytest-xdist worker (``gw0``, ...) this process is, or whose
    subprocess it is; None outside xdist's workers.

    xdist names each worker in its environment, which a child inherits: the
    one answer on both sides of the process boundary.
    """
    return os.environ.get("PYTEST_XDIST_WORKER") or None
