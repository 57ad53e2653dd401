"""Every use of a private API of pytest's or CPython's lives here.

Public API is used everywhere else.  Each function says why no public one
serves; each is small and has been stable across pytest 8.0 - 9.2.  Imported
on both sides of the process boundary: it imports no other module of ours.
Another plugin's private API is used only by that plugin's adapter, the one
module that talks to it (``adapters/<plugin>.py``), with the same kind of
comment.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import types
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

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
    __tracebackhide__ = True
    item.session._setupstate.teardown_exact(nextitem)


def locate_interrupt(
    config: pytest.Config, path: str, lineno: int, message: str
) -> None:
    """The location the terminal prints for a KeyboardInterrupt: where a test
    raised it in a child, not where the parent raised it again.  The terminal
    reporter keeps the interrupt's repr to print its crash line at the end
    (``_keyboardinterrupt_memo``), with no public way to give it another."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    memo = getattr(reporter, "_keyboardinterrupt_memo", None)
    if memo is not None and getattr(memo, "reprcrash", None) is not None:
        memo.reprcrash = ReprFileLocation(path, lineno, message)


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


def base_temp(config: pytest.Config) -> Path | None:
    """The parent's base temporary directory (created on first use), or None
    under ``-p no:tmpdir``.

    Children get folders inside it, as pytest-xdist's workers do, so that they
    never prune or reuse the parent's ``tmp_path`` folders.  The factory is
    only public as a fixture, which a plugin hook cannot request.
    """
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is None:
        return None
    return Path(factory.getbasetemp())


def set_basetemp(config: pytest.Config, path: Path) -> None:
    """In a fork: make ``tmp_path`` folders under *path*, not the template's.

    pytest empties a given basetemp on first use; forks sharing the
    template's would delete each other's folders.  The factory has no public
    way to be given another basetemp.
    """
    factory = getattr(config, "_tmp_path_factory", None)
    if factory is not None:
        factory._given_basetemp = path
        factory._basetemp = None


def set_cache_dir(config: pytest.Config, path: Path) -> None:
    """In a fork: the ``cache`` fixture's folder of its own, as a spawned
    child has; ``Cache`` takes its folder only when it is made."""
    cache = getattr(config, "cache", None)
    if cache is not None:
        cache._cachedir = path


def known_options(early_config: pytest.Config) -> argparse.Namespace:
    """The options pytest knows while its initial conftests load, before
    ``config.option`` is filled (after them): ``known_args_namespace``, the
    namespace plugins such as pytest-cov read there, is not public."""
    namespace: argparse.Namespace = early_config.known_args_namespace
    return namespace


def disable_early_option(early_config: pytest.Config, dest: str) -> None:
    """Unset an option before ``pytest_configure``: plugins such as pytest-cov
    act on ``known_args_namespace`` while the initial conftests load, before
    ``config.option`` exists; that namespace is not public."""
    namespace = early_config.known_args_namespace
    if getattr(namespace, dest, None):
        setattr(namespace, dest, None)


def collection_argument_path(config: pytest.Config, arg: str) -> Path | None:
    """The file or directory a command-line argument names, as pytest's
    collection resolves it (``path/to/test_x.py::test_y``, ``--pyargs`` module
    names), or None if it names none.

    A child must collect from the parent's own arguments: a node id outside
    the rootdir is relative to the argument it was found under.  No public
    API resolves an argument; ``resolve_collection_argument`` took no index
    and returned a tuple before pytest 8.4.
    """
    from _pytest import main

    resolve: Any = main.resolve_collection_argument
    options: dict[str, Any] = {"as_pypath": bool(config.getoption("pyargs", False))}
    with contextlib.suppress(ValueError, KeyError):
        namespace = config.getini("consider_namespace_packages")
        options["consider_namespace_packages"] = bool(namespace)
    where = config.invocation_params.dir
    pypath = {"as_pypath": options["as_pypath"]}
    for positional, named in (((0,), options), ((), options), ((), pypath)):
        try:
            found = resolve(where, arg, *positional, **named)
        except TypeError:
            continue
        except Exception:  # noqa: BLE001 - pytest's own error, given in the parent
            return None
        path = found[0] if isinstance(found, tuple) else getattr(found, "path", None)
        return path if isinstance(path, Path) else None
    return None


