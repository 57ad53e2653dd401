"""Both halves of the child's command line, and the import path it takes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import pytest_isolated
from pytest_isolated.child import entry


def test_command_passes_the_channel_and_the_work_folder_last(tmp_path: Path) -> None:
    argv = entry.command("/some/path0", "fd:9", tmp_path)
    assert argv[0] == sys.executable
    assert argv[-2:] == ["fd:9", str(tmp_path)]
    program = argv[argv.index("-c") + 1]
    assert "sys.path[0] = '/some/path0'" in program
    assert "from pytest_isolated.child.entry import main" in program


def test_command_ends_with_the_modules_to_import_ahead(tmp_path: Path) -> None:
    argv = entry.command("/some/path0", "fd:9", tmp_path, ["_pytest.junitxml"])
    assert argv[-3:] == ["fd:9", str(tmp_path), "_pytest.junitxml"]


def test_import_ahead_imports_what_it_can(monkeypatch: pytest.MonkeyPatch) -> None:
    """A module that cannot be imported is left to the child's pytest, which
    says why if it needs it."""
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    entry._import_ahead(["pytest_isolated_no_such_module", "colorsys"])
    assert "colorsys" in sys.modules
    assert "pytest_isolated_no_such_module" not in sys.modules


def test_the_program_imports_this_very_copy_of_the_package(tmp_path: Path) -> None:
    """The folder above the package comes first while the package is
    imported, then leaves the path again."""
    argv = entry.command(str(tmp_path), "fd:9", tmp_path)
    program = argv[argv.index("-c") + 1]
    here = str(Path(pytest_isolated.__file__).resolve().parent.parent)
    assert f"sys.path.insert(0, {here!r}); import pytest_isolated; del sys.path[0]" in (
        program
    )


def test_take_path_appends_what_the_child_lacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "path", ["a", "b"])
    entry._take_path(["b", "c", "a", "d"])
    assert sys.path == ["a", "b", "c", "d"]
