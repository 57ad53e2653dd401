from __future__ import annotations

import pytest


def test_marked_test_runs_in_a_subprocess(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os
        import pytest

        @pytest.mark.isolated
        def test_inside():
            assert os.environ["PYTEST_RUNNING_IN_SUBPROCESS"] == "1"

        def test_outside():
            assert "PYTEST_RUNNING_IN_SUBPROCESS" not in os.environ
        """
    )
    result = pytester.runpytest_subprocess("-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*::test_inside PASSED*", "*::test_outside PASSED*"])
