"""The parent's handling of a child's events is total: a fuzz of the stream.

A valid event stream of a small group is cut short, reordered, duplicated,
blown up and garbled, then fed to a :class:`GroupRun` as the pool would feed
it, with no subprocess: whatever arrives, no exception escapes, and once the
child has exited (and the fresh children that follow a crash have too) every
test of the group has exactly one outcome with a teardown report.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from pytest_isolated.parent.events import Event, Exited, Garbled, Message
from pytest_isolated.parent.grouping import Group
from pytest_isolated.parent.grouprun import GroupRun
from pytest_isolated.parent.handle import ChildHandle
from pytest_isolated.parent.outcome import Outcome
from pytest_isolated.protocol import ChildSpec
from pytest_isolated.settings import Limit

SOURCE = """
import pytest

def test_a():
    pass

def test_b():
    assert 0

@pytest.mark.skip(reason="no")
def test_c():
    pass
"""


class FakeChild:
    """Stands for a child process: the attributes a GroupRun reads."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.capture = True
        self.timed_out = False
        self.killed = False
        self.native_stack: str | None = None
        self.expired_at: float | None = None
        #: Each ``grant`` count, and how often it was told the child waits.
        self.grants: list[int] = []
        self.waited = 0

    def grant(self, count: int) -> None:
        self.grants.append(count)

    def waits(self) -> None:
        self.waited += 1

    def start(self, spec: ChildSpec) -> None:
        pass

    def kill(self) -> None:
        self.killed = True

    def reap_group(self) -> None:
        pass

    def sweep(self) -> None:
        pass

    def leaked_section(self) -> tuple[str, str] | None:
        return None

    def read_output(self, name: str, limit: int) -> str:
        return ""


@pytest.fixture
def items(pytester: pytest.Pytester) -> list[pytest.Item]:
    return pytester.getitems(SOURCE)


def valid_stream(items: list[pytest.Item]) -> list[Message]:
    """What a healthy child sends for *items*, reports made by pytest."""
    config = items[0].config
    stream: list[Message] = [ev("started", pid=1), ev("collected", missing=[])]
    for item in items:
        stream.append(ev("logstart", nodeid=item.nodeid))
        for when in ("setup", "call", "teardown"):
            stream.append(ev("phase", nodeid=item.nodeid, when=when))
            call: pytest.CallInfo[None] = pytest.CallInfo.from_call(lambda: None, when)
            report = pytest.TestReport.from_item_and_call(item, call)
            data = config.hook.pytest_report_to_serializable(
                config=config, report=report
            )
            stream.append(ev("report", report=data))
        stream.append(ev("logfinish", nodeid=item.nodeid, log=""))
    stream.append(ev("finished", exitstatus=0))
    return stream


def ev(name: str, **fields: Any) -> Event:
    return Event(name, fields, time.time())


def garble(rng: random.Random, message: Message) -> Message:
    """One message made wrong in one of many ways."""
    if not isinstance(message, Event):
        return message
    fields = dict(message.fields)
    choice = rng.randrange(7)
    if choice == 0:
        return Event("no_such_event", fields, message.at)
    if choice == 1 and fields:
        del fields[rng.choice(sorted(fields))]
    elif choice == 2:
        for key in fields:
            fields[key] = rng.choice([None, 3, "x", [], {"a": 1}, 1e308])
    elif choice == 3 and "report" in fields:
        fields["report"] = {"$report_type": "NoSuchReport", "nodeid": "x"}
    elif choice == 4 and "nodeid" in fields:
        fields["nodeid"] = "test_other.py::test_stranger"
    elif choice == 5:
        fields["text"] = "x" * 5_000_000  # oversized
    else:
        return Garbled(b'{"v": 2, "event": "rep', "torn last event")
    return Event(message.name, fields, message.at)


def fuzz(rng: random.Random, stream: list[Message]) -> list[Message]:
    stream = list(stream)
    how = rng.randrange(5)
    if how == 0:  # truncated
        stream = stream[: rng.randrange(len(stream))]
    elif how == 1:  # reordered
        rng.shuffle(stream)
    elif how == 2:  # duplicated
        for _ in range(rng.randrange(1, 6)):
            stream.insert(rng.randrange(len(stream)), rng.choice(stream))
    elif how == 3:  # garbled here and there
        for _ in range(rng.randrange(1, 4)):
            index = rng.randrange(len(stream))
            stream[index] = garble(rng, stream[index])
    else:  # all at once
        rng.shuffle(stream)
        stream = stream[: rng.randrange(1, len(stream))]
        stream.append(garble(rng, rng.choice(stream)))
    return stream


