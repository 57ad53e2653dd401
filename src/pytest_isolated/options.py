"""Every command-line option and ini key, and the one rule that resolves them.

Each setting that has both spellings is an :class:`Option`: its flag, its ini
key (the option's ``dest``), its help text and a parser that raises
:class:`ValueError` with a message fit for the user.  :func:`add_options`
registers them all; :func:`lookup` resolves one: the command line wins over
the ini file (or ``-o``), and the answer says where the value came from, so
that every message about a bad or effective value can name its source.

Imported at start-up on both sides of the process boundary: the child parses
the parent's command line, so it knows every option too.  Nothing here
imports the parent side.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from collections.abc import Callable
from typing import Any

import pytest

from pytest_isolated.platform.units import format_bytes, parse_cpu, parse_memory
from pytest_isolated.warning_types import IsolatedDeprecationWarning

DEFAULT_TIMEOUT = 300.0
DEFAULT_BISECT_BUDGET = 300.0
START_METHODS = ("auto", "prestart", "spawn", "fork")
#: ``--isolated-parallel=auto``: kept as such until the settings are resolved.
AUTO = "auto"
CHECK_STATE_MODES = ("warn", "fail")

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
HELP_MEM_LIMIT = (
    "memory each isolated group may allocate, e.g. 512M or 2G (0: no limit, "
    "the default)"
)
HELP_CPU_LIMIT = "CPU seconds each isolated group may use (0: no limit, the default)"
HELP_JUNIT_USAGE = (
    "add isolated_peak_rss_mib and isolated_cpu_s properties to each isolated "
    "test in JUnit XML (default: false)"
)
HELP_USAGE = (
    "after the summary, show the N isolated groups that used the most memory "
    "and CPU, and how many subprocesses ran (N: 10 when not given; 0: all)"
)
HELP_CHECK_STATE = (
    "report the tests run in this process that leave its state changed "
    "(environment, cwd, sys.path, hooks, signal handlers, threads, child "
    "processes, open files, temp files, ...): 'warn' (the bare flag) lists them, "
    "'fail' also makes each an error at its teardown (default: off)"
)
HELP_BISECT = (
    "after the session, rerun each failed test alone in a fresh subprocess, and "
    "if it passes there, find the earlier tests after which it fails"
)
HELP_BISECT_BUDGET = (
    "the longest the bisect may take, in seconds; 0 means no limit "
    f"(default: {DEFAULT_BISECT_BUDGET:g})"
)
HELP_BISECT_JSON = (
    "write the bisect's verdicts to this JSON file (implies --isolated-bisect)"
)


# -- parsers: each raises ValueError with a message fit for the user ----------


def parse_seconds(value: object) -> float | None:
    """A number of seconds >= 0 (a number or a numeric string); 0: None."""
    problem = f"expected a number of seconds, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(problem)
    try:
        seconds = float(value.strip() if isinstance(value, str) else value)
    except ValueError:
        raise ValueError(problem) from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"expected a number of seconds >= 0, got {value!r}")
    return seconds or None


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_parallel(value: object) -> int:
    """A number of parallel groups: a whole number >= 1, or 'auto'."""
    problem = f"expected a whole number >= 1 or 'auto', got {value!r}"
    text = value.strip() if isinstance(value, str) else value
    if text == AUTO:
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


def parse_parallel_setting(value: object) -> int | str:
    """:func:`parse_parallel`, with ``auto`` kept as :data:`AUTO`."""
    if isinstance(value, str) and value.strip() == AUTO:
        return AUTO
    return parse_parallel(value)


def one_of(choices: tuple[str, ...]) -> Callable[[object], str]:
    """A parser that accepts one of *choices*."""

    def parse(value: object) -> str:
        text = str(value).strip()
        if text not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}, got {value!r}")
        return text

    return parse


def parse_count(value: object) -> int:
    """A whole number >= 0."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return text
    if isinstance(text, str) and text.isascii() and text.isdigit():
        return int(text)
    raise ValueError(f"expected a whole number >= 0, got {value!r}")


