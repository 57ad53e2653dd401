"""Import rules, tested rather than written down (in the manner of pytest's
``testing/test_meta.py``): every module imports cleanly on its own under
``-W error``, and a child, spawned or forked, loads nothing of the parent side
or of the finders."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import pytest_isolated

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(
        pytest_isolated.__path__, prefix="pytest_isolated."
    )
)


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_alone_without_warnings(module: str) -> None:
    subprocess.run(
        [sys.executable, "-W", "error", "-c", f"import {module}"], check=True
    )


def test_every_folder_is_found() -> None:
    folders = {name.split(".")[1] for name in MODULES if name.count(".") >= 2}
    assert folders == {"adapters", "child", "finding", "parent", "platform"}


def test_a_child_loads_nothing_of_the_parent_side(
    pytester: pytest.Pytester, every_start_method: str
) -> None:
    """Under every start method (a fork is a child of the template, itself a
    child), the process that runs an isolated test never imported a module of
    ``parent/`` or ``finding/``; pytest's own process did."""
    pytester.makepyfile(
        test_where="""
        import json, os, sys
        import pytest

        def loaded():
            return sorted(m for m in sys.modules if m.startswith("pytest_isolated."))

        @pytest.mark.isolated
        def test_isolated():
            with open("child.json", "w") as f:
                json.dump(loaded(), f)

        @pytest.mark.forked
        def test_forked():
            with open("forked.json", "w") as f:
                json.dump(loaded(), f)

        def test_parent():
            with open("parent.json", "w") as f:
                json.dump(loaded(), f)
        """
    )
    result = pytester.runpytest_subprocess("--isolated-check-state")
    result.assert_outcomes(passed=3)
    for name in ("child", "forked"):
        modules = json.loads((pytester.path / f"{name}.json").read_text())
        assert "pytest_isolated.child.runner" in modules
        crossing = [m for m in modules if m.split(".")[1] in ("parent", "finding")]
        assert crossing == [], name
    parent = json.loads((pytester.path / "parent.json").read_text())
    assert "pytest_isolated.parent.session" in parent
    assert "pytest_isolated.finding.statecheck" in parent


def test_a_run_that_isolates_nothing_loads_nothing_of_the_parent_side(
    pytester: pytest.Pytester,
) -> None:
    """The parent side is imported once collection shows a selected test to
    isolate: not when the only isolated test is deselected."""
    pytester.makepyfile(
        test_where="""
        import json, sys
        import pytest

        def test_plain():
            loaded = sorted(m for m in sys.modules if m.startswith("pytest_isolated."))
            with open("parent.json", "w") as f:
                json.dump(loaded, f)

        @pytest.mark.isolated
        def test_isolated():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-k", "plain")
    result.assert_outcomes(passed=1, deselected=1)
    parent = json.loads((pytester.path / "parent.json").read_text())
    assert "pytest_isolated.plugin" in parent
    assert [m for m in parent if m.split(".")[1] in ("parent", "adapters")] == []

    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=2)
    parent = json.loads((pytester.path / "parent.json").read_text())
    assert "pytest_isolated.parent.session" in parent
