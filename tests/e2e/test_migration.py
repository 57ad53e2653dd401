"""The migration corpus agrees with pytest-forked 1.7.5, up to the allow-list.

Runs ``migration/run.py``, which builds (once, then caches) a side environment
with the real pytest-forked in ``migration/.env``.  Without network and without
that cache the runner cannot compare anything, and this test fails: it is
never skipped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[2] / "migration" / "run.py"


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="pytest-forked needs fork()")
def test_migration_corpus_matches_pytest_forked() -> None:
    done = subprocess.run(
        [sys.executable, str(RUNNER)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = done.stdout + done.stderr
    print(output)
    assert done.returncode != 2, f"the runner could not set up:\n{output}"
    assert done.returncode == 0, f"unexpected differences:\n{output}"
    assert "0 mismatches" in output
    assert output.count("pytest-isolated took over, one warning") == 4
