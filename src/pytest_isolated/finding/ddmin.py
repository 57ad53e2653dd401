"""Pure: find which earlier tests make a failed test fail (``--isolated-bisect``).

A *probe* runs some of the tests that ran before the failed test (the
*victim*), in their original order, then the victim, in a fresh process; it
answers whether the victim failed.  :func:`diagnose` decides, probe by probe:

1. the victim alone.  If it fails, once more: failing twice is a plain
   failure (``fails-alone``), failing then passing is ``flaky``;
2. the culprits found for earlier victims: the most useful set, then the
   others together (a probe each).  One polluter usually explains many
   victims, and one probe then does what a whole reduction would;
3. else every test that ran before it.  If the victim passes after all of
   them, its failure is ``not-reproduced``; if it fails, :func:`ddmin`
   shrinks them to a smallest set that still makes it fail (usually one
   test; two when a polluter needs another test before it);
4. the set found, once more: failing again is the verdict ``polluted-by``,
   passing this time is ``flaky``.

:func:`ddmin` is Zeller's delta debugging: split the tests into *n* chunks,
keep a chunk (or the rest without one) that still makes the victim fail,
else split finer.  The result is 1-minimal: leaving out any one of its
tests makes the victim pass.  One polluter among *N* tests costs about
2 log2 N probes.

A probe may raise any exception (the plugin raises :class:`OutOfBudget` when
its time is up); it propagates.

Pure; imports nothing of the package.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)

POLLUTED = "polluted-by"
FAILS_ALONE = "fails-alone"
FLAKY = "flaky"
NOT_REPRODUCED = "not-reproduced"
BUDGET_EXHAUSTED = "budget-exhausted"

#: A probe: does the victim fail when run after these tests (in this order)?
Probe = Callable[[list[T]], bool]


class OutOfBudget(Exception):
    """The bisect's time is up: no more probes."""


@dataclasses.dataclass(frozen=True)
class Verdict(Generic[T]):
    """What the probes showed about one failed test."""

    kind: str
    #: For ``polluted-by``: the tests that make it fail, in run order.  For
    #: ``flaky``: the tests it failed after, then passed after (empty: alone).
    culprits: tuple[T, ...] = ()


def ddmin(tests: Sequence[T], fails: Probe[T]) -> list[T]:
    """A 1-minimal subsequence of *tests* after which the victim still fails.

    *fails(tests)* is taken to be true, and *fails([])* false.
    """
    current = list(tests)
    chunks = 2
    while len(current) >= 2:
        parts = _split(current, chunks)
        found = next((part for part in parts if fails(part)), None)
        if found is not None:
            current, chunks = found, 2
            continue
        if chunks > 2:  # with two parts, each one's complement is the other
            for index in range(len(parts)):
                rest = [t for i, part in enumerate(parts) if i != index for t in part]
                if fails(rest):
                    current, chunks = rest, max(chunks - 1, 2)
                    break
            else:
                rest = []
            if rest:
                continue
        if chunks >= len(current):
            break
        chunks = min(len(current), chunks * 2)
    return current


def _split(tests: list[T], chunks: int) -> list[list[T]]:
    """*tests* cut into *chunks* runs of nearly equal length, in order."""
    size, extra = divmod(len(tests), chunks)
    parts, start = [], 0
    for index in range(chunks):
        end = start + size + (1 if index < extra else 0)
        parts.append(tests[start:end])
        start = end
    return [part for part in parts if part]


def diagnose(
    prefix: Sequence[T], probe: Probe[T], known: Sequence[Sequence[T]] = ()
) -> Verdict[T]:
    """Probe until the victim's failure is explained (see the module's steps).

    *prefix*: the tests that ran before the victim in its process, in order.
    *known*: culprit sets found for earlier victims, the most useful first.
    """
    if probe([]):
        return Verdict(FAILS_ALONE) if probe([]) else Verdict(FLAKY)
    seen: dict[tuple[T, ...], bool] = {}

    def fails(tests: list[T]) -> bool:
        key = tuple(tests)
        if key not in seen:
            seen[key] = probe(tests)
        return seen[key]

    found: list[T] | None = None
    before = set(prefix)
    # The most useful culprits alone, then all the others at once: one probe
    # each, however many polluters the suite has.
    usable = [set(c) for c in known if c and all(t in before for t in c)]
    tries = [usable[0], set().union(*usable[1:])] if usable else []
    for wanted in tries:
        subset = [t for t in prefix if t in wanted]
        if subset and fails(subset):
            found = ddmin(subset, fails)
            break
    if found is None:
        everything = list(prefix)
        if not everything or not fails(everything):
            return Verdict(NOT_REPRODUCED)
        found = ddmin(everything, fails)
    if probe(found):  # the confirmation: never answered from what was seen
        return Verdict(POLLUTED, tuple(found))
    return Verdict(FLAKY, tuple(found))
