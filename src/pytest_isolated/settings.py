"""Resolved settings, and the parsing and validation of every user input.

Precedence, from strongest to weakest: the marker's ``timeout=``, then
``--isolated-timeout``, then the ``isolated_timeout`` ini key, then the default
(300 seconds).  ``0`` means "no time limit".  Every error names the bad value
and where it came from.

Parent side; imports nothing of the package.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from _pytest import nodes  # only the type of iter_markers_with_node()'s nodes

DEFAULT_TIMEOUT = 300.0

MARKER = "isolated"
FORKED_MARKER = "forked"
FORKED_PLUGIN = "pytest_forked"  # pytest_isolated.forked, registered by that name

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
HELP_START = (
    "how subprocesses start: 'auto' (default: pytest-forked's tests are forked on "
    "Linux, others prestarted), 'prestart' (the next interpreter is started while "
    "a group runs), 'spawn' (each when its group starts), or 'fork' (POSIX: "
    "forked from a template process that has collected the tests)"
)
HELP_PARALLEL = (
    "run up to N isolated groups at once ('auto': the usable cores; default 1)"
)
START_METHODS = ("auto", "prestart", "spawn", "fork")
MARKER_DOC = (
    "isolated(group=None, timeout=None, exclusive=False): run the test in a fresh "
    "Python subprocess. Tests with the same group name share one subprocess; "
    "timeout is the group's time limit in seconds; exclusive keeps the group from "
    "running beside other groups under --isolated-parallel."
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
    #: How interpreters start: one of START_METHODS.
    start: str = "auto"
    #: How many groups may run at once.
    parallel: int = 1


@dataclasses.dataclass(frozen=True)
class Request:
    """What one test's closest marker (or ``--isolated``) asks for.

    ``key`` identifies the subprocess: tests with equal keys share one.
    """

    key: tuple[str, str]
    name: str
    timeout: Timeout | None
    #: The group must not run beside other groups (``exclusive=True``).
    exclusive: bool = False
    #: Asked for in pytest-forked's spelling (``forked``, ``--forked``).
    forked: bool = False


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


def parse_parallel(value: object) -> int:
    """Parse a number of parallel groups: a whole number >= 1, or 'auto'."""
    problem = f"expected a whole number >= 1 or 'auto', got {value!r}"
    text = value.strip() if isinstance(value, str) else value
    if text == "auto":
        return usable_cores()
    if isinstance(text, int) and not isinstance(text, bool):
        number = text
    elif isinstance(text, str) and text.isascii() and text.isdigit():
        number = int(text)
    else:
        raise ValueError(problem)
    if number < 1:
        raise ValueError(problem)
    return number


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parallel_option(value: str) -> int:
    """argparse ``type=`` for ``--isolated-parallel``."""
    try:
        return parse_parallel(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _from_ini(config: pytest.Config, name: str, parse: Any, unset: Any = None) -> Any:
    """Parse ini key *name* (*unset* if not set); errors say where it was set."""
    raw = config.getini(name)
    if raw in (None, ""):
        return unset
    try:
        return parse(raw)
    except ValueError as exc:
        where = _ini_source(config, name, raw)
        raise pytest.UsageError(f"{where}: {exc}") from None


def _ini_source(config: pytest.Config, name: str, raw: object) -> str:
    """Where ini key *name* got its value: ``-o`` or the ini file."""
    overrides = config.getoption("override_ini", default=None) or []
    if any(str(o).split("=", 1)[0].strip() == name for o in overrides):
        return f"-o {name}={raw}"
    return f"{name} = {raw!r} in {config.inipath or 'the ini file'}"


def _parse_start(value: object) -> str:
    text = str(value).strip()
    if text not in START_METHODS:
        choices = ", ".join(START_METHODS)
        raise ValueError(f"expected one of {choices}, got {value!r}")
    return text


def resolve_settings(config: pytest.Config) -> Settings:
    """Resolve the session settings from the command line and the ini file."""
    isolate_all = bool(config.getoption("isolated"))
    disabled = bool(config.getoption("no_isolation"))
    if isolate_all and disabled:
        raise pytest.UsageError("--isolated and --no-isolation cannot be used together")
    # --forked (pytest-forked's spelling, absent under -p no:forked) is
    # --isolated, except that --no-isolation beats it: pytest-forked users keep
    # --forked in addopts, and --no-isolation is how one runs a debugger.
    isolate_all = isolate_all or bool(config.getoption("forked", default=False))

    option = config.getoption("isolated_timeout")
    ini = _from_ini(config, "isolated_timeout", parse_seconds, unset=_UNSET)
    if option is not _UNSET:
        timeout = Timeout(option, f"--isolated-timeout={_fmt(option)}")
    elif ini is not _UNSET:
        raw = config.getini("isolated_timeout")
        timeout = Timeout(ini, _ini_source(config, "isolated_timeout", raw))
    else:
        timeout = Timeout(DEFAULT_TIMEOUT, f"the default of {DEFAULT_TIMEOUT:g}s")
    start = config.getoption("isolated_start") or _from_ini(
        config, "isolated_start", _parse_start
    )
    parallel = config.getoption("isolated_parallel") or _from_ini(
        config, "isolated_parallel", parse_parallel
    )
    return Settings(
        isolate_all=isolate_all,
        disabled=disabled,
        timeout=timeout,
        start=start or "auto",
        parallel=parallel or 1,
    )


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


#: Default of ``--isolated-timeout``: tells "not given" from "given as 0".
_UNSET: Any = _Unset()


def _fmt(seconds: float | None) -> str:
    return "0" if seconds is None else f"{seconds:g}"


@dataclasses.dataclass(frozen=True)
class MarkerArgs:
    """The validated arguments of one ``isolated`` marker."""

    group: str | None
    timeout: Timeout | None
    exclusive: bool


def parse_marker(mark: pytest.Mark, nodeid: str) -> MarkerArgs:
    """Validate one ``isolated`` marker.

    Raises :class:`pytest.UsageError` naming the test, the argument and the value.
    """
    shown = _show_mark(mark)

    def fail(problem: str) -> pytest.UsageError:
        return pytest.UsageError(f"{nodeid}: invalid {shown}: {problem}")

    unknown = sorted(set(mark.kwargs) - {"group", "timeout", "exclusive"})
    if unknown:
        names = ", ".join(unknown)
        raise fail(
            f"unknown keyword argument {names} "
            "(expected group=, timeout= and exclusive=)"
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
    exclusive = mark.kwargs.get("exclusive", False)
    if not isinstance(exclusive, bool):
        raise fail(f"exclusive must be True or False, got {exclusive!r}")
    return MarkerArgs(group, timeout, exclusive)


def _show_mark(mark: pytest.Mark) -> str:
    parts = [repr(a) for a in mark.args]
    parts += [f"{k}={v!r}" for k, v in mark.kwargs.items()]
    return f"@pytest.mark.{mark.name}({', '.join(parts)})"


def resolve_request(item: pytest.Item, isolate_all: bool) -> Request | None:
    """Decide whether and how *item* is isolated; the closest marker wins.

    A marker with a group name joins that named group.  Without a name, the
    marker's level decides: on the function, a subprocess of its own; on a class
    or module, one subprocess for that class's or module's tests.  ``forked``
    (pytest-forked's marker) always means a subprocess of the test's own, and
    means nothing when the alias is disabled (``-p no:forked``).
    """
    forked = item.config.pluginmanager.has_plugin(FORKED_PLUGIN)
    closest = _closest(item, (MARKER, FORKED_MARKER) if forked else (MARKER,))
    if closest is None:
        if isolate_all:
            by_forked = forked and bool(item.config.getoption("forked", False))
            return Request(("node", item.nodeid), item.nodeid, None, forked=by_forked)
        return None
    node, mark = closest
    if mark.name == FORKED_MARKER:
        return Request(("node", item.nodeid), item.nodeid, None, forked=True)
    args = parse_marker(mark, item.nodeid)
    if args.group is not None:
        key, name = ("group", args.group), args.group
    else:
        key, name = ("node", node.nodeid), node.nodeid
    return Request(key, name, args.timeout, args.exclusive)


#: ``sys.path`` as it was before conftests changed it (set by the plugin's
#: ``pytest_load_initial_conftests`` wrapper, for this session).
STARTUP_PATH = pytest.StashKey[list[str]]()
#: The environment and working directory before the conftests were loaded.
STARTUP_PROCESS = pytest.StashKey[tuple[dict[str, str], str]]()

#: Each item's request, decided once (None: not isolated).
REQUEST_KEY = pytest.StashKey[Request | None]()


def request_of(item: pytest.Item, isolate_all: bool) -> Request | None:
    """:func:`resolve_request`, decided once per item and kept in its stash."""
    if REQUEST_KEY not in item.stash:
        item.stash[REQUEST_KEY] = resolve_request(item, isolate_all)
    return item.stash[REQUEST_KEY]


def _closest(
    item: pytest.Item, names: Iterable[str]
) -> tuple[nodes.Node, pytest.Mark] | None:
    wanted = set(names)
    for node, mark in item.iter_markers_with_node():
        if mark.name in wanted:
            return node, mark
    return None
