"""Every use of a private API (pytest's, CPython's, other plugins') lives here.

Public API is used everywhere else.  Each function says why no public one
serves; each is small and has been stable across pytest 8.0 - 9.2.  Imported
on both sides of the process boundary: it imports no other module of ours.
"""

from __future__ import annotations

import collections.abc
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


def set_timeout_cancel(item: pytest.Item, cancel: Any) -> None:
    """pytest-timeout cancels a timer that a ``pytest_timeout_set_timer``
    implementation armed by calling ``item.cancel_timeout``, its private
    attribute."""
    item.cancel_timeout = cancel  # type: ignore[attr-defined]


def rerun_filters_allow(
    item: pytest.Item, report: pytest.TestReport, exc: BaseException
) -> bool:
    """Whether pytest-rerunfailures' ``--only-rerun``, ``--rerun-except`` and
    ``condition=`` let *item* run again after *exc*.  Its functions for this
    are private; without them (another version), a rerun is allowed."""
    import pytest_rerunfailures as rerun  # type: ignore[import-untyped]

    try:
        raise exc  # an exception with a traceback, as the filters expect
    except BaseException as raised:  # noqa: BLE001
        excinfo = pytest.ExceptionInfo.from_exception(raised)
    hard_fail = getattr(rerun, "_should_hard_fail_on_error", None)
    if hard_fail is not None and hard_fail(item, report, excinfo):
        return False
    condition = getattr(rerun, "get_reruns_condition", None)
    return condition is None or bool(condition(item))


def stop_rerunfailures_server(config: pytest.Config) -> None:
    """In a child: end the status server pytest-rerunfailures starts for
    pytest-xdist workers (a child has none).  Its thread would keep a fork
    template from forking; the server and its thread are not public."""
    import socket
    import threading

    db = getattr(config, "failures_db", None)
    sock = getattr(db, "sock", None)
    if not isinstance(sock, socket.socket) or not hasattr(db, "run_server"):
        return
    import pytest_rerunfailures as rerun

    config.failures_db = rerun.StatusDB()  # type: ignore[attr-defined]
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    for thread in threading.enumerate():
        if thread.name.endswith("(run_server)"):
            thread.join(timeout=5.0)


def log_file_handler(config: pytest.Config) -> Any:
    """The ``--log-file`` handler of pytest's logging plugin, or None: a
    child's log-file lines are written through the parent's (private)."""
    plugin = config.pluginmanager.get_plugin("logging-plugin")
    return getattr(plugin, "log_file_handler", None)


def redirect_faulthandler_plugin(config: pytest.Config) -> None:
    """In a fork: let pytest's ``faulthandler_timeout`` dumps go to the
    fork's stderr; its plugin kept a copy of the template's (a private key)."""
    import os

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
    """A copy of the process environment for ``--isolated-check-state``:
    ``os.environ``'s own dict (private), a hundred times faster to copy than
    decoding every variable through the mapping."""
    import os

    data = getattr(os.environ, "_data", None)
    return dict(data) if isinstance(data, dict) else dict(os.environ)


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


def junit_key() -> Any:
    """The stash key under which pytest's JUnit writer lives; the
    ``record_xml_attribute`` and ``record_testsuite_property`` fixtures look
    it up there, and a child puts a stand-in that forwards their values."""
    from _pytest.junitxml import xml_key

    return xml_key


def split_scope(scheduling: Any, nodeid: str) -> str:
    """The work unit pytest-xdist's scope scheduling puts *nodeid* in (module,
    class, file or xdist_group); xdist's only way is this private method."""
    unit: str = scheduling._split_scope(nodeid)
    return unit