def parse_bool(value: object) -> bool:
    """An ini switch: true/false, yes/no, on/off, 1/0."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def argparse_type(parse: Callable[[object], Any]) -> Callable[[str], Any]:
    """*parse* as an argparse ``type=``: its ValueError becomes a usage error."""

    def convert(value: str) -> Any:
        try:
            return parse(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def show_seconds(seconds: object) -> str:
    return "0" if seconds is None else f"{seconds:g}"


def show_size(size: object) -> str:
    return "0" if size is None else format_bytes(float(size)).replace(" ", "")  # type: ignore[arg-type]


# -- the table ------------------------------------------------------------------


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


@dataclasses.dataclass(frozen=True)
class Option:
    """One setting with a command-line flag and (usually) an ini key."""

    flag: str
    help: str
    parse: Callable[[object], Any]
    metavar: str | None = None
    #: How a parsed value is shown in ``--flag=VALUE`` of a message.
    show: Callable[[object], str] = str
    #: The ini key has the option's name (``--isolated-x`` -> ``isolated_x``).
    ini: bool = True
    #: argparse keywords beyond the usual ones (``nargs``, ``const``).
    extra: tuple[tuple[str, Any], ...] = ()

    @property
    def dest(self) -> str:
        return _dest(self.flag)


#: Told apart from every value a user can give: "not on the command line".
UNSET: Any = type("Unset", (), {"__repr__": lambda self: "<unset>"})()

OPTIONS = {
    option.dest: option
    for option in (
        Option(
            "--isolated-timeout", HELP_TIMEOUT, parse_seconds, "SECONDS", show_seconds
        ),
        Option("--isolated-start", HELP_START, one_of(START_METHODS), "METHOD"),
        Option("--isolated-parallel", HELP_PARALLEL, parse_parallel_setting, "N"),
        Option("--isolated-mem-limit", HELP_MEM_LIMIT, parse_memory, "SIZE", show_size),
        Option(
            "--isolated-cpu-limit", HELP_CPU_LIMIT, parse_cpu, "SECONDS", show_seconds
        ),
        Option(
            "--isolated-check-state",
            HELP_CHECK_STATE,
            one_of(CHECK_STATE_MODES),
            "warn|fail",
            extra=(("nargs", "?"), ("const", "warn")),
        ),
        Option(
            "--isolated-usage",
            HELP_USAGE,
            parse_count,
            "N",
            extra=(("nargs", "?"), ("const", 10)),
        ),
        Option("--isolated-bisect", HELP_BISECT, parse_bool, extra=(("nargs", 0),)),
        Option(
            "--isolated-bisect-budget",
            HELP_BISECT_BUDGET,
            parse_seconds,
            "SECONDS",
            show_seconds,
        ),
        Option("--isolated-bisect-json", HELP_BISECT_JSON, str, "PATH", ini=False),
    )
}
#: pytest-isolated 0.6's spellings, still accepted with a deprecation warning:
#: our setting -> 0.6's flag (its ini key is the flag's name, as ours).
ALIASES = {"isolated_parallel": "--isolated-numprocesses"}
#: Ini keys without a command-line flag: (name, help, type).
INI_ONLY = (("isolated_junit_usage", HELP_JUNIT_USAGE),)


def add_options(parser: pytest.Parser) -> None:
    """Register every option and ini key in one option group."""
    group = parser.getgroup("isolated", "run tests in fresh subprocesses")
    group.addoption(
        "--isolated", action="store_true", dest="isolated", help=HELP_ISOLATED
    )
    group.addoption(
        "--no-isolation",
        action="store_true",
        dest="no_isolation",
        help=HELP_NO_ISOLATION,
    )
    for option in OPTIONS.values():
        how: dict[str, Any] = dict(option.extra)
        if how.get("nargs") == 0:  # a switch: store_const True
            how = {"action": "store_const", "const": True}
        else:
            how["type"] = argparse_type(option.parse)
            how["metavar"] = option.metavar
        group.addoption(
            option.flag, dest=option.dest, default=UNSET, help=option.help, **how
        )
        if option.ini:
            parser.addini(option.dest, option.help, default=None)
    for name, text in INI_ONLY:
        parser.addini(name, text, default=None)
    for dest, old in ALIASES.items():
        option, text = OPTIONS[dest], f"deprecated: use {OPTIONS[dest].flag}"
        group.addoption(
            old,
            dest=_dest(old),
            default=UNSET,
            type=argparse_type(option.parse),
            metavar=option.metavar,
            help=text,
        )
        parser.addini(_dest(old), f"deprecated: use {dest}", default=None)


@dataclasses.dataclass(frozen=True)
class Found:
    """A setting's value and where it came from (``--flag=V``, the ini file, ``-o``)."""

    value: Any
    source: str


def lookup(config: pytest.Config, dest: str) -> Found | None:
    """The setting *dest*: the command line, else the ini file, else None.

    pytest-isolated 0.6's spelling of a setting (:data:`ALIASES`) comes after
    ours of the same kind, with a warning that names ours.  A bad ini value
    is a :class:`pytest.UsageError` that names the value and where it was set
    (command-line values were checked by argparse).
    """
    option = OPTIONS.get(dest)
    if option is None:
        return from_ini(config, dest, parse_bool)
    old = ALIASES.get(dest)
    flags = [option.flag] if old is None else [option.flag, old]
    for flag in flags:
        value = config.getoption(_dest(flag), UNSET)
        if value is not UNSET:
            _warn_alias(config, flag, option.flag)
            shown = flag if value is True else f"{flag}={option.show(value)}"
            return Found(value, shown)
    if not option.ini:
        return None
    found = from_ini(config, dest, option.parse)
    if found is None and old is not None:
        found = from_ini(config, _dest(old), option.parse)
        if found is not None:
            _warn_alias(config, _dest(old), dest)
    return found


def _warn_alias(config: pytest.Config, used: str, ours: str) -> None:
    if used == ours:
        return
    message = f"{used} is pytest-isolated 0.6's name for {ours}: use {ours}"
    try:
        config.issue_config_time_warning(IsolatedDeprecationWarning(message), 3)
    except IsolatedDeprecationWarning:  # -W error: a usage error, not a crash
        raise pytest.UsageError(message) from None


def from_ini(
    config: pytest.Config, name: str, parse: Callable[[object], Any]
) -> Found | None:
    """Ini key *name*, parsed (None if unset); errors say where it was set."""
    raw = config.getini(name)
    if raw in (None, ""):
        return None
    overrides = config.getoption("override_ini", default=None) or []
    if any(str(o).split("=", 1)[0].strip() == name for o in overrides):
        source = f"-o {name}={raw}"
    else:
        source = f"{name} = {raw!r} in {config.inipath or 'the ini file'}"
    try:
        return Found(parse(raw), source)
    except ValueError as exc:
        raise pytest.UsageError(f"{source}: {exc}") from None


def value(config: pytest.Config, dest: str, default: Any = None) -> Any:
    """The value of :func:`lookup`, or *default*."""
    found = lookup(config, dest)
    return default if found is None else found.value
