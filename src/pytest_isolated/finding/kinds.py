"""The kinds of process state a test can leave changed, as data.

:class:`ProcessState` lists each kind (the environment, the working
directory, ``sys.path``, hooks, signal handlers, threads, child processes,
file descriptors, files in the temporary directory, ...) with a cheap get
function, how two values compare and how a change reads, in the manner of
CPython's ``test.libregrtest.save_env``.  :func:`compare` turns two
snapshots into :class:`Change` records.  Used by
:mod:`pytest_isolated.finding.statecheck`; imports only ``stateprobes``.
"""

from __future__ import annotations

import dataclasses
import faulthandler
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, NamedTuple

from pytest_isolated.finding.readers import (
    _DECIMAL_FIELDS,
    _asyncio,
    _Children,
    _cwd,
    _decimal,
    _disabled_loggers,
    _environ,
    _fd_dir,
    _FileDescriptors,
    _locale,
    _logging_disable,
    _meta_path,
    _path_hooks,
    _root_handlers,
    _root_level,
    _short,
    _showwarning,
    _signals,
    _socket_timeout,
    _sys_path,
    _TempDir,
    _thread_hook,
    _threads,
    _umask,
    _warning_filters,
)

# -- the kinds of state ---------------------------------------------------------

#: How two values of a kind are compared (see :func:`compare`).
VALUE = "value"  # one value, compared whole
MAPPING = "mapping"  # a dict: keys added, removed or changed
GROWING = "growing"  # a frozenset: only members added count (threads, fds, ...)

Snapshot = tuple[Any, ...]


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


#: A key absent from a mapping, or the "before" of a member added to a set.
MISSING: Any = _Missing()


class _Unreadable:
    def __repr__(self) -> str:
        return "<unreadable>"


#: A kind whose get function raised: not compared.
UNREADABLE: Any = _Unreadable()


@dataclasses.dataclass(frozen=True)
class Kind:
    """One kind of process state: how to read it and how to describe a change."""

    name: str
    get: Callable[[], Any]
    shape: str
    #: ``show(key, before, after)``: one difference in a few words (the key is
    #: None for a VALUE, the member of a GROWING set with ``before`` MISSING).
    show: Callable[[Any, Any, Any], str]
    #: GROWING only: whether an added member counts (a zombie does not).
    keep: Callable[[Any], bool] | None = None


class ProcessState:
    """Every kind of process-wide state the check compares, as data.

    Each get function returns a cheap, comparable value: identities, tuples,
    frozensets, no deep copies; a test that changes nothing costs a few tens
    of microseconds per snapshot (``benchmarks/statecheck_bench.py``).
    """

    def __init__(self, *, basetemp: object = None, warnings_kept: bool = True) -> None:
        """*basetemp*: pytest's ``--basetemp``, left out of the temp files
        too; *warnings_kept*: pytest's warnings plugin is on, and puts the
        warning filters back after every test (``catch_warnings`` around the
        protocol), so that a test cannot leave them changed."""
        temp = _TempDir(tempfile.gettempdir(), basetemp)
        children = _Children()
        fd_dir = _fd_dir()
        fds = None if fd_dir is None else _FileDescriptors(fd_dir)
        kinds = [
            Kind("os.environ", _environ, MAPPING, _show_environ),
            Kind("cwd", _cwd, VALUE, _show_value(repr)),
            Kind("sys.path", _sys_path, VALUE, _show_sequence(repr)),
            Kind("sys.meta_path", _meta_path, VALUE, _seq_names),
            Kind("sys.path_hooks", _path_hooks, VALUE, _seq_names),
            Kind("sys.stdin", lambda: sys.stdin, VALUE, _show_value(_stream)),
            Kind("sys.stdout", lambda: sys.stdout, VALUE, _show_value(_stream)),
            Kind("sys.stderr", lambda: sys.stderr, VALUE, _show_value(_stream)),
            Kind("sys.excepthook", lambda: sys.excepthook, VALUE, _show_names),
            Kind("sys.displayhook", lambda: sys.displayhook, VALUE, _show_names),
            Kind("sys.unraisablehook", lambda: sys.unraisablehook, VALUE, _show_names),
            Kind("threading.excepthook", _thread_hook, VALUE, _show_names),
            Kind("signal handlers", _signals, MAPPING, _show_signal),
            Kind("root logger handlers", _root_handlers, VALUE, _seq_handlers),
            Kind("root logger level", _root_level, VALUE, _levels),
            Kind("logging.disable", _logging_disable, VALUE, _levels),
            Kind("disabled loggers", _disabled_loggers, MAPPING, _show_disabled),
            Kind("umask", _umask, VALUE, _show_value(lambda m: f"{m:03o}")),
            Kind("locale", _locale, VALUE, _show_locale),
            Kind("faulthandler", faulthandler.is_enabled, VALUE, _show_enabled),
            Kind("threads", _threads, GROWING, _show_thread),
            Kind(
                "child processes", children.get, GROWING, children.show, children.alive
            ),
            *([] if fds is None else [Kind("open fds", fds.get, GROWING, fds.show)]),
            Kind("temp files", temp.get, GROWING, temp.show),
            Kind("asyncio", _asyncio, VALUE, _show_asyncio),
            Kind("socket default timeout", _socket_timeout, VALUE, _show_value(repr)),
            Kind("decimal context", _decimal, VALUE, _show_decimal),
            *(
                []
                if warnings_kept
                else [
                    Kind("warnings.filters", _warning_filters, VALUE, _seq_filters),
                    Kind("warnings.showwarning", _showwarning, VALUE, _show_names),
                ]
            ),
        ]
        self.kinds: tuple[Kind, ...] = tuple(kinds)
        self._getters = tuple(kind.get for kind in self.kinds)

    def snapshot(self) -> Snapshot:
        try:
            return tuple([get() for get in self._getters])
        except Exception:  # noqa: BLE001 - a check must not break the session
            return tuple(_safely(get) for get in self._getters)


