"""Resolved settings: the session's, and each test's marker.

Precedence, from strongest to weakest: the marker's ``timeout=``, then
``--isolated-timeout``, then the ``isolated_timeout`` ini key, then the default
(300 seconds).  ``0`` means "no time limit".  The memory and CPU limits
(``mem_limit=``/``cpu_limit=``, ``--isolated-mem-limit``/``--isolated-cpu-limit``,
``isolated_mem_limit``/``isolated_cpu_limit``) are resolved the same way, and
have no default.  The command line against the ini file is decided in one
place, :func:`pytest_isolated.options.lookup`; every error names the bad value
and where it came from.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pytest

from pytest_isolated import options
from pytest_isolated.options import (
    AUTO,
    DEFAULT_TIMEOUT,
    parse_seconds,
    usable_cores,
)
from pytest_isolated.platform.units import format_bytes, parse_cpu, parse_memory
from pytest_isolated.warning_types import IsolatedDeprecationWarning

if TYPE_CHECKING:
    from _pytest import nodes  # only the type of iter_markers_with_node()'s nodes

MARKER = "isolated"
FORKED_MARKER = "forked"
FORKED_PLUGIN = "pytest_forked"  # pytest_isolated.forked, registered by that name
MARKER_DOC = (
    "isolated(group=None, timeout=None, exclusive=False, mem_limit=None, "
    "cpu_limit=None): run the test in a fresh Python subprocess. Tests with the "
    "same group name share one subprocess; timeout is the group's time limit in "
    "seconds; exclusive keeps the group from running beside other groups under "
    "--isolated-parallel; mem_limit (e.g. '512M') and cpu_limit (seconds) limit "
    "the memory and CPU time the group may use."
)


@dataclasses.dataclass(frozen=True)
class Limit:
    """A time (seconds), memory (bytes) or CPU (seconds) limit, and its source."""

    value: float | None  # None: no limit
    source: str

    def describe(self) -> str:
        """The time limit as messages show it: ``5s (from --isolated-timeout=5)``."""
        limit = "no limit" if self.value is None else f"{self.value:g}s"
        return f"{limit} (from {self.source})"

    def memory(self) -> str:
        assert self.value is not None
        return format_bytes(self.value)


#: What a group's memory or CPU is limited to when nothing says.
NO_LIMIT = Limit(None, "no limit")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Session-wide settings, resolved once in ``pytest_configure``."""

    isolate_all: bool
    disabled: bool
    timeout: Limit
    #: How interpreters start: one of START_METHODS.
    start: str = "auto"
    #: How many groups may run at once.
    parallel: int = 1
    #: ``--isolated-parallel=auto``: also bounded by the memory available.
    parallel_auto: bool = False
    mem_limit: Limit = NO_LIMIT
    cpu_limit: Limit = NO_LIMIT


@dataclasses.dataclass(frozen=True)
class Request:
    """What one test's closest marker (or ``--isolated``) asks for.

    ``key`` identifies the subprocess: tests with equal keys share one.
    """

    key: tuple[str, str]
    name: str
    timeout: Limit | None
    #: The group must not run beside other groups (``exclusive=True``).
    exclusive: bool = False
    #: Asked for in pytest-forked's spelling (``forked``, ``--forked``).
    forked: bool = False
    mem_limit: Limit | None = None
    cpu_limit: Limit | None = None


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
    parallel = options.value(config, "isolated_parallel", 1)
    return Settings(
        isolate_all=isolate_all,
        disabled=disabled,
        timeout=_limit(config, "isolated_timeout")
        or Limit(DEFAULT_TIMEOUT, f"the default of {DEFAULT_TIMEOUT:g}s"),
        start=options.value(config, "isolated_start", "auto"),
        parallel=usable_cores() if parallel == AUTO else parallel,
        parallel_auto=parallel == AUTO,
        mem_limit=_limit(config, "isolated_mem_limit") or NO_LIMIT,
        cpu_limit=_limit(config, "isolated_cpu_limit") or NO_LIMIT,
    )


def _limit(config: pytest.Config, dest: str) -> Limit | None:
    found = options.lookup(config, dest)
    return None if found is None else Limit(found.value, found.source)


@dataclasses.dataclass(frozen=True)
class MarkerArgs:
    """The validated arguments of one ``isolated`` marker."""

    group: str | None
    timeout: Limit | None
    exclusive: bool
    mem_limit: Limit | None = None
    cpu_limit: Limit | None = None
    #: pytest-isolated 0.6's argument names used (each warned about).
    renamed: tuple[str, ...] = ()


_MARKER_KWARGS = ("group", "timeout", "exclusive", "mem_limit", "cpu_limit")
#: pytest-isolated 0.6's names of marker arguments, still accepted: old -> ours.
_RENAMED_KWARGS = {"serial": "exclusive"}


