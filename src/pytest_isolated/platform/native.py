"""Parent side: the native (C) stack of every thread of a hung subprocess.

faulthandler shows where a hung test's Python code waits; when it waits in C
(a lock, a socket, an extension's loop), the C frames say on what.  At a
group's deadline, before the subprocess is killed, the first debugger found
on ``PATH`` (``gdb``, ``lldb``, ``eu-stack``) attaches to it for at most
:data:`SECONDS` and prints every thread's backtrace.  Each thread's frames
are cut where the interpreter's own evaluation loop begins (the Python stack
above shows that part), and the arguments of each frame are dropped.  When no
debugger is installed, or it cannot attach, one line says why.

The subprocess allows its parent's process tree to trace it
(``tree.allow_debugger``): under Yama's ``ptrace_scope=1`` (Ubuntu's default)
only ancestors may, and the debugger is no ancestor of a fork.

"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

#: Debuggers, in the order they are looked for on PATH.
DEBUGGERS = ("gdb", "lldb", "eu-stack")

#: The longest a debugger may take; the kill waits for it.
SECONDS = 5.0

#: C frames kept per thread above the interpreter's loop.
MAX_FRAMES = 16
#: The line that stands for the frames of the interpreter's loop and below.
LOOP_OMITTED = "  (the interpreter's own frames omitted)"
#: The line that stands for the frames past :data:`MAX_FRAMES`.
MORE_OMITTED = "  (more frames omitted)"

HINT = (
    "No native stack: install gdb (or lldb, or eu-stack) to see the C stack of "
    "every thread here."
)

#: Functions of CPython's evaluation loop: the Python stack covers them.
_EVAL_LOOP = re.compile(
    r"\b(_PyEval_EvalFrameDefault|_PyEval_EvalFrame|_PyEval_Vector|"
    r"PyEval_EvalCode|PyEval_EvalFrameEx|_PyEval_EvalCodeWithName|"
    r"_PyInterpreterFrame|do_call_core)\b"
)
#: A frame line: gdb and eu-stack "#3 ...", lldb "frame #3: ...".
_FRAME = re.compile(r"^\s*\*?\s*(?:frame )?#(\d+):?\s+(.*)$")
#: A thread's header: gdb "Thread 2 (...):", lldb "* thread #2, ...",
#: eu-stack "TID 123:".
_THREAD = re.compile(r"^(?:Thread \d+ .*:|\s*\*?\s*thread #\d+.*|TID \d+:)\s*$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]+(?: in)?\s+")
_LOCATION = re.compile(r" (?:at|from) (\S+)$")


def find_debugger() -> tuple[str, str] | None:
    """(name, path) of the first debugger on PATH."""
    for name in DEBUGGERS:
        path = shutil.which(name)
        if path is not None:
            return name, path
    return None


def command(name: str, path: str, pid: int) -> list[str]:
    """The command line that prints every thread's backtrace of *pid*."""
    if name == "gdb":
        return [
            path,
            "-nx",
            "-batch",
            "-iex",
            "set debuginfod enabled off",
            "-iex",
            "set auto-load off",
            "-ex",
            "set pagination off",
            "-ex",
            "thread apply all bt",
            "-p",
            str(pid),
        ]
    if name == "lldb":
        return [path, "--no-lldbinit", "--batch", "-p", str(pid), "-o", "bt all"]
    return [path, "-p", str(pid)]


def backtrace(pid: int, seconds: float = SECONDS) -> str | None:
    """The native stacks of *pid*'s threads for a timeout report, or one line
    that says why there are none; None where this is not done (Windows)."""
    if sys.platform == "win32":
        return None
    found = find_debugger()
    if found is None:
        return HINT
    name, path = found
    try:
        done = subprocess.run(
            command(name, path, pid),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=seconds,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"No native stack: {name} did not finish within {seconds:g}s."
    except OSError as exc:
        return f"No native stack: {name} could not be run ({exc})."
    out = done.stdout.decode("utf-8", "replace")
    stacks = trim(out)
    if not stacks:
        problem = why(name, pid, done.stderr.decode("utf-8", "replace"))
        return f"No native stack: {problem}"
    return f"Native stack of every thread at the deadline ({name}):\n{stacks}"


def why(name: str, pid: int, stderr: str) -> str:
    """One line: why the debugger printed no stack."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    problem = next(
        (
            line
            for line in lines
            if "ptrace" in line.lower()
            or "not permitted" in line.lower()
            or "error" in line.lower()
        ),
        lines[-1] if lines else "it printed no backtrace",
    )
    text = f"{name} could not read process {pid}: {problem}"
    scope = _ptrace_scope()
    if scope is not None and scope >= 2:
        text += f" (kernel.yama.ptrace_scope is {scope}: only root may attach)"
    return text


def _ptrace_scope() -> int | None:
    try:
        return int(Path("/proc/sys/kernel/yama/ptrace_scope").read_text())
    except (OSError, ValueError):
        return None


def simplify(frame: str) -> str:
    """A frame without its address and arguments: ``name at file:line``."""
    text = _ADDRESS.sub("", frame.strip())
    location = _LOCATION.search(text)
    where = f" at {location.group(1)}" if location else ""
    head = text[: location.start()] if location else text
    paren = head.find(" (")
    if paren > 0:
        head = head[:paren]
    return head.strip() + where


def is_eval_loop(frame: str) -> bool:
    """Whether a C frame is one of CPython's evaluation loop."""
    return (
        _EVAL_LOOP.search(frame) is not None
        or "_PyEval_EvalFrame" in frame
        or "PyEval_EvalCode" in frame
    )


def above_eval_loop(frames: Iterable[tuple[str, str]]) -> tuple[list[str], bool]:
    """One thread's C frames, innermost first, each as (what was printed,
    the line to show): the lines of those above the interpreter's loop (the
    Python stack shows the rest), at most :data:`MAX_FRAMES`, and whether
    any were cut."""
    out: list[str] = []
    for printed, shown in frames:
        if is_eval_loop(printed):
            out.append(LOOP_OMITTED)
            return out, True
        if len(out) == MAX_FRAMES:
            out.append(MORE_OMITTED)
            return out, True
        out.append(shown)
    return out, False


def trim(output: str) -> str:
    """Every thread's frames above the interpreter's loop, one per line."""
    out: list[str] = []
    thread: list[tuple[str, str]] | None = None  # None: before the first header
    for line in output.splitlines():
        if _THREAD.match(line):
            if thread is not None:
                out.extend(above_eval_loop(thread)[0])
            out.append(line.strip().lstrip("* "))
            thread = []
            continue
        match = _FRAME.match(line)
        if match is not None and thread is not None:
            text = match.group(2)
            thread.append((text, f"  #{match.group(1)} {simplify(text)}"))
    if thread is not None:
        out.extend(above_eval_loop(thread)[0])
    return "\n".join(out)