def _safely(get: Callable[[], Any]) -> Any:
    try:
        return get()
    except Exception:  # noqa: BLE001
        return UNREADABLE


class Change(NamedTuple):
    kind: str
    key: Hashable
    text: str


def compare(
    kinds: Sequence[Kind],
    before: Snapshot,
    after: Snapshot,
    allowed: Iterable[Snapshot] = (),
    required: Snapshot | None = None,
) -> list[Change]:
    """What differs between *before* and *after*, key by key.

    A difference does not count if the *after* value equals that of one of
    the *allowed* snapshots, nor, given *required*, unless it equals
    *required*'s.
    """
    others = tuple(allowed)
    changes: list[Change] = []
    for index, kind in enumerate(kinds):
        old, new = before[index], after[index]
        if old is new or old is UNREADABLE or new is UNREADABLE or old == new:
            continue
        alts = [other[index] for other in others if other[index] is not UNREADABLE]
        need = MISSING if required is None else required[index]
        if need is UNREADABLE:
            continue
        if kind.shape == VALUE:
            if new in alts or (required is not None and new != need):
                continue
            changes.append(Change(kind.name, None, _describe(kind, None, old, new)))
        elif kind.shape == MAPPING:
            for key in sorted(old.keys() | new.keys(), key=str):
                was, now = old.get(key, MISSING), new.get(key, MISSING)
                if was == now or any(now == alt.get(key, MISSING) for alt in alts):
                    continue
                if required is not None and now != need.get(key, MISSING):
                    continue
                changes.append(Change(kind.name, key, _describe(kind, key, was, now)))
        else:
            for member in sorted(new - old, key=str):
                if any(member in alt for alt in alts):
                    continue
                if required is not None and member not in need:
                    continue
                if kind.keep is not None and not kind.keep(member):
                    continue
                text = _describe(kind, member, MISSING, member)
                changes.append(Change(kind.name, member, text))
    return changes


def _describe(kind: Kind, key: Any, before: Any, after: Any) -> str:
    try:
        return kind.show(key, before, after)
    except Exception:  # noqa: BLE001 - a describer's bug must not hide the change
        shown = "" if key is None else f"{key!r}: "
        return f"{shown}{_short(repr(before))} -> {_short(repr(after))}"


# -- describers -------------------------------------------------------------------


def _name(obj: object) -> str:
    """A function's or class's dotted name; an instance's class."""
    if obj is None:
        return "None"
    qualname = getattr(obj, "__qualname__", None)
    if isinstance(qualname, str):
        module = getattr(obj, "__module__", None)
        return f"{module}.{qualname}" if module else qualname
    cls = type(obj)
    return f"<{cls.__module__}.{cls.__qualname__} object>"


