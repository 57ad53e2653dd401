"""Under -s (pytest-forked's test_functional_boxed_capturing[no]).

The output goes to the terminal as the test prints it; a test whose process
crashes still has what it printed in its report.
"""

import os
import signal
import sys

import pytest


@pytest.mark.forked
def test_prints_then_crashes_under_capture_no():
    sys.stdout.write("hello\n")
    sys.stderr.write("world\n")
    os.kill(os.getpid(), signal.SIGTERM)


@pytest.mark.forked
def test_prints_and_passes_under_capture_no():
    print("shown as it is printed")
