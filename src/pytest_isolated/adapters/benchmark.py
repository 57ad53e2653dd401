"""pytest-benchmark: one table, one JSON file, one saved run.

In a child, pytest-benchmark measures as usual; its ``pytest_sessionfinish``
and ``pytest_terminal_summary`` (which save and show) run only in the
parent.  Each child hands over its benchmarks' statistics; the parent adds
them to its own benchmark session in the run order, so that
``--benchmark-json``, ``--benchmark-autosave`` and the table hold every
benchmark once.  cProfile data (``--benchmark-cprofile``) does not cross: an
isolated benchmark's profile is left out, and a warning says so.

Both sides.
"""

from __future__ import annotations

import types
from collections.abc import Generator
from typing import Any

import pytest

from pytest_isolated.adapters.plugindata import used_by, warn

KEY = "pytest-benchmark"

#: What a benchmark is made of, besides its statistics.
FIELDS = ("name", "fullname", "group", "param", "params", "extra_info", "iterations")


class ChildBenchmarks:
    def pytest_isolated_child_sessionfinish(
        self, session: pytest.Session, output: dict[str, Any]
    ) -> None:
        bench: Any = getattr(session.config, "_benchmarksession", None)
        if bench is None or not bench.benchmarks:
            return
        output[KEY] = [_to_wire(metadata) for metadata in bench.benchmarks]


def _to_wire(metadata: Any) -> dict[str, Any]:
    data = {name: getattr(metadata, name) for name in FIELDS}
    data["data"] = list(metadata.stats.data)
    data["options"] = {
        k: getattr(v, "__name__", repr(v)) if callable(v) else v
        for k, v in metadata.options.items()
    }
    data["has_error"] = bool(metadata.has_error)
    data["cprofile"] = metadata.cprofile_stats is not None
    return data


class ParentBenchmarks:
    def __init__(self) -> None:
        self.carried: list[dict[str, Any]] = []
        self.lost: list[str] = []

    def pytest_isolated_child_output(
        self, group: str, items: list[pytest.Item], output: dict[str, Any] | None
    ) -> None:
        if output is None:
            if used_by(items, "benchmark", "benchmark_weave"):
                self.lost.append(group)
            return
        self.carried.extend(output.get(KEY, []))

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None]:
        bench: Any = getattr(session.config, "_benchmarksession", None)
        if bench is not None and self.carried:
            self._add(session, bench)
        if bench is not None and self.lost:
            names = ", ".join(repr(name) for name in dict.fromkeys(self.lost))
            warn(
                session.config,
                f"pytest-benchmark: the subprocess of group {names} ended before "
                "it handed over its benchmarks (it crashed, timed out or was "
                "stopped); they are missing from the table and the saved data",
            )
        return (yield)

    def _add(self, session: pytest.Session, bench: Any) -> None:
        from pytest_benchmark.stats import Metadata

        profiled = []
        for data in self.carried:
            fixture = types.SimpleNamespace(
                **{name: data[name] for name in FIELDS if name != "iterations"},
                cprofile_stats=None,
                has_error=data["has_error"],
            )
            metadata = Metadata(  # type: ignore[no-untyped-call]
                fixture, data["iterations"], data["options"]
            )
            metadata.stats.data = list(data["data"])
            bench.benchmarks.append(metadata)
            if data["cprofile"]:
                profiled.append(data["fullname"])
        # In the run order, as one process would have listed them.
        order = {item.nodeid: index for index, item in enumerate(session.items)}
        bench.benchmarks.sort(key=lambda m: order.get(m.fullname, len(order)))
        if profiled:
            warn(
                session.config,
                "pytest-benchmark: the cProfile data of isolated benchmarks "
                f"stays in their subprocess ({', '.join(profiled)})",
            )
