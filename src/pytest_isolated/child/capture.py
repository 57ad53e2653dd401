"""Child side: per-phase capture, and the std streams that tests may change.

The parent starts the child with fds 1 and 2 on capture files in its work
folder (or on the terminal under ``-s``).  Each phase of a test starts with
those files empty and ends with their text as the report's "Captured stdout"
and "Captured stderr" sections, as pytest's fd capture gives.  Like pytest's
capture, every phase ends with fds 1 and 2, ``sys.stdout`` and
``sys.stderr`` put back as they were at the start of the group: a test that
``dup2()``s a file over fd 1, closes fd 2 or replaces ``sys.stdout`` changes
them for the rest of its phase only, and the file it put there is never
truncated.  Standard input is left as a test or fixture sets it, as pytest's
capture leaves it between phases.  Reading the captured stdin raises, as
under pytest's capture, and ``sys.stdout`` and ``sys.stderr`` write UTF-8,
replacing what cannot be encoded, as pytest's capture files do, whatever the
interpreter's own encoding.  Under ``-s`` nothing is captured or put back,
as in pytest.

"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from pytest_isolated import _compat
from pytest_isolated.child.stacks import Dumps
from pytest_isolated.protocol import PHASE_MARK, STDERR_FILE, STDOUT_FILE, read_tail

#: The largest captured section a phase reports (the tail is kept).
MAX_SECTION_BYTES = 16 * 1024 * 1024

_FILES = ((1, "stdout", STDOUT_FILE), (2, "stderr", STDERR_FILE))

#: The encoding of pytest's capture files (``_pytest.capture.EncodedFile``).
CAPTURE_ENCODING = ("utf-8", "replace")


class NoStdin(io.TextIOBase):
    """``sys.stdin`` while output is captured: reading raises, as in pytest."""

    @property
    def encoding(self) -> str:  # type: ignore[override]
        """The interpreter's own stdin's, as pytest's stand-in says."""
        stdin = sys.__stdin__
        return stdin.encoding if stdin is not None else "utf-8"

    def read(self, size: int | None = -1) -> str:
        raise OSError(
            "pytest: reading from stdin while output is captured!  Consider using `-s`."
        )

    readline = read  # type: ignore[assignment]

    def __iter__(self) -> NoStdin:  # type: ignore[override]
        return self

    def __next__(self) -> str:  # type: ignore[override]
        return self.read()

    def fileno(self) -> int:
        raise io.UnsupportedOperation("redirected stdin is pseudofile, has no fileno()")

    def isatty(self) -> bool:
        return False

    def readable(self) -> bool:
        return False


