"""Pure planning: selected tests in run order -> the groups that run them.

The groups are numbered in the order of their first test.

A group is one subprocess.  Its tests run in the session's run order even when
they are not adjacent (a named group may span modules).  A group's time limit
is the largest ``timeout=`` any of its tests' markers gives, else the session's;
its memory and CPU limits are decided the same way.

Pure; imports only ``settings`` (for its types).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Sequence
from typing import Generic, TypeVar

from pytest_isolated.settings import NO_LIMIT, Limit, Request

T = TypeVar("T", bound=Hashable)


@dataclasses.dataclass
class Group(Generic[T]):
    """The tests that share one subprocess, in run order."""

    index: int
    name: str
    items: list[T]
    timeout: Limit
    #: Must not run beside other groups (any of its tests' markers said so).
    exclusive: bool = False
    #: Asked for in pytest-forked's spelling (every test of it was).
    forked: bool = True
    mem_limit: Limit = NO_LIMIT
    cpu_limit: Limit = NO_LIMIT


def plan_groups(
    requests: Sequence[tuple[T, Request | None]],
    default: Limit,
    mem_limit: Limit = NO_LIMIT,
    cpu_limit: Limit = NO_LIMIT,
) -> dict[T, Group[T]]:
    """Map each isolated test to its group; tests not isolated are left out.
    *default*, *mem_limit* and *cpu_limit* are the session's limits."""
    groups: dict[tuple[str, str], Group[T]] = {}
    by_item: dict[T, Group[T]] = {}
    for item, request in requests:
        if request is None:
            continue
        group = groups.get(request.key)
        if group is None:
            group = Group(
                len(groups),
                request.name,
                [],
                default,
                mem_limit=mem_limit,
                cpu_limit=cpu_limit,
            )
            groups[request.key] = group
        group.items.append(item)
        group.exclusive = group.exclusive or request.exclusive
        group.forked = group.forked and request.forked
        group.timeout = _combine(group.timeout, request.timeout, default)
        group.mem_limit = _combine(group.mem_limit, request.mem_limit, mem_limit)
        group.cpu_limit = _combine(group.cpu_limit, request.cpu_limit, cpu_limit)
        by_item[item] = group
    return by_item


def _combine(current: Limit, asked: Limit | None, default: Limit) -> Limit:
    """Combine a group's limit with one more marker's: markers beat the default,
    and among markers the most generous limit wins (no limit beats any)."""
    if asked is None:
        return current
    if current is default:
        return asked
    if current.value is None:
        return current
    if asked.value is None or asked.value > current.value:
        return asked
    return current