def run_group(
    items: list[pytest.Item], stream: list[Message], tmp_path: Path
) -> dict[pytest.Item, Outcome]:
    """Feed *stream* to a fresh GroupRun as the scheduler would; then let
    every fresh child after a crash exit at once."""
    group: Group[pytest.Item] = Group(0, "g", list(items), Limit(10, "test"))
    run = GroupRun(items[0].config, group)
    spec = cast(ChildSpec, SimpleNamespace(wait_for_turn=False))
    run.attach(cast(ChildHandle, FakeChild(tmp_path)), spec)
    outcomes: dict[pytest.Item, Outcome] = {}
    for message in [*stream, Exited(-11)]:
        if run.child is None:
            break
        run.handle(message)
    for _ in range(len(items) + 1):  # each fresh child dies at once
        if not run.pending:
            break
        run.attach(cast(ChildHandle, FakeChild(tmp_path)), spec)
        run.handle(Exited(1))
    outcomes.update(run.done)
    assert not run.pending
    return outcomes


def test_a_valid_stream_gives_each_test_its_reports(
    items: list[pytest.Item], tmp_path: Path
) -> None:
    outcomes = run_group(items, valid_stream(items), tmp_path)
    assert set(outcomes) == set(items)
    for item in items:
        assert [r.when for r in outcomes[item].reports] == [
            "setup",
            "call",
            "teardown",
        ]


def test_no_stream_escapes_or_loses_a_test(
    items: list[pytest.Item], tmp_path: Path
) -> None:
    """300 fuzzed streams, each seeded (the seed names a failing one)."""
    valid = valid_stream(items)
    for seed in range(300):
        rng = random.Random(seed)
        outcomes = run_group(items, fuzz(rng, valid), tmp_path)
        assert set(outcomes) == set(items), seed
        for item, outcome in outcomes.items():
            whens = [r.when for r in outcome.reports if str(r.outcome) != "rerun"]
            assert "teardown" in whens, (seed, item.nodeid, whens)


def test_turns_let_each_test_run_when_it_comes_up(
    items: list[pytest.Item], tmp_path: Path
) -> None:
    """A child that waits for its turns is let run each test as it comes up,
    and the next one with it if it is the group's next test; once it has run
    all it was let run, its time limit stands still."""
    a, b, c = items
    group: Group[pytest.Item] = Group(0, "g", list(items), Limit(10, "test"))
    run = GroupRun(a.config, group)
    child = FakeChild(tmp_path)
    run.attach(
        cast(ChildHandle, child), cast(ChildSpec, SimpleNamespace(wait_for_turn=True))
    )
    stream = valid_stream(items)
    ends = [i for i, m in enumerate(stream) if getattr(m, "name", "") == "logfinish"]
    run.let_run(a, b)  # b comes right after a: both at once
    assert child.grants == [2]
    for message in stream[: ends[0] + 1]:
        run.handle(message)
    assert child.waited == 0  # b may run: the child goes on
    run.let_run(b, None)  # an in-process test comes between b and c
    assert child.grants == [2]
    for message in stream[ends[0] + 1 : ends[1] + 1]:
        run.handle(message)
    assert child.waited == 1  # done with b, not let run c
    run.let_run(c, None)
    assert child.grants == [2, 3]
    for message in stream[ends[1] + 1 :]:
        run.handle(message)
    assert set(run.done) == set(items)


def test_the_test_a_crash_took_along_fails_in_its_phase(
    items: list[pytest.Item], tmp_path: Path
) -> None:
    """The stream ends as the first test's call starts; the child dies."""
    stream = valid_stream(items)
    cut = next(
        i
        for i, m in enumerate(stream)
        if isinstance(m, Event) and m.name == "phase" and m.fields["when"] == "call"
    )
    outcomes = run_group(items, stream[: cut + 1], tmp_path)
    crashed = outcomes[items[0]].reports
    assert [(r.when, r.outcome) for r in crashed] == [
        ("setup", "passed"),
        ("call", "failed"),
        ("teardown", "passed"),
    ]
    assert "CRASHED with signal 11 (SIGSEGV)" in crashed[1].longreprtext
    for item in items[1:]:  # their fresh child died before it collected
        reports = outcomes[item].reports
        assert [(r.when, r.outcome) for r in reports] == [
            ("setup", "failed"),
            ("teardown", "passed"),
        ]
