"""Unit tests of tree: reading the process table and the text that names
leaked processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pytest_isolated.platform import tree

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="/proc and prctl are Linux's"
)


def test_a_stat_line_whose_command_holds_spaces_and_parentheses() -> None:
    line = (
        b"4242 (my (odd) cmd) S 17 4242 4200 34817 4242 4194560 98 0 0 0 0 0 0 0 "
        b"20 0 1 0 1061091 3133440 385 18446744073709551615\n"
    )
    assert tree.parse_stat(line) == tree.Proc(
        pid=4242, ppid=17, start=1061091, state="S", group=4242, session=4200
    )
    assert tree.parse_stat(b"garbage") is None
    assert tree.parse_stat(b"12 (x) S 1") is None


def test_descendants_follow_parents_across_sessions() -> None:
    def p(pid: int, ppid: int, session: int = 1) -> tree.Proc:
        return tree.Proc(
            pid, ppid, start=pid, state="S", group=session, session=session
        )

    table = [p(1, 0), p(10, 1), p(11, 10), p(12, 11, session=12), p(20, 1), p(13, 12)]
    assert [x.pid for x in tree.descendants([10], table)] == [11, 12, 13]
    assert tree.descendants([13], table) == []


def test_the_section_names_each_process_by_pid_and_command() -> None:
    text = tree.describe(
        [tree.Leaked(7, 1, "sleep 60"), tree.Leaked(3, 1, "python -c pass")],
        "after the group's last test",
    )
    assert text.splitlines() == [
        "2 process(es) still running after the group's last test, killed:",
        "pid 3: python -c pass",
        "pid 7: sleep 60",
    ]


def test_the_lines_naming_processes_are_read_back_from_the_section() -> None:
    leaked = [tree.Leaked(7, 1, "sleep 60"), tree.Leaked(3, 1, "python -c pass")]
    text = tree.describe(leaked, "when the subprocess ended")
    assert tree.lines_of(text) == tree.lines(leaked)
    assert tree.lines(leaked) == ["pid 3: python -c pass", "pid 7: sleep 60"]


def test_a_file_that_cannot_be_read_reads_as_none(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"0123456789")
    assert tree.read(str(path)) == b"0123456789"
    assert tree.read(str(path), 4) == b"0123"
    assert tree.read(str(tmp_path / "missing")) is None


@linux_only
def test_this_process_is_in_the_table_with_its_parent() -> None:
    import os

    assert os.getpid() in tree.pids()
    me = tree.proc(os.getpid())
    assert me is not None
    assert me.ppid == os.getppid()


GRANDPARENT = """
import subprocess, sys, time
child = subprocess.Popen(
    [sys.executable, "-c", "import os, time; os.setsid(); time.sleep(30)"]
)
print(child.pid, flush=True)
time.sleep(30)
"""


@linux_only
def test_kill_tree_finds_a_descendant_in_another_session() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", GRANDPARENT], stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        grandchild = int(parent.stdout.readline())
        leaked = tree.kill_tree(parent.pid)
        assert [item.pid for item in leaked] == [grandchild]
        assert "os.setsid()" in leaked[0].command
        assert parent.poll() is None  # the root itself is left alone
    finally:
        parent.kill()
        parent.wait()


@linux_only
def test_reap_takes_only_the_killed_process_it_was_given() -> None:
    keep = subprocess.Popen(["sleep", "30"])
    doomed = subprocess.Popen(["sleep", "30"])
    try:
        found = tree.proc(doomed.pid)
        assert found is not None
        doomed.kill()
        tree.reap([tree.Leaked(doomed.pid, found.start, "sleep 30")])
        assert tree.proc(doomed.pid) is None  # reaped, not left a zombie
        assert keep.poll() is None  # the other child runs on, unreaped
        assert tree.has_children()
    finally:
        keep.kill()
        keep.wait()