def _stream(obj: object) -> str:
    name = getattr(obj, "name", None)
    shown = f" {name!r}" if isinstance(name, (str, int)) else ""
    return f"<{type(obj).__name__}{shown}>"


def _show_value(fmt: Callable[[Any], str]) -> Callable[[Any, Any, Any], str]:
    def show(key: object, before: Any, after: Any) -> str:
        return f"{_short(fmt(before))} -> {_short(fmt(after))}"

    return show


_show_names = _show_value(_name)


def _show_sequence(fmt: Callable[[Any], str]) -> Callable[[Any, Any, Any], str]:
    def show(key: object, before: Sequence[Any], after: Sequence[Any]) -> str:
        parts = []
        for verb, these, others in (
            ("added", after, before),
            ("removed", before, after),
        ):
            items = [fmt(x) for x in these if x not in others]
            if items:
                more = f" (and {len(items) - 3} more)" if len(items) > 3 else ""
                parts.append(f"{verb} {', '.join(_short(i) for i in items[:3])}{more}")
        return "; ".join(parts) or "reordered"

    return show


_seq_names = _show_sequence(_name)
_seq_handlers = _show_sequence(repr)


def _filter(entry: tuple[Any, ...]) -> str:
    """A warnings filter in ``-W`` syntax: action:message:category:module:lineno."""
    action, message, category, module, lineno = entry
    fields = [
        action,
        getattr(message, "pattern", message) or "",
        getattr(category, "__name__", str(category)),
        getattr(module, "pattern", module) or "",
        str(lineno or ""),
    ]
    return ":".join(fields).rstrip(":")


_seq_filters = _show_sequence(_filter)


def _show_environ(key: str | bytes, before: object, after: object) -> str:
    # Only the name: values may be secrets, and the report may be public.
    name = os.fsdecode(key)
    if before is MISSING:
        return f"added {name}"
    return f"removed {name}" if after is MISSING else f"changed {name}"


def _handler(value: object) -> str:
    if value is None:
        return "None (set outside Python)"
    if isinstance(value, int):
        return signal.Handlers(value).name
    return _name(value)


def _show_signal(signum: int, before: object, after: object) -> str:
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    return f"{name}: {_handler(before)} -> {_handler(after)}"


def _levels(key: object, before: int, after: int) -> str:
    return f"{logging.getLevelName(before)} -> {logging.getLevelName(after)}"


def _show_disabled(name: str, before: object, after: object) -> str:
    return f"disabled {name!r}" if before is MISSING else f"enabled {name!r} again"


def _show_locale(key: object, before: str, after: str) -> str:
    """Only the categories that changed, of a ``LC_CTYPE=...;LC_NUMERIC=...``."""

    def split(value: str) -> dict[str, str]:
        pairs = [p.partition("=") for p in value.split(";")]
        if not all(sep for _, sep, _ in pairs):
            return {"LC_ALL": value}
        return {name: setting for name, _, setting in pairs}

    old, new = split(before), split(after)
    if old.keys() != new.keys():
        return f"{_short(repr(before))} -> {_short(repr(after))}"
    return ", ".join(
        f"{name} {old[name]!r} -> {new[name]!r}"
        for name in old
        if old[name] != new[name]
    )


def _show_enabled(key: object, before: bool, after: bool) -> str:
    return "enabled -> disabled" if before else "disabled -> enabled"


def _show_thread(thread: threading.Thread, before: object, after: object) -> str:
    daemon = " (daemon)" if thread.daemon else ""
    return f"{thread.name!r}{daemon} still running"


def _show_asyncio(key: object, before: tuple[Any, Any], after: tuple[Any, Any]) -> str:
    def policy(value: object) -> str:
        return value if isinstance(value, str) else _name(value)

    parts = []
    if before[0] is not after[0]:
        parts.append(f"policy {policy(before[0])} -> {policy(after[0])}")
    if before[1] is not after[1]:
        parts.append(
            f"current loop {_short(repr(before[1]))} -> {_short(repr(after[1]))}"
        )
    return "; ".join(parts)


def _show_decimal(key: object, before: Sequence[Any], after: Sequence[Any]) -> str:
    return ", ".join(
        f"{field} {old!r} -> {new!r}"
        for field, old, new in zip(_DECIMAL_FIELDS, before, after, strict=True)
        if old != new
    )
