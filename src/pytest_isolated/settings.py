"""Resolved settings, and the parsing and validation of every user input.

Precedence, from strongest to weakest: the marker's ``timeout=``, then
``--isolated-timeout``, then the ``isolated_timeout`` ini key, then the default
(300 seconds).  ``0`` means "no time limit".  Every error names the bad value
and where it came from.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from _pytest import nodes  # only the type of iter_markers_with_node()'s nodes

DEFAULT_TIMEOUT = 300.0

MARKER = "isolated"
FORKED_MARKER = "forked"

HELP_ISOLATED = (
    "run every test in a subprocess (each in its own, unless a marker groups it)"
)
HELP_NO_ISOLATION = (
    "run every test in this process, marked tests included (for --pdb and debuggers)"
)
HELP_TIMEOUT = (
    "time limit in seconds for each isolated group, measured from the start of its "
    f"subprocess; 0 means none (default: {DEFAULT_TIMEOUT:g})"
)
MARKER_DOC = (
    "isolated(group=None, timeout=None): run the test in a fresh Python subprocess. "
    "Tests with the same group name share one subprocess; timeout is the group's "
    "time limit in seconds."
)


@dataclasses.dataclass(frozen=True)
class Timeout:
    """A time limit and a human-readable account of where it came from."""

    seconds: float | None  # None: no limit
    source: str

    def describe(self) -> str:
        limit = "no limit" if self.seconds is None else f"{self.seconds:g}s"
        return f"{limit} (from {self.source})"


@dataclasses.dataclass(frozen=True)
class Settings:
    """Session-wide settings, resolved once in ``pytest_configure``."""

    isolate_all: bool
    disabled: bool
    timeout: Timeout


@dataclasses.dataclass(frozen=True)
class Request:
    """What one test's closest marker (or ``--isolated``) asks for.

    ``key`` identifies the subprocess: tests with equal keys share one.
    """

    key: tuple[str, str]
    name: str
    timeout: Timeout | None


def parse_seconds(value: object) -> float | None:
    """Parse a timeout: a number or numeric string >= 0; 0 means no limit.

    Raises ValueError with a message fit for the user.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a number of seconds, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = float(value.strip())
        except ValueError:
            raise ValueError(f"expected a number of seconds, got {value!r}") from None
    else:
        raise ValueError(f"expected a number of seconds, got {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected a number of seconds >= 0, got {value!r}")
    return seconds or None


def timeout_option(value: str) -> float | None:
    """argparse ``type=`` for ``--isolated-timeout``."""
    try:
        return parse_seconds(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def resolve_settings(config: pytest.Config) -> Settings:
    """Resolve the session settings from the command line and the ini file."""
    isolate_all = bool(config.getoption("isolated"))
    disabled = bool(config.getoption("no_isolation"))
    if isolate_all and disabled:
        raise pytest.UsageError("--isolated and --no-isolation cannot be used together")

    option = config.getoption("isolated_timeout")
    ini = config.getini("isolated_timeout")
    if option is not _UNSET:
        timeout = Timeout(option, f"--isolated-timeout={_fmt(option)}")
    elif ini not in (None, ""):
        where = f"isolated_timeout = {ini!r} in {config.inipath or 'the ini file'}"
        try:
            timeout = Timeout(parse_seconds(ini), where)
        except ValueError as exc:
            raise pytest.UsageError(f"{where}: {exc}") from None
    else:
        timeout = Timeout(DEFAULT_TIMEOUT, f"the default of {DEFAULT_TIMEOUT:g}s")
    return Settings(isolate_all=isolate_all, disabled=disabled, timeout=timeout)


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


#: Default of ``--isolated-timeout``: tells "not given" from "given as 0".
_UNSET: Any = _Unset()


def _fmt(seconds: float | None) -> str:
    return "0" if seconds is None else f"{seconds:g}"


def parse_marker(mark: pytest.Mark, nodeid: str) -> tuple[str | None, Timeout | None]:
    """Validate one ``isolated`` marker: return its (group, timeout).

    Raises :class:`pytest.UsageError` naming the test, the argument and the value.
    """
    shown = _show_mark(mark)

    def fail(problem: str) -> pytest.UsageError:
        return pytest.UsageError(f"{nodeid}: invalid {shown}: {problem}")

    unknown = sorted(set(mark.kwargs) - {"group", "timeout"})
    if unknown:
        return_kw = ", ".join(unknown)
        raise fail(
            f"unknown keyword argument {return_kw} (expected group= and timeout=)"
        )
    if len(mark.args) > 1:
        count = len(mark.args)
        raise fail(f"takes one positional argument (the group name), got {count}")
    if mark.args and "group" in mark.kwargs:
        raise fail("the group is given both positionally and as group=")
    group = mark.args[0] if mark.args else mark.kwargs.get("group")
    if group is not None and not (isinstance(group, str) and group.strip()):
        raise fail(f"group must be a non-empty string, got {group!r}")
    timeout = None
    if mark.kwargs.get("timeout") is not None:
        raw = mark.kwargs["timeout"]
        try:
            seconds = parse_seconds(raw)
        except ValueError as exc:
            raise fail(f"timeout: {exc}") from None
        timeout = Timeout(seconds, f"{shown} on {nodeid}")
    return group, timeout


def _show_mark(mark: pytest.Mark) -> str:
    parts = [repr(a) for a in mark.args]
    parts += [f"{k}={v!r}" for k, v in mark.kwargs.items()]
    return f"@pytest.mark.{mark.name}({', '.join(parts)})"


def resolve_request(item: pytest.Item, isolate_all: bool) -> Request | None:
    """Decide whether and how *item* is isolated; the closest marker wins.

    A marker with a group name joins that named group.  Without a name, the
    marker's level decides: on the function, a subprocess of its own; on a class
    or module, one subprocess for that class's or module's tests.  ``forked``
    (pytest-forked's marker) always means a subprocess of the test's own.
    """
    closest = _closest(item, (MARKER, FORKED_MARKER))
    if closest is None:
        if isolate_all:
            return Request(("node", item.nodeid), item.nodeid, None)
        return None
    node, mark = closest
    if mark.name == FORKED_MARKER:
        return Request(("node", item.nodeid), item.nodeid, None)
    group, timeout = parse_marker(mark, item.nodeid)
    if group is not None:
        return Request(("group", group), group, timeout)
    return Request(("node", node.nodeid), node.nodeid, timeout)


def _closest(
    item: pytest.Item, names: Iterable[str]
) -> tuple[nodes.Node, pytest.Mark] | None:
    wanted = set(names)
    for node, mark in item.iter_markers_with_node():
        if mark.name in wanted:
            return node, mark
    return None