def set_nodeid(item: pytest.Item, nodeid: str) -> None:
    """Give *item* another node id, as pytest-xdist's workers do under
    ``--dist loadgroup`` (``@<xdist_group>`` appended); there is no setter."""
    item._nodeid = nodeid  # type: ignore[attr-defined]


def current_frames() -> dict[int, types.FrameType]:
    """Every thread's current frame, for a stack dump; CPython's only way."""
    return sys._current_frames()


def log_file_handler(config: pytest.Config) -> Any:
    """The ``--log-file`` handler of pytest's logging plugin, or None: a
    child's log-file lines are written through the parent's (private)."""
    plugin = config.pluginmanager.get_plugin("logging-plugin")
    return getattr(plugin, "log_file_handler", None)


def redirect_faulthandler_plugin(config: pytest.Config) -> None:
    """In a fork: let pytest's ``faulthandler_timeout`` dumps go to the
    fork's stderr; its plugin kept a copy of the template's (a private key)."""
    from _pytest import faulthandler as plugin

    key = getattr(plugin, "fault_handler_stderr_fd_key", None)
    if key is not None and key in config.stash:
        with contextlib.suppress(OSError):
            os.dup2(2, config.stash[key])


def set_attribute(obj: object, name: str, value: object) -> None:
    """Replace a method of one of pytest's plugin objects for this process
    (the child's capture manager, so that ``capsys.disabled()`` output is
    shown live); there is no hook for it."""
    setattr(obj, name, value)


def put_output_before_log(item: pytest.Item, when: str) -> None:
    """Order *when*'s report sections as pytest's capture and logging plugins
    do: stdout, stderr, then the log.  A child adds its captured output
    after the logging plugin added the log; the list is not public."""
    sections: list[tuple[str, str, str]] = item._report_sections
    logs = [s for s in sections if s[0] == when and s[1] == "log"]
    if logs:
        sections[:] = [s for s in sections if s not in logs] + logs


def rebuilt_subtest(config: pytest.Config, report: Any, data: dict[str, Any]) -> None:
    """pytest 9's subtests, for a report rebuilt from a child's: keep the
    context values as the child shows them (``SubtestContext`` applies
    ``saferepr`` again when rebuilt, which quotes them)."""
    context = getattr(report, "context", None)
    wire = data.get("_subtest.context")
    if context is None or not isinstance(wire, dict):
        return
    with contextlib.suppress(Exception):
        object.__setattr__(context, "kwargs", dict(wire.get("kwargs") or {}))


def _failed_subtests_counts(config: pytest.Config) -> Any:
    """pytest 9's count of failed subtests per test, which fails a test with
    failed ``subtests`` fixture subtests (unittest's ``subTest`` does not
    count); it is not public."""
    try:
        from _pytest import subtests
    except ImportError:  # pytest < 9
        return None
    return config.stash.get(subtests.failed_subtests_key, None)


def failed_subtests(config: pytest.Config, report: Any) -> int:
    """In a child: the failed subtests counted so far for *report*'s test."""
    counts = _failed_subtests_counts(config)
    if counts is None:
        return 0
    return int(counts.get(getattr(report, "id", report.nodeid), 0))


def set_failed_subtests(config: pytest.Config, report: Any, count: int) -> None:
    """In the parent: the child's count for *report*'s test, so that the top
    level report's status is decided here as the child decided it."""
    counts = _failed_subtests_counts(config)
    if counts is not None and count:
        counts[getattr(report, "id", report.nodeid)] = count


def run_atexit() -> None:
    """Run the ``atexit`` handlers now, in a fork that then leaves with
    ``os._exit()`` (skipping the interpreter's teardown); only CPython's
    private ``atexit._run_exitfuncs`` does this."""
    import atexit

    atexit._run_exitfuncs()


def environ_copy() -> dict[Any, Any]:
    """A copy of the process environment to compare with another (the state
    check, a fork made ahead of its turn): ``os.environ``'s own dict
    (private), a hundred times faster to copy than decoding every variable."""
    data = getattr(os.environ, "_data", None)
    return dict(data) if isinstance(data, dict) else dict(os.environ)


