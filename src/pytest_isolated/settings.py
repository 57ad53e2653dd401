"""Resolved settings, and the parsing and validation of every user input.

Precedence, from strongest to weakest: the marker's ``timeout=``, then
``--isolated-timeout``, then the ``isolated_timeout`` ini key, then the default
(300 seconds).  ``0`` means "no time limit".  The memory and CPU limits
(``mem_limit=``/``cpu_limit=``, ``--isolated-mem-limit``/``--isolated-cpu-limit``,
``isolated_mem_limit``/``isolated_cpu_limit``) are resolved the same way, and
have no default.  Every error names the bad value and where it came from.

Parent side; imports only :mod:`pytest_isolated.platform.resources` (for parsing).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from pytest_isolated.platform.resources import format_bytes, parse_cpu, parse_memory

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
HELP_MEM_LIMIT = (
    "memory each isolated group may allocate, e.g. 512M or 2G (0: no limit, "
    "the default)"
)
HELP_CPU_LIMIT = "CPU seconds each isolated group may use (0: no limit, the default)"
#: The ini switch of the usage properties in JUnit XML.
JUNIT_USAGE_INI = "isolated_junit_usage"
HELP_JUNIT_USAGE = (
    "add isolated_peak_rss_mib and isolated_cpu_s properties to each isolated "
    "test in JUnit XML (default: true)"
)
HELP_PARALLEL = (
    "run up to N isolated groups at once ('auto': the usable cores; default 1)"
)
START_METHODS = ("auto", "prestart", "spawn", "fork")
MARKER_DOC = (
    "isolated(group=None, timeout=None, exclusive=False, mem_limit=None, "
    "cpu_limit=None): run the test in a fresh Python subprocess. Tests with the "
    "same group name share one subprocess; timeout is the group's time limit in "
    "seconds; exclusive keeps the group from running beside other groups under "
    "--isolated-parallel; mem_limit (e.g. '512M') and cpu_limit (seconds) limit "
    "the memory and CPU time the group may use."
)


@dataclasses.dataclass(frozen=True)
class Timeout:
    """A time limit and a human-readable account of where it came from."""

    seconds: float | None  # None: no limit
    source: str

    @property
    def value(self) -> float | None:
        return self.seconds

    def describe(self) -> str:
        limit = "no limit" if self.seconds is None else f"{self.seconds:g}s"
        return f"{limit} (from {self.source})"


@dataclasses.dataclass(frozen=True)
class Limit:
    """A memory (bytes) or CPU (seconds) limit, and where it came from."""

    value: float | None  # None: no limit
    source: str

    def memory(self) -> str:
        assert self.value is not None
        return format_bytes(self.value)

    def cpu(self) -> str:
        assert self.value is not None
        return f"{self.value:g} s"


#: What a group's memory or CPU is limited to when nothing says.
NO_LIMIT = Limit(None, "no limit")


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
    timeout: Timeout | None
    #: The group must not run beside other groups (``exclusive=True``).
    exclusive: bool = False
    #: Asked for in pytest-forked's spelling (``forked``, ``--forked``).
    forked: bool = False
    mem_limit: Limit | None = None
    cpu_limit: Limit | None = None


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
    return _option_type(parse_seconds)(value)  # type: ignore[no-any-return]


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


#: ``--isolated-parallel=auto``, kept as such until the settings are resolved.
AUTO = "auto"


def _parse_parallel_setting(value: object) -> int | str:
    """:func:`parse_parallel`, with ``auto`` kept as :data:`AUTO`."""
    if isinstance(value, str) and value.strip() == AUTO:
        return AUTO
    return parse_parallel(value)


def parallel_option(value: str) -> int | str:
    """argparse ``type=`` for ``--isolated-parallel``."""
    return _option_type(_parse_parallel_setting)(value)  # type: ignore[no-any-return]


def _option_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """*parse* as an argparse ``type=``: its ValueError becomes a usage error."""

    def convert(value: str) -> Any:
        try:
            return parse(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


memory_option = _option_type(parse_memory)
cpu_option = _option_type(parse_cpu)


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

    timeout = _resolve_limit(
        config, "isolated_timeout", parse_seconds, _fmt, Timeout
    ) or Timeout(DEFAULT_TIMEOUT, f"the default of {DEFAULT_TIMEOUT:g}s")
    mem_limit = _resolve_limit(config, "isolated_mem_limit", parse_memory, _fmt_size)
    cpu_limit = _resolve_limit(config, "isolated_cpu_limit", parse_cpu, _fmt)
    start = config.getoption("isolated_start") or _from_ini(
        config, "isolated_start", _parse_start
    )
    parallel = config.getoption("isolated_parallel")
    if parallel is None:
        parallel = _from_ini(config, "isolated_parallel", _parse_parallel_setting)
    return Settings(
        isolate_all=isolate_all,
        disabled=disabled,
        timeout=timeout,
        start=start or "auto",
        parallel=usable_cores() if parallel == AUTO else parallel or 1,
        parallel_auto=parallel == AUTO,
        mem_limit=mem_limit or NO_LIMIT,
        cpu_limit=cpu_limit or NO_LIMIT,
    )


L = TypeVar("L", Limit, Timeout)


def _resolve_limit(
    config: pytest.Config,
    dest: str,
    parse: Callable[[object], float | None],
    show: Callable[[float | None], str],
    kind: Callable[[float | None, str], L] = Limit,  # type: ignore[assignment]
) -> L | None:
    """The limit the command line gives, else the ini file, else None."""
    option = config.getoption(dest)
    if option is not _UNSET:
        return kind(option, f"--{dest.replace('_', '-')}={show(option)}")
    ini = _from_ini(config, dest, parse, unset=_UNSET)
    if ini is _UNSET:
        return None
    return kind(ini, _ini_source(config, dest, config.getini(dest)))


class _Unset:
    def __repr__(self) -> str:
        return "<unset>"


#: Default of ``--isolated-timeout``: tells "not given" from "given as 0".
_UNSET: Any = _Unset()


def _fmt(seconds: float | None) -> str:
    return "0" if seconds is None else f"{seconds:g}"


def _fmt_size(size: float | None) -> str:
    return "0" if size is None else format_bytes(size).replace(" ", "")


@dataclasses.dataclass(frozen=True)
class MarkerArgs:
    """The validated arguments of one ``isolated`` marker."""

    group: str | None
    timeout: Timeout | None
    exclusive: bool
    mem_limit: Limit | None = None
    cpu_limit: Limit | None = None


_MARKER_KWARGS = ("group", "timeout", "exclusive", "mem_limit", "cpu_limit")


def parse_marker(mark: pytest.Mark, nodeid: str) -> MarkerArgs:
    """Validate one ``isolated`` marker.

    Raises :class:`pytest.UsageError` naming the test, the argument and the value.
    """
    shown = _show_mark(mark)

    def fail(problem: str) -> pytest.UsageError:
        return pytest.UsageError(f"{nodeid}: invalid {shown}: {problem}")

    unknown = sorted(set(mark.kwargs) - set(_MARKER_KWARGS))
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
        timeout = Timeout(seconds, f"{shown} on {nodeid}")
    exclusive = mark.kwargs.get("exclusive", False)
    if not isinstance(exclusive, bool):
        raise fail(f"exclusive must be True or False, got {exclusive!r}")
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
    return MarkerArgs(group, timeout, exclusive, *limits)


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
    return Request(
        key,
        name,
        args.timeout,
        args.exclusive,
        mem_limit=args.mem_limit,
        cpu_limit=args.cpu_limit,
    )


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
