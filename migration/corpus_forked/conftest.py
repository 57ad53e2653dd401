"""A suite that relies on --forked for every test."""

import os

os.environ.setdefault("MIGRATION_PARENT_PID", str(os.getpid()))
