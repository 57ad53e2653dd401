"""Unit tests of native: the debugger's command line, the trimming of its
backtraces, and the one line that says why there is none."""

from __future__ import annotations

import shutil
import sys

import pytest

from pytest_isolated.platform import native

GDB_OUTPUT = """\
[Thread debugging using libthread_db enabled]
Using host libthread_db library "/lib/x86_64-linux-gnu/libthread_db.so.1".
__GI___clock_nanosleep (clock_id=1, flags=1, req=0x7fff) at clock_nanosleep.c:71
71\tclock_nanosleep.c: No such file or directory.

Thread 2 (Thread 0x7ffaad5736c0 (LWP 1455) "python"):
#0  0x00007ffaaf8e0d36 in __GI___select (nfds=0, readfds=0x0, ...) at select.c:69
#1  0x00007f0000000001 in time_sleep (self=<optimized out>, obj=<optimized out>) \
at ./Modules/timemodule.c:383
#2  0x00007f0000000002 in _PyEval_EvalFrameDefault (tstate=0x1, frame=0x2) at ceval.c:4769
#3  0x00007f0000000003 in _PyEval_Vector (args=0x0) at ceval.c:6434

Thread 1 (Thread 0x7ffaafdd1b80 (LWP 1437) "python"):
#0  __GI___clock_nanosleep (clock_id=clock_id@entry=1, rem=0x0) at clock_nanosleep.c:48
#1  0x00007ffaaf6715a1 in pysleep (timeout=<optimized out>) at ./Modules/timemodule.c:2159
#2  0x00007ffaaf81b4c4 in _PyEval_EvalFrameDefault (tstate=<optimized out>) at ceval.c:1
#3  0x00007ffaaf81b4c5 in main ()
[Inferior 1 (process 1437) detached]
"""


def test_gdb_backtraces_are_cut_at_the_interpreter_loop() -> None:
    assert native.trim(GDB_OUTPUT).splitlines() == [
        'Thread 2 (Thread 0x7ffaad5736c0 (LWP 1455) "python"):',
        "  #0 __GI___select at select.c:69",
        "  #1 time_sleep at ./Modules/timemodule.c:383",
        "  (the interpreter's own frames omitted)",
        'Thread 1 (Thread 0x7ffaafdd1b80 (LWP 1437) "python"):',
        "  #0 __GI___clock_nanosleep at clock_nanosleep.c:48",
        "  #1 pysleep at ./Modules/timemodule.c:2159",
        "  (the interpreter's own frames omitted)",
    ]


def test_lldb_and_eu_stack_backtraces() -> None:
    lldb = (
        "(lldb) process attach --pid 7\n"
        "* thread #1, name = 'python3', stop reason = signal SIGSTOP\n"
        "  * frame #0: 0x00007ff0 libc.so.6`__clock_nanosleep + 214\n"
        "    frame #1: 0x00007ff1 python3`pysleep + 10\n"
        "    frame #2: 0x00007ff2 python3`_PyEval_EvalFrameDefault + 99\n"
    )
    assert native.trim(lldb).splitlines() == [
        "thread #1, name = 'python3', stop reason = signal SIGSTOP",
        "  #0 libc.so.6`__clock_nanosleep + 214",
        "  #1 python3`pysleep + 10",
        "  (the interpreter's own frames omitted)",
    ]
    eu_stack = (
        "PID 7 - process\n"
        "TID 7:\n"
        "#0  0x00007f0000000000 __select\n"
        "#1  0x00007f0000000001 _PyEval_EvalFrameDefault\n"
    )
    assert native.trim(eu_stack).splitlines() == [
        "TID 7:",
        "  #0 __select",
        "  (the interpreter's own frames omitted)",
    ]


def test_a_deep_stack_is_capped() -> None:
    frames = "\n".join(
        f"#{n}  0x0000{n:04x} in f{n} () from /lib/x.so" for n in range(30)
    )
    lines = native.trim("Thread 1 (LWP 1):\n" + frames).splitlines()
    assert lines[1] == "  #0 f0 at /lib/x.so"
    assert len(lines) == 1 + native.MAX_FRAMES + 1
    assert lines[-1] == "  (more frames omitted)"


def test_faulthandler_and_debugger_frames_are_cut_alike() -> None:
    printed = [
        '  Binary file "/lib/x.so", at f+0x1 [0x1]',
        '  Binary file "/usr/bin/python3", at _PyEval_EvalFrameDefault+0x9 [0x2]',
        '  Binary file "/usr/bin/python3", at main+0x3 [0x3]',
    ]
    out, cut = native.above_eval_loop((line, line) for line in printed)
    assert (out, cut) == ([printed[0], native.LOOP_OMITTED], True)
    short = [("a", "A"), ("b", "B")]
    assert native.above_eval_loop(short) == (["A", "B"], False)
    assert native.is_eval_loop("#4 0x1 in PyEval_EvalCode (co=0x2) at ceval.c:1")
    assert not native.is_eval_loop("#0 0x1 in __select () from /lib/libc.so.6")


def test_every_debugger_gets_a_batch_command_for_the_pid() -> None:
    gdb = native.command("gdb", "/usr/bin/gdb", 42)
    assert gdb[0] == "/usr/bin/gdb"
    assert "-batch" in gdb
    assert gdb[-2:] == ["-p", "42"]
    assert "thread apply all bt" in gdb
    assert "--batch" in native.command("lldb", "/usr/bin/lldb", 42)
    assert native.command("eu-stack", "/usr/bin/eu-stack", 42) == [
        "/usr/bin/eu-stack",
        "-p",
        "42",
    ]


def test_without_a_debugger_one_line_says_how_to_get_the_stacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # native reads shutil.which and sys.platform when called.
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(sys, "platform", "linux")
    hint = native.backtrace(1)
    assert hint == native.HINT
    assert "install gdb" in hint
    assert "\n" not in hint


def test_a_refused_attach_is_explained_in_one_line() -> None:
    stderr = (
        "warning: process 42 is a zombie\n"
        "ptrace: Operation not permitted.\n"
        "No symbol table is loaded.\n"
    )
    line = native.why("gdb", 42, stderr)
    assert line.startswith("gdb could not read process 42: ptrace: Operation not")
    assert "\n" not in line
