"""Every use of a private pytest or CPython API lives here, each with its reason.

Public API is used everywhere else.  These are needed because pytest exposes
no public way to do the same thing; each is small and has been stable across
pytest 8.0 - 9.2.
"""

from __future__ import annotations

import contextlib
import subprocess
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from _pytest._code.code import (
    ReprEntryNative,
    ReprExceptionInfo,
    ReprFileLocation,
    ReprTraceback,
)
from _pytest.skipping import evaluate_xfail_marks


def interpreter_flags() -> list[str]:
    """The ``-W``/``-X``/``-O``... flags this interpreter was started with.

    multiprocessing uses the same private helper to start its spawned children
    like the parent.
    """
    return list(subprocess._args_from_interpreter_flags())  # type: ignore[attr-defined]


def teardown_parent_stack(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Tear down the parent's fixtures that *nextitem* does not need.

    An isolated test never sets anything up in the parent, but an earlier
    in-process test may have left module or session fixtures on the parent's
    setup stack on the assumption that the isolated test would use them.  pytest
    would tear them down in the isolated test's teardown; without this the next
    in-process test fails with "previous item was not torn down properly"
    (pytest-forked #67).  The setup stack has no public API.
    """
    item.session._setupstate.teardown_exact(nextitem)


def capture_teardown_output(item: pytest.Item) -> AbstractContextManager[None]:
    """Capture what the parent's fixture teardown prints, as a report section.

    pytest captures a teardown through its capture plugin's hook wrapper; the
    parent's teardown in an isolated test's slot runs outside that hook (the
    other teardown hooks expect a setup that never ran in the parent), so the
    plugin's context manager is used directly.
    """
    capman = item.config.pluginmanager.getplugin("capturemanager")
    if capman is None:
        return contextlib.nullcontext()
    manager: AbstractContextManager[None] = capman.item_capture("teardown", item)
    return manager


def base_temp(config: pytest.Config) -> Path:
    """The parent's base temporary directory (created on first use).

    Children get folders inside it, as pytest-xdist's workers do, so that they
    never prune or reuse the parent's ``tmp_path`` folders.  The factory is
    only public as a fixture, which a plugin hook cannot request.
    """
    factory = config._tmp_path_factory  # type: ignore[attr-defined]
    return Path(factory.getbasetemp())


def xfail_reason(item: pytest.Item) -> tuple[str, bool] | None:
    """(reason, has raises=) of an xfail mark that applies to *item*, or None.

    Used to report a crashed test marked xfail as XFAIL.  pytest's evaluation
    of xfail conditions (strings, booleans, ``run=``) is not public.
    """
    if item.config.option.runxfail:
        return None
    xfailed = evaluate_xfail_marks(item)
    if xfailed is None:
        return None
    return xfailed.reason, xfailed.raises is not None


def exception_repr(path: str, lineno: int, message: str, lines: list[str]) -> object:
    """A longrepr with a crash location and a message, but no Python frame.

    pytest's short summary shows ``longrepr.reprcrash.message``, and reports
    cross to xdist's controller intact only with pytest's own repr classes;
    there is no public constructor for them.
    """
    return ReprExceptionInfo(
        reprtraceback=ReprTraceback([ReprEntryNative(lines)], None, "native"),
        reprcrash=ReprFileLocation(path, lineno, message),
    )
