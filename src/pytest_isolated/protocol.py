"""The parent <-> child wire format.

The parent sends the child one :class:`ChildSpec` (a JSON object on the child's
stdin).  The child answers with events, one JSON object per line, on a pipe of
its own: ``{"v": 2, "event": NAME, ...fields}``.  JSON cannot tell a tuple from a
list, yet pytest expects tuples in reports (a skip's ``longrepr``, ``location``,
``sections``), so tuples are tagged on the way out and restored on the way in.
Values JSON cannot carry at all (a ``record_property`` object, a plugin's custom
report attribute) degrade to their ``repr`` instead of breaking the run.

Imports nothing of the package: both sides use it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import warnings
from typing import Any

#: Bumped whenever an event or the spec changes shape.
PROTOCOL_VERSION = 2

_TUPLE_TAG = "__tuple__"

# The event names the child sends, in the order a healthy child sends them.
EV_STARTED = "started"  # interpreter up, spec read
EV_COLLECTED = "collected"  # the group's items are collected; fields: missing, baseline
EV_COLLECT_ERROR = "collect_error"  # a failed collect report; field: report
EV_COLLECT_SKIP = "collect_skip"  # a skipped collect report (module level); report
EV_LOGSTART = "logstart"  # fields: nodeid
EV_PHASE = "phase"  # a phase of the test starts; fields: nodeid, when
EV_TERMINAL = "terminal"  # what reached the terminal; fields: runs ([raw, text])
# "xml_attribute" (record_xml_attribute; fields: nodeid, name, value) and
# "xml_property" (record_testsuite_property; fields: name, value) come from
# child/passthrough.py, which names them itself.
EV_REPORT = "report"  # fields: report (serialised TestReport)
EV_WARNING = "warning"  # fields: nodeid, when, warning
EV_LOGFINISH = "logfinish"  # fields: nodeid, log (its --log-file lines), usage
EV_INTERNAL_ERROR = "internal_error"  # fields: text
EV_PLUGIN_TIMEOUT = "plugin_timeout"  # a plugin's timer ends the child; field: summary
EV_EXIT = "exit"  # pytest.exit() or KeyboardInterrupt; fields: reason, returncode
EV_OUTPUT = "output"  # what plugins hand the parent at the end; fields: output
EV_FINISHED = "finished"  # fields: exitstatus
# A fork template's own events.
EV_FORKED = "forked"  # fields: workdir (the group's), pid
EV_FORK_EXITED = "fork_exited"  # fields: pid, returncode, usage
EV_SPARE = "spare"  # a fork stands ready (ok), or cannot (reason); fields: ok, reason


def to_wire(value: Any) -> Any:
    """Return *value* as plain JSON data: tuples tagged, the unknown as repr."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is bool:
        return value
    # The shapes of a serialised report, tried first: a fork sends several
    # (no value is both a container and a number or a string).
    if isinstance(value, dict):
        return {
            (k if isinstance(k, str) else repr(k)): to_wire(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [to_wire(v) for v in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):  # IntEnum, pytest.ExitCode, HTTPStatus: numbers
        return int(value)
    if isinstance(value, str):
        # ``str`` subclasses (pytest 9.2's node ids among them) become plain str.
        return str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, tuple):
        return {_TUPLE_TAG: [to_wire(v) for v in value]}
    try:
        return repr(value)
    except Exception as exc:  # noqa: BLE001 - a broken __repr__ must not break the run
        return f"<unrepresentable {type(value).__name__}: {exc!r}>"


def _restore_tuple(value: dict[str, Any]) -> Any:
    """Undo :func:`to_wire` for one JSON object, as the decoder makes it
    (innermost first): a tagged tuple becomes a tuple again."""
    if len(value) == 1 and _TUPLE_TAG in value:
        return tuple(value[_TUPLE_TAG])
    return value


def encode_event(event: str, **fields: Any) -> bytes:
    """One event as a single newline-terminated line of UTF-8 JSON."""
    payload = {"v": PROTOCOL_VERSION, "event": event}
    payload.update(to_wire(fields))
    return (
        json.dumps(payload, ensure_ascii=True, separators=(",", ":")).encode() + b"\n"
    )


class ProtocolError(Exception):
    """A line from the child that is not a valid event."""


def decode_event(line: bytes) -> tuple[str, dict[str, Any]]:
    """Parse one line written by :func:`encode_event`."""
    try:
        payload = json.loads(line, object_hook=_restore_tuple)
    except ValueError as exc:
        raise ProtocolError(f"not JSON: {line[:200]!r}") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        raise ProtocolError(f"not an event: {line[:200]!r}")
    if payload.get("v") != PROTOCOL_VERSION:
        raise ProtocolError(
            f"protocol version {payload.get('v')!r}, expected {PROTOCOL_VERSION}"
        )
    event = payload.pop("event")
    del payload["v"]
    return event, payload


@dataclasses.dataclass(frozen=True)
class ChildSpec:
    """Everything a child needs to run one group, sent as JSON on its stdin."""

    #: The pytest command line of the parent, unchanged (options, plugins, paths).
    args: list[str]
    #: Files to collect: only those holding the group's items.
    files: list[str]
    #: Node ids to run, in run order.
    nodeids: list[str]
    #: The parent's ``sys.path`` as it was before conftests changed it: entries
    #: the child's own start-up path lacks are appended to it.
    sys_path: list[str]
    #: The parent's ``sys.argv``.
    argv: list[str]
    #: The directory pytest was invoked from (decides rootdir and relative args).
    invocation_dir: str
    #: The working directory when the group starts.
    cwd: str
    #: The environment when the group starts (the interpreter may be older):
    #: the group's tests run with it.
    env: dict[str, str]
    #: ``--basetemp`` for the child, inside the parent's base temp directory.
    basetemp: str
    #: Private directory of this child (cache, crash and timeout dumps).
    workdir: str
    #: Seconds from the start of the group after which the parent kills the
    #: child (for a fork template: the limit of its collection), or None.
    timeout: float | None
    #: Seconds before the deadline at which the child dumps its stacks.
    dump_margin: float
    #: Whether the child's fds 1 and 2 are capture files (else the terminal).
    capture: bool
    #: A fork template: collect, then fork one child per group on command.
    template: bool = False
    #: A fork template started before the parent's collection ended: it
    #: collects what the command line names (``files`` and ``nodeids`` are
    #: empty) and reports every node id it collected.
    whole: bool = False
    #: For a forked child: the FIFO its events go to.
    events_path: str | None = None
    #: The parent's terminal: its width and whether it shows colours.
    term_width: int | None = None
    term_markup: bool = False
    #: The parent's ``junit_family`` if it writes JUnit XML, else None.
    junit_family: str | None = None
    #: The group's memory (bytes) and CPU (seconds) limits, or None.
    mem_limit: int | None = None
    cpu_limit: float | None = None
    #: Under ``-s``: fds 1 and 2 reach the terminal through the parent, which
    #: keeps the tail of each phase for a crash report (a fork opens the
    #: FIFOs ``STDOUT_FIFO`` and ``STDERR_FIFO`` of its workdir for them).
    tee: bool = False
    #: The environment the child configures pytest, imports the conftests and
    #: collects with: the parent's as its pytest started, with the changes
    #: made since its collection ended, so that what its start-up does to the
    #: environment is done once (None: ``env``).  The tests get ``env``.
    startup_env: dict[str, str] | None = None
    #: The group's name ("" for a fork template), for ``pytest_isolated.in_child``.
    group: str = ""
    #: Run each test only when the parent says its turn has come (``go``
    #: lines, see :func:`encode_go`); otherwise run the group straight through
    #: (``--isolated-parallel``: groups run ahead).
    wait_for_turn: bool = False

    def to_json(self) -> bytes:
        """One line of JSON."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return json.dumps(fields).encode() + b"\n"

    @classmethod
    def from_json(cls, data: bytes) -> ChildSpec:
        return cls(**json.loads(data))


#: The attribute of a test's report that lists the processes its group left
#: running, killed (``["pid 123: sleep 60", ...]``): the session's summary
#: reads it, under pytest-xdist on the controller too (it crosses the wire).
LEAKED_ATTRIBUTE = "isolated_leaked"


# File names inside a child's workdir, shared by both sides.
STDOUT_FILE = "stdout"
STDERR_FILE = "stderr"
CRASH_FILE = "crash-traceback"
TIMEOUT_FILE = "timeout-traceback"
CACHE_DIR = "cache"
LOG_FILE = "log-file"  # the child's --log-file, forwarded to the parent's
EVENTS_FIFO = "events"
GO_FIFO = "go"  # a fork's turns, written by the parent (stdin for the others)
STDOUT_FIFO = "stdout.fifo"  # a fork's fd 1 under -s, read by the parent
STDERR_FIFO = "stderr.fifo"


def encode_go(count: int) -> bytes:
    """The parent's word to a child that waits for its turns: the group's
    first *count* tests (in the spec's order) may run."""
    return b"go %d\n" % count


def decode_go(line: bytes) -> int | None:
    """The count of a line written by :func:`encode_go`, else None."""
    word, _, count = line.strip().partition(b" ")
    return int(count) if word == b"go" and count.isdigit() else None


#: Under ``-s``: what a child writes to its fds 1 and 2 as each phase of a
#: test starts, so that the parent, which passes the rest on to the terminal,
#: knows what a test printed in the phase its process died in.
PHASE_MARK = b"\x00pytest-isolated:phase\x00"


def read_tail(path: str | os.PathLike[str], limit: int) -> str:
    """Decode the last *limit* bytes of *path* ('' if missing), as pytest does."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    if size > limit:
        text = f"[{size - limit} earlier bytes not shown]\n" + text
    return text


def warning_to_wire(message: warnings.WarningMessage) -> dict[str, Any]:
    """Serialise a recorded warning field by field (after pytest-xdist)."""
    category = message.category
    data: dict[str, Any] = {
        "message": str(message.message),
        "category_module": category.__module__ if category else None,
        "category_name": category.__qualname__ if category else None,
        "filename": str(message.filename),
        "lineno": int(message.lineno),
        "line": message.line if isinstance(message.line, str) else None,
    }
    return data


def warning_from_wire(data: dict[str, Any]) -> warnings.WarningMessage:
    """Rebuild a :class:`warnings.WarningMessage` without importing user code.

    The category class is looked up only among modules the parent has already
    imported; a warning class defined in a test module (which the parent must
    not import) is replaced by a stand-in of the same name and module, which
    the warnings summary prints identically.
    """
    category: type[Warning] = UserWarning
    module_name, name = data.get("category_module"), data.get("category_name")
    if module_name and name:
        found: Any = sys.modules.get(module_name)
        for part in name.split("."):  # a class nested in a class
            found = getattr(found, part, None)
        if isinstance(found, type) and issubclass(found, Warning):
            category = found
        else:
            category = _stand_in(module_name, name, Warning)
    try:
        message = category(data["message"])
    except Exception:  # noqa: BLE001 - a constructor that wants other arguments
        # As pytest-xdist does: a stand-in of the same name carries the text.
        category = _stand_in(category.__module__, category.__qualname__, UserWarning)
        message = category(data["message"])
    return warnings.WarningMessage(
        message=message,
        category=category,
        filename=data["filename"],
        lineno=data["lineno"],
        line=data.get("line"),
    )


def _stand_in(module: str, qualname: str, base: type[Warning]) -> type[Warning]:
    """A warning class that prints like *module*.*qualname*, built from text."""
    name = qualname.rpartition(".")[2]
    return type(name, (base,), {"__module__": module, "__qualname__": qualname})