class PhaseCapture:
    """Registered in the child's pytest: capture and restore around each phase."""

    def __init__(
        self, workdir: Path, capture: bool, dumps: Dumps, live: bool = False
    ) -> None:
        self.workdir = workdir
        self.capture = capture
        #: Under ``-s``, with fds 1 and 2 on pipes the parent reads.
        self.live = live
        self.dumps = dumps
        #: Told when each phase of a test starts (the child sends an event).
        self.on_phase: Callable[[pytest.Item, str], None] = lambda item, when: None
        self.saved: dict[int, int] = {}
        self.streams: tuple[Any, Any, Any] = (sys.stdin, sys.stdout, sys.stderr)
        self.saved_streams = False

    def take_streams(self) -> None:
        """Remember fds 1 and 2 and the std streams as the group starts with them
        (again in a fork, whose fds 1 and 2 are its own capture files)."""
        for fd in list(self.saved.values()):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.saved = {}
        for fd, _, _ in _FILES:
            with contextlib.suppress(OSError):
                saved = os.dup(fd)
                os.set_inheritable(saved, False)
                self.saved[fd] = saved
        if self.saved_streams:
            return
        if self.capture:
            # Into the capture files at once: what a test prints just before
            # its process dies must not die in a buffer with it.  Encoded as
            # pytest's capture files are (``EncodedFile``).
            sys.stdout = _unbuffered(1, sys.stdout, CAPTURE_ENCODING)
            sys.stderr = _unbuffered(2, sys.stderr, CAPTURE_ENCODING)
            sys.stdin = NoStdin()
        elif self.live:
            # A pipe makes Python buffer whole blocks: what a test prints
            # must reach the terminal as it prints it, and the parent before
            # the process dies.
            sys.stdout = _unbuffered(1, sys.stdout)
            sys.stderr = _unbuffered(2, sys.stderr)
        self.streams = (sys.stdin, sys.stdout, sys.stderr)
        self.saved_streams = True

    def restore(self) -> None:
        """Put back fds 1 and 2 and ``sys.stdout`` and ``sys.stderr`` as the
        group started with them.  Standard input stays: pytest does not
        suspend its capture between phases either, and a fixture may have put
        a pipe there for its test (dropping the file would close it)."""
        flush_std_streams()
        sys.stdout, sys.stderr = self.streams[1:]
        for fd, _, _ in _FILES:
            saved = self.saved.get(fd)
            if saved is not None and not _same_file(fd, saved):
                with contextlib.suppress(OSError):
                    os.dup2(saved, fd)

    @contextlib.contextmanager
    def passed_through(self) -> Iterator[Passthrough | None]:
        """Inside ``capsys.disabled()`` or ``capfd.disabled()``: fds 1 and 2
        write to one capture file, in the order they are written, which is
        then not the phase's output (None where they are no capture files)."""
        if not self.capture or not _same_file(1, self.saved.get(1, -1)):
            yield None
            return
        flush_std_streams()
        start = os.fstat(1).st_size
        stderr = os.dup(2)
        os.dup2(1, 2)
        own = (sys.__stdout__, sys.__stderr__)
        passthrough = Passthrough(
            self.workdir / STDOUT_FILE,
            start,
            (_unbuffered(1, own[0]), _unbuffered(2, own[1])),
            getattr(own[0], "encoding", None) or "utf-8",
        )
        try:
            yield passthrough
        finally:
            passthrough.take()
            os.dup2(stderr, 2)
            os.close(stderr)

    # No hook wrappers: an exception of the test must not pass through a frame
    # of ours (``--tb=native`` shows every frame it passed through).  A phase
    # starts in a tryfirst hook and ends in pytest_runtest_makereport, before
    # the report is made and after pytest's capture closed capsys/capfd.
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._start(item, "setup")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        self._start(item, "call")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        self._start(item, "teardown")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> None:
        self._end(item, call.when)

    def _start(self, item: pytest.Item, when: str) -> None:
        self.on_phase(item, when)
        # Nothing is restored as a phase starts: pytest's capture plugin has
        # already put a capsys/capfd fixture's streams in place by then.
        self.dumps.arm()
        if not self.capture:  # as under ``-s``: a test's changes stay
            if self.live:
                self._mark_phase()
            return
        for fd, _, _ in _FILES:
            with contextlib.suppress(OSError, KeyError):
                os.ftruncate(self.saved[fd], 0)
                os.lseek(self.saved[fd], 0, os.SEEK_SET)

    def _mark_phase(self) -> None:
        """Under ``-s``: tell the parent, in the streams themselves, that
        what follows is this phase's (unless a test put another file there)."""
        flush_std_streams()
        for fd, _, _ in _FILES:
            saved = self.saved.get(fd)
            if saved is not None and _same_file(fd, saved):
                with contextlib.suppress(OSError):
                    os.write(fd, PHASE_MARK)

    def _end(self, item: pytest.Item, when: str) -> None:
        if not self.capture or when not in ("setup", "call", "teardown"):
            return
        flush_std_streams()
        for fd, key, name in _FILES:
            try:
                written = os.fstat(self.saved[fd]).st_size
            except (OSError, KeyError):
                written = 1
            if written:
                text = read_tail(self.workdir / name, MAX_SECTION_BYTES)
                item.add_report_section(when, key, text)
        # pytest's order: the captured output before the captured log.
        _compat.put_output_before_log(item, when)
        self.restore()


@dataclasses.dataclass
class Passthrough:
    """Fds 1 and 2 while a test disabled capture: what they got since
    *start*, and the streams the interpreter itself would write it with."""

    path: Path
    start: int
    streams: tuple[IO[str], IO[str]]
    encoding: str
    text: str = ""

    def take(self) -> str:
        """What fds 1 and 2 got (once), as the terminal would show it."""
        flush_std_streams()
        for stream in self.streams:
            with contextlib.suppress(Exception):
                stream.flush()
        try:
            with open(self.path, "rb") as f:
                f.seek(self.start)
                data = f.read()
        except OSError:
            data = b""
        with contextlib.suppress(OSError):
            os.ftruncate(1, self.start)
        taken = self.text + data.decode(self.encoding, errors="replace")
        self.text = ""
        return taken


class LogFileTail:
    """What the child's ``--log-file`` gained since the last look: the
    parent writes it into its own log file, which the child never opens."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def restart(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def read_new(self) -> str:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return ""
        self.offset += len(data)
        return data.decode("utf-8", errors="replace")


def _same_file(fd: int, saved: int) -> bool:
    try:
        now, then = os.fstat(fd), os.fstat(saved)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (then.st_dev, then.st_ino)


def _unbuffered(
    fd: int, like: IO[str] | None, encoding: tuple[str, str] | None = None
) -> IO[str]:
    """A text stream on *fd* that writes through to the file at every call,
    with *encoding* (name, errors), else with *like*'s."""
    raw = io.FileIO(fd, "w", closefd=False)
    if encoding is None:
        name = getattr(like, "encoding", None) or "utf-8"
        errors = getattr(like, "errors", None) or "strict"
        return io.TextIOWrapper(raw, encoding=name, errors=errors, write_through=True)
    name, errors = encoding
    return io.TextIOWrapper(
        raw, encoding=name, errors=errors, newline="", write_through=True
    )


def flush_std_streams() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