def xdist_queued_items(config: pytest.Config) -> list[pytest.Item] | None:
    """In a pytest-xdist worker: the tests it was handed and has yet to run,
    the next one first; None if that cannot be known.

    ``--isolated-parallel`` starts later groups ahead, in the order their
    tests will run, and a worker runs what the controller sends it, in the
    order it arrives: xdist's ``WorkerInteractor`` (registered as a plugin)
    keeps the index of the next test in ``nextitem_index`` and the rest in
    ``torun``, a queue whose deque ``_items`` is read under its ``lock()``.
    None of it is public; any other shape (another version) gives None, and
    the worker runs one group at a time.
    """
    interactor = next(
        (
            plugin
            for plugin in config.pluginmanager.get_plugins()
            if type(plugin).__name__ == "WorkerInteractor"
        ),
        None,
    )
    session = getattr(interactor, "session", None)
    items = getattr(session, "items", None)
    torun = getattr(interactor, "torun", None)
    lock = getattr(torun, "lock", None)
    if not isinstance(items, list) or not callable(lock):
        return None
    try:
        with lock() as queued:
            if not isinstance(queued, collections.abc.Iterable):
                return None
            indices = [getattr(interactor, "nextitem_index", None), *queued]
    except Exception:  # noqa: BLE001 - an unknown shape: no look-ahead
        return None
    return [
        items[i]
        for i in indices
        if type(i) is int and 0 <= i < len(items)  # not the SHUTDOWN marker
    ]


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


def syrupy_child_report(config: pytest.Config) -> dict[str, Any] | None:
    """Finish a child's syrupy session as a pytest-xdist worker's: write its
    snapshots, delete nothing, and return the report a worker publishes.

    syrupy decides by ``PYTEST_XDIST_WORKER`` and publishes on
    ``config.workeroutput``: both are set while its ``finish()`` runs, the
    only way to have it act as the worker that a child is.
    """
    snapshots: Any = getattr(config, "_syrupy", None)
    if snapshots is None:
        return None
    if not hasattr(snapshots, "_publish_worker_report"):  # syrupy < 7: no report
        flush = getattr(snapshots, "flush_snapshot_write_queue", None)
        if flush is not None:
            flush()
        return {"unmerged": True}
    from syrupy.utils import decompress_json

    worker = os.environ.get("PYTEST_XDIST_WORKER")
    os.environ["PYTEST_XDIST_WORKER"] = worker or "pytest-isolated"
    had_output = hasattr(config, "workeroutput")
    saved = getattr(config, "workeroutput", None)
    output: dict[str, Any] = {}
    config.workeroutput = output  # type: ignore[attr-defined]
    try:
        snapshots.finish()
    finally:
        if worker is None:
            del os.environ["PYTEST_XDIST_WORKER"]
        if had_output:
            config.workeroutput = saved  # type: ignore[attr-defined]
        else:
            del config.workeroutput  # type: ignore[attr-defined]
    report = output.get("syrupy_report")
    if report is None:
        return {"sidecars": output.get("syrupy_write_sidecars", [])}
    for key in ("collections", "collected"):  # zlib bytes JSON cannot carry
        if isinstance(report.get(key), bytes):
            report[key] = decompress_json(report[key])
    return {"report": report, "sidecars": output.get("syrupy_write_sidecars", [])}


def syrupy_selected(config: pytest.Config) -> dict[str, Any]:
    """What became of each test syrupy saw selected in this process (its
    merge of workers' reports takes the tests' states from the reports)."""
    snapshots: Any = getattr(config, "_syrupy", None)
    selected = getattr(snapshots, "_selected_items", {})
    return {nodeid: status.value for nodeid, status in selected.items()}


def syrupy_republish(config: pytest.Config) -> None:
    """In a pytest-xdist worker: fold the children's reports into the one
    syrupy published for the controller (a worker does not merge)."""
    snapshots: Any = getattr(config, "_syrupy", None)
    if snapshots is None or snapshots.report is None:
        return
    snapshots._merge_worker_reports()
    snapshots._publish_worker_report()


def allure_drop_result(item: pytest.Item) -> None:
    """Drop the result allure-pytest started in this process for *item*,
    which ran in a child (whose allure-pytest wrote the real one).

    allure-pytest keeps its results under ``id(item.nodeid)`` in a private
    cache and offers no way to leave a test out.
    """
    listener: Any = item.config.pluginmanager.get_plugin("allure_listener")
    if listener is None:
        return
    uuid = listener._cache.pop(item.nodeid)
    if uuid:
        listener.allure_logger.drop_test(uuid)
