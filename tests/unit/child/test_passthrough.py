"""What the child's terminal and JUnit writer keep for the parent."""

from __future__ import annotations

from typing import Any

from pytest_isolated.child.passthrough import LogXML, TerminalTap


def test_the_tap_keeps_only_what_is_written_while_recording() -> None:
    tap = TerminalTap()
    tap.write("before\n")
    tap.recording = True
    tap.write("a")
    tap.write("b")
    tap.raw.write("raw")
    tap.write("c")
    assert tap.take() == [[False, "ab"], [True, "raw"], [False, "c"]]
    assert tap.take() == []


def test_the_raw_tap_records_even_when_the_tap_does_not() -> None:
    tap = TerminalTap()
    tap.raw.write("past the writer")
    assert tap.take() == [[True, "past the writer"]]


def test_log_xml_sends_what_the_record_fixtures_give_it() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []

    def send(event: str, **fields: Any) -> None:
        sent.append((event, fields))

    xml = LogXML("xunit2", send)
    xml.node_reporter("t.py::test").add_attribute("k", 1)
    xml.add_global_property("p", "v")
    assert sent == [
        ("xml_attribute", {"nodeid": "t.py::test", "name": "k", "value": "1"}),
        ("xml_property", {"name": "p", "value": "v"}),
    ]