def parse_marker(mark: pytest.Mark, nodeid: str) -> MarkerArgs:
    """Validate one ``isolated`` marker.

    Raises :class:`pytest.UsageError` naming the test, the argument and the value.
    """
    shown = _show_mark(mark)

    def fail(problem: str) -> pytest.UsageError:
        return pytest.UsageError(f"{nodeid}: invalid {shown}: {problem}")

    unknown = sorted(set(mark.kwargs) - set(_MARKER_KWARGS) - set(_RENAMED_KWARGS))
    if unknown:
        names = ", ".join(unknown)
        expected = ", ".join(f"{k}=" for k in _MARKER_KWARGS)
        raise fail(f"unknown keyword argument {names} (expected {expected})")
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
        timeout = Limit(seconds, f"{shown} on {nodeid}")
    renamed = tuple(old for old in _RENAMED_KWARGS if old in mark.kwargs)
    exclusive = mark.kwargs.get("exclusive", mark.kwargs.get("serial", False))
    if not isinstance(exclusive, bool):
        name = "serial" if "exclusive" not in mark.kwargs else "exclusive"
        raise fail(f"{name} must be True or False, got {exclusive!r}")
    limits: list[Limit | None] = []
    for name, parse in (("mem_limit", parse_memory), ("cpu_limit", parse_cpu)):
        raw = mark.kwargs.get(name)
        if raw is None:
            limits.append(None)
            continue
        try:
            value = parse(raw)
        except ValueError as exc:
            raise fail(f"{name}: {exc}") from None
        limits.append(Limit(value, f"{shown} on {nodeid}"))
    mem_limit, cpu_limit = limits
    return MarkerArgs(group, timeout, exclusive, mem_limit, cpu_limit, renamed)


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
    args = None  # a bad marker is an error, skipped or not
    if closest is not None and closest[1].name == MARKER:
        args = parse_marker(closest[1], item.nodeid)
    if will_not_run(item):
        return None  # pytest's process reports the skip, as without isolation
    if closest is None:
        if isolate_all:
            by_forked = forked and bool(item.config.getoption("forked", False))
            return Request(("node", item.nodeid), item.nodeid, None, forked=by_forked)
        return None
    node = closest[0]
    if args is None:  # pytest-forked's marker
        return Request(("node", item.nodeid), item.nodeid, None, forked=True)
    for old in args.renamed:
        new = _RENAMED_KWARGS[old]
        message = f"{old}= is pytest-isolated 0.6's name for {new}=: use {new}="
        try:
            item.warn(IsolatedDeprecationWarning(message))
        except IsolatedDeprecationWarning as exc:  # -W error: a usage error
            raise pytest.UsageError(f"{item.nodeid}: {exc}") from None
    if args.group is not None:
        key, name = ("group", args.group), args.group
    else:
        key, name = ("node", node.nodeid), node.nodeid
    return Request(
        key,
        name,
        args.timeout,
        args.exclusive,
        mem_limit=args.mem_limit,
        cpu_limit=args.cpu_limit,
    )


def will_not_run(item: pytest.Item) -> bool:
    """Whether *item*'s marks already decide, in this process, that it will
    not run: ``skip``, or ``skipif`` / ``xfail(run=False)`` whose conditions
    are booleans, one of them true.  A string condition is evaluated where the
    test runs (it may read the process's state), so it decides nothing here.
    """
    config = item.config
    if not config.pluginmanager.has_plugin("skipping"):
        return False  # -p no:skipping: marks do nothing anywhere
    if any(True for _ in item.iter_markers(name="skip")):
        return True
    kinds = ["skipif"]
    if not config.getoption("runxfail", False):
        kinds.append("xfail")
    for kind in kinds:
        for mark in item.iter_markers(name=kind):
            if kind == "xfail" and mark.kwargs.get("run", True):
                continue
            conditions = mark.args or (mark.kwargs.get("condition", True),)
            if all(isinstance(c, bool) for c in conditions) and any(conditions):
                return True
    return False


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


def start_method(asked: str, forked: bool) -> str:
    """How a group's children start ("fork", "prestart" or "spawn"), for the
    start method *asked*; *forked*: the group asked in pytest-forked's
    spelling."""
    if asked == "auto":
        # pytest-forked's tests fork, where forking is the platform's way.
        wanted = forked and sys.platform.startswith("linux")
        asked = "fork" if wanted else "prestart"
    if asked == "fork" and not hasattr(os, "fork"):
        return "prestart"
    return asked


def forks_from_the_start(config: pytest.Config, settings: Settings) -> bool:
    """Whether the session's tests are forked (``--forked``, or ``--isolated``
    with ``--isolated-start=fork``), as known before the collection (a test's
    own ``isolated`` marker may still choose its group's way)."""
    if not settings.isolate_all or config.option.collectonly:
        return False
    by_forked = config.pluginmanager.has_plugin(FORKED_PLUGIN) and bool(
        config.getoption("forked", False)
    )
    return start_method(settings.start, by_forked) == "fork"