def environ_is(env: dict[str, str]) -> bool:
    """Whether the process environment is *env*, compared as
    :func:`environ_copy` copies it (decoding it costs a fork much)."""
    environ: Any = os.environ
    try:
        encoded = {environ.encodekey(k): environ.encodevalue(v) for k, v in env.items()}
        return bool(environ._data == encoded)
    except Exception:  # noqa: BLE001 - another interpreter, or a value it refuses
        return dict(environ) == env


def fast_getsignal() -> Any:
    """``_signal.getsignal``, the C function: ``signal.getsignal()`` turns
    every value into an enum, at fifty times the cost of a state snapshot."""
    import importlib
    import signal

    try:
        module = importlib.import_module("_signal")
    except ImportError:  # other interpreters
        return signal.getsignal
    return getattr(module, "getsignal", signal.getsignal)


def asyncio_policy_and_loop() -> tuple[object | None, object | None]:
    """The asyncio event loop policy if one was made, and the loop it holds,
    read from asyncio's private globals: ``get_event_loop_policy()`` would
    create the policy, and is deprecated since Python 3.14."""
    events = sys.modules.get("asyncio.events")
    policy = getattr(events, "_event_loop_policy", None)
    loop = getattr(getattr(policy, "_local", None), "_loop", None)
    return policy, loop


def default_plugin_modules(config: pytest.Config) -> list[str]:
    """The modules of pytest's default plugins that a pytest started with
    *config*'s command line imports before anything of the user's: all but
    those its ``-p no:NAME`` blocks.  The list of default plugins is
    private (``_pytest.config.default_plugins``)."""
    from _pytest.config import default_plugins

    blocked = config.pluginmanager.is_blocked
    return [f"_pytest.{name}" for name in default_plugins if not blocked(name)]


def junit_key() -> Any:
    """The stash key under which pytest's JUnit writer lives; the
    ``record_xml_attribute`` and ``record_testsuite_property`` fixtures look
    it up there, and a child puts a stand-in that forwards their values."""
    from _pytest.junitxml import xml_key

    return xml_key


def xfail_reason(item: pytest.Item) -> tuple[str, bool] | None:
    """(reason, has raises=) of an xfail mark that applies to *item*, or None.

    Used to report a crashed test marked xfail as XFAIL.  pytest's evaluation
    of xfail conditions (strings, booleans, ``run=``) is not public.
    """
    if not item.config.pluginmanager.has_plugin("skipping"):
        return None  # -p no:skipping: pytest itself ignores xfail marks then
    if item.config.getoption("runxfail", False):
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


def wait_with_rusage(proc: subprocess.Popen[bytes]) -> tuple[int, Any]:
    """Wait for *proc* like ``Popen.wait()``, also returning its resource usage.

    ``Popen.wait()`` discards the ``struct rusage`` that ``os.wait4`` gives.
    Holding the Popen's private ``_waitpid_lock`` while waiting is what its own
    ``wait()`` does: ``poll()`` (also called by ``kill()``) then does not reap
    the process behind our back.  Without the lock (another Python), or on
    Windows, the usage is None.
    """
    lock = getattr(proc, "_waitpid_lock", None)
    if sys.platform == "win32" or lock is None:
        return proc.wait(), None
    with lock:
        if proc.returncode is None:
            try:
                _, status, usage = os.wait4(proc.pid, 0)
            except ChildProcessError:  # reaped by someone else after all
                pass
            else:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return proc.returncode, usage
    return proc.wait(), None


def silence_hookimpl(impl: Any) -> None:
    """Make one plugin's implementation of one hook do nothing in this process.

    A child keeps conftests' and plugins' session hooks from running again
    (they run once, in pytest's process).  pluggy has no public way to leave
    one implementation out of a hook that pytest itself calls:
    ``subset_hook_caller`` makes a new caller, which pytest would not use.
    pluggy calls ``HookImpl.function``; a wrapper still yields once.
    """
    if impl.wrapper:

        def stub(*args: Any, **kwargs: Any) -> Any:
            return (yield)

    elif impl.hookwrapper:

        def stub(*args: Any, **kwargs: Any) -> Any:
            yield

    else:

        def stub(*args: Any, **kwargs: Any) -> Any:
            return None

    impl.function = stub
