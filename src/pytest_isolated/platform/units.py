"""Memory sizes and CPU seconds as users write them, and as they are shown.

Pure functions, imported by every pytest run (the options' parsers): nothing
here measures or enforces (that is :mod:`pytest_isolated.platform.resources`).
"""

from __future__ import annotations

import math
import re

MIB = 1024 * 1024

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": MIB,
    "mb": MIB,
    "mib": MIB,
    "g": 1024 * MIB,
    "gb": 1024 * MIB,
    "gib": 1024 * MIB,
    "t": 1024 * 1024 * MIB,
    "tb": 1024 * 1024 * MIB,
    "tib": 1024 * 1024 * MIB,
}
_SIZE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)")


def parse_memory(value: object) -> int | None:
    """A memory size: bytes as a number, or a string with a unit (``"512M"``,
    ``"2G"``, ``"1.5GiB"``; binary units: ``M`` and ``MB`` are both MiB).
    ``0`` means no limit.  Raises ValueError with a message fit for the user."""
    problem = f"expected a size such as 512M, 2G or 1.5GiB, got {value!r}"
    if isinstance(value, bool):
        raise ValueError(problem)
    if isinstance(value, (int, float)):
        size = float(value)
    elif isinstance(value, str):
        match = _SIZE.fullmatch(value.strip().lower())
        if match is None or match.group(2) not in _UNITS:
            raise ValueError(problem)
        size = float(match.group(1)) * _UNITS[match.group(2)]
    else:
        raise ValueError(problem)
    if not math.isfinite(size) or size < 0:
        raise ValueError(problem)
    return int(size) or None


def parse_cpu(value: object) -> float | None:
    """CPU seconds: a number >= 0; ``0`` means no limit."""
    problem = f"expected a number of CPU seconds, got {value!r}"
    if isinstance(value, bool):
        raise ValueError(problem)
    try:
        seconds = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(problem) from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected a number of CPU seconds >= 0, got {value!r}")
    return seconds or None


def format_bytes(size: float) -> str:
    """``512 MiB``, ``3.1 GiB``: the way limits and peaks are shown."""
    if size >= 1024 * MIB:
        return f"{size / (1024 * MIB):.1f} GiB"
    if size >= MIB:
        return f"{size / MIB:.0f} MiB"
    return f"{size / 1024:.0f} KiB"
