"""Unit tests of protocol: the values, events, spec, file tails and warnings that
cross between the parent and a child."""

from __future__ import annotations

import copy
import dataclasses
import enum
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from pytest_isolated import protocol
from pytest_isolated.protocol import (
    PROTOCOL_VERSION,
    ChildSpec,
    ProtocolError,
    decode_event,
    encode_event,
    read_tail,
    to_wire,
    warning_from_wire,
    warning_to_wire,
)


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque thing>"


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class NodeId(str):
    """Like pytest 9.2's node ids: a str subclass."""

    __slots__ = ()


class Color(enum.IntEnum):
    RED = 1


def strict_loads(line: bytes) -> Any:
    """json.loads that refuses NaN and Infinity, which are not JSON."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(line, parse_constant=refuse)


# -- to_wire, and its undoing as an event is decoded ----------------------------


def round_trip(value: object) -> object:
    """*value* sent in an event and decoded."""
    return decode_event(encode_event("x", value=value))[1]["value"]


@pytest.mark.parametrize(
    "value", [None, True, False, 0, -7, 2**70, 1.5, -0.0, "", "text", "é\n\x00"]
)
def test_plain_values_are_unchanged(value: object) -> None:
    wired = to_wire(value)
    assert wired == value
    assert type(wired) is type(value)
    assert round_trip(value) == value


def test_tuples_are_tagged() -> None:
    assert to_wire((1, "a")) == {"__tuple__": [1, "a"]}
    assert to_wire(()) == {"__tuple__": []}


def test_nested_tuples_lists_and_dicts_round_trip() -> None:
    value = {
        "location": ("test_a.py", 3, "test_x"),
        "sections": [("Captured stdout call", "out\n"), ("Captured log call", "")],
        "nested": ((1, (2, (3,))), [(), [()]]),
        "list": [1, [2, [3]]],
        "dict": {"inner": ({"deep": (None,)},)},
    }
    wired = to_wire(value)
    assert wired == {
        "location": {"__tuple__": ["test_a.py", 3, "test_x"]},
        "sections": [
            {"__tuple__": ["Captured stdout call", "out\n"]},
            {"__tuple__": ["Captured log call", ""]},
        ],
        "nested": {
            "__tuple__": [
                {"__tuple__": [1, {"__tuple__": [2, {"__tuple__": [3]}]}]},
                [{"__tuple__": []}, [{"__tuple__": []}]],
            ]
        },
        "list": [1, [2, [3]]],
        "dict": {"inner": {"__tuple__": [{"deep": {"__tuple__": [None]}}]}},
    }
    back: Any = round_trip(value)
    assert back == value
    assert type(back["location"]) is tuple
    assert type(back["sections"]) is list
    assert [type(s) for s in back["sections"]] == [tuple, tuple]
    assert type(back["nested"][0][1][1]) is tuple
    assert type(back["nested"][1]) is list
    assert type(back["nested"][1][1][0]) is tuple
    assert type(back["list"][1]) is list
    assert type(back["dict"]["inner"][0]["deep"]) is tuple


def test_a_dict_that_is_not_a_tag_is_kept() -> None:
    value = {"__tuple__": [1], "other": 2}
    assert round_trip(value) == value


def test_non_string_keys_become_their_repr() -> None:
    assert to_wire({1: "a", (2, 3): "b", None: "c", "s": "d"}) == {
        "1": "a",
        "(2, 3)": "b",
        "None": "c",
        "s": "d",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Opaque(), "<Opaque thing>"),
        ({1, 2}, "{1, 2}"),
        (b"raw", "b'raw'"),
        (Path("a") / "b", repr(Path("a") / "b")),
        (1j, "1j"),
        (
            [Opaque(), (Opaque(),)],
            ["<Opaque thing>", {"__tuple__": ["<Opaque thing>"]}],
        ),
    ],
)
def test_values_json_cannot_carry_degrade_to_repr(
    value: object, expected: object
) -> None:
    wired = to_wire(value)
    assert wired == expected
    json.dumps(wired)  # now plain JSON


def test_a_broken_repr_does_not_break_the_run() -> None:
    assert to_wire(BrokenRepr()) == (
        "<unrepresentable BrokenRepr: RuntimeError('no repr for you')>"
    )
    assert to_wire({"prop": (BrokenRepr(),)}) == {
        "prop": {
            "__tuple__": [
                "<unrepresentable BrokenRepr: RuntimeError('no repr for you')>"
            ]
        }
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [(math.inf, "inf"), (-math.inf, "-inf"), (math.nan, "nan")],
)
def test_non_finite_floats_become_strings(value: float, expected: str) -> None:
    assert to_wire(value) == expected
    line = encode_event("report", duration=value, nested=[(value,)])
    assert b"NaN" not in line
    assert b"Infinity" not in line
    assert strict_loads(line)["duration"] == expected
    assert decode_event(line) == (
        "report",
        {"duration": expected, "nested": [(expected,)]},
    )


def test_str_subclasses_become_plain_str() -> None:
    nodeid = NodeId("test_a.py::test_x")
    wired = to_wire(nodeid)
    assert wired == "test_a.py::test_x"
    assert type(wired) is str
    wired_pair = to_wire((nodeid, [nodeid]))
    assert wired_pair == {"__tuple__": ["test_a.py::test_x", ["test_a.py::test_x"]]}
    assert type(wired_pair["__tuple__"][0]) is str
    assert type(wired_pair["__tuple__"][1][0]) is str


def test_int_subclasses_stay_numbers() -> None:
    # An IntEnum (pytest.ExitCode, http.HTTPStatus) is an int JSON can carry:
    # it must not turn into a string ("1" or "Color.RED", depending on Python).
    wired = to_wire(Color.RED)
    assert wired == 1
    assert type(wired) is int
    assert to_wire(pytest.ExitCode.TESTS_FAILED) == 1
    assert decode_event(encode_event("finished", exitstatus=pytest.ExitCode.OK)) == (
        "finished",
        {"exitstatus": 0},
    )


# -- encode_event / decode_event -----------------------------------------------


def test_encode_event_is_one_line_of_ascii_json() -> None:
    line = encode_event(
        "report", text="line one\nline two\r\n\u2028é", location=("a.py", 1, "t")
    )
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert b"\r" not in line
    assert line.isascii()
    assert strict_loads(line) == {
        "v": PROTOCOL_VERSION,
        "event": "report",
        "text": "line one\nline two\r\n\u2028é",
        "location": {"__tuple__": ["a.py", 1, "t"]},
    }


def test_encode_event_without_fields() -> None:
    assert encode_event("started") == b'{"v":2,"event":"started"}\n'
    assert decode_event(b'{"v":2,"event":"started"}\n') == ("started", {})


def test_event_round_trip() -> None:
    fields = {
        "nodeid": "test_a.py::test_x",
        "missing": [],
        "report": {"location": ("a.py", None, "t"), "sections": [("a", "b")]},
        "pid": 1234,
        "deadline": None,
    }
    name, decoded = decode_event(encode_event(protocol.EV_REPORT, **fields))
    assert name == "report"
    assert decoded == fields
    assert type(decoded["report"]["location"]) is tuple
    assert type(decoded["report"]["sections"][0]) is tuple


def test_decode_event_accepts_a_line_without_its_newline() -> None:
    assert decode_event(encode_event("logstart", nodeid="x").rstrip(b"\n")) == (
        "logstart",
        {"nodeid": "x"},
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"Fatal Python error\n", "not JSON: b'Fatal Python error\\n'"),
        (b"", "not JSON: b''"),
        (b'{"v":2,"event":"x"\n', 'not JSON: b\'{"v":2,"event":"x"\\n\''),
        (b"\x80\x81\n", "not JSON: b'\\x80\\x81\\n'"),
        (b"[1, 2]\n", "not an event: b'[1, 2]\\n'"),
        (b'"started"\n', "not an event: b'\"started\"\\n'"),
        (b"3\n", "not an event: b'3\\n'"),
        (b'{"v":2}\n', "not an event: b'{\"v\":2}\\n'"),
        (b'{"v":2,"event":7}\n', 'not an event: b\'{"v":2,"event":7}\\n\''),
        (b'{"v":1,"event":"x"}\n', "protocol version 1, expected 2"),
        (b'{"v":"2","event":"x"}\n', "protocol version '2', expected 2"),
        (b'{"event":"x"}\n', "protocol version None, expected 2"),
    ],
)
def test_decode_event_rejects(line: bytes, message: str) -> None:
    with pytest.raises(ProtocolError) as excinfo:
        decode_event(line)
    assert str(excinfo.value) == message


def test_decode_event_shows_at_most_200_bytes_of_a_bad_line() -> None:
    line = b"x" * 500 + b"\n"
    with pytest.raises(ProtocolError) as excinfo:
        decode_event(line)
    assert str(excinfo.value) == f"not JSON: {b'x' * 200!r}"


# -- ChildSpec -----------------------------------------------------------------


#: A sample value for each field type of ChildSpec, by its annotation.  The
#: spec gains and loses fields as the child's needs change: the tests build a
#: spec from whatever fields it has.
SAMPLES: dict[str, object] = {
    "list[str]": ["-q", "tests/test_\u00e9.py::test_b[1-x]", "", "a b"],
    "str": "/tmp/pytest-of-u/pytest-3/isolated-\u00e9",
    "dict[str, str]": {"PATH": "/usr/bin", "EMPTY": "", "NEWLINE": "a\nb"},
    "dict[str, str] | None": {"PATH": "/bin", "\u00e9": "\u00e9"},
    "float | None": 1700000000.25,
    "str | None": "/tmp/w/events",
    "float": 2.5,
    "bool": True,
    "int": 7,
    "int | None": 132,
}

#: Other values of the same types: empty, None, false.
OTHER_SAMPLES: dict[str, object] = {
    "list[str]": [],
    "str": "",
    "dict[str, str]": {},
    "dict[str, str] | None": None,
    "float | None": None,
    "str | None": None,
    "float": 0.0,
    "bool": False,
    "int": 0,
    "int | None": None,
}


def make_spec(samples: dict[str, object]) -> ChildSpec:
    values: dict[str, Any] = {}
    for field in dataclasses.fields(ChildSpec):
        assert isinstance(field.type, str), field  # from __future__ import annotations
        assert field.type in samples, f"no sample for {field.name}: {field.type}"
        values[field.name] = copy.deepcopy(samples[field.type])
    return ChildSpec(**values)


@pytest.mark.parametrize("samples", [SAMPLES, OTHER_SAMPLES], ids=["full", "empty"])
def test_child_spec_round_trip(samples: dict[str, object]) -> None:
    spec = make_spec(samples)
    data = spec.to_json()
    assert data.endswith(b"\n")
    assert data.count(b"\n") == 1
    rebuilt = ChildSpec.from_json(data)
    assert rebuilt == spec
    assert ChildSpec.from_json(data.rstrip(b"\n")) == spec
    for field in dataclasses.fields(ChildSpec):
        value = getattr(rebuilt, field.name)
        assert type(value) is type(getattr(spec, field.name)), field.name


def test_child_spec_json_has_every_field_in_order() -> None:
    spec = make_spec(SAMPLES)
    data = json.loads(spec.to_json())
    assert list(data) == [field.name for field in dataclasses.fields(ChildSpec)]
    assert data == dataclasses.asdict(spec)


def test_child_spec_defaults() -> None:
    required: dict[str, Any] = {
        field.name: copy.deepcopy(SAMPLES[str(field.type)])
        for field in dataclasses.fields(ChildSpec)
        if field.default is dataclasses.MISSING
    }
    spec = ChildSpec(**required)
    assert spec.template is False
    assert spec.events_path is None
    assert ChildSpec.from_json(spec.to_json()) == spec


# -- read_tail -----------------------------------------------------------------


def test_read_tail_of_a_missing_file(tmp_path: Path) -> None:
    assert read_tail(tmp_path / "missing", 100) == ""
    assert read_tail(str(tmp_path / "missing"), 100) == ""


def test_read_tail_of_a_directory(tmp_path: Path) -> None:
    assert read_tail(tmp_path, 100) == ""


def test_read_tail_of_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"")
    assert read_tail(path, 100) == ""


def test_read_tail_of_a_short_file(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"hello\nworld\n")
    assert read_tail(path, 100) == "hello\nworld\n"
    assert read_tail(str(path), 12) == "hello\nworld\n"  # exactly the limit


def test_read_tail_notes_what_it_cut(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"0123456789")
    assert read_tail(path, 4) == "[6 earlier bytes not shown]\n6789"
    assert read_tail(path, 9) == "[1 earlier bytes not shown]\n123456789"
    assert read_tail(path, 0) == "[10 earlier bytes not shown]\n"


def test_read_tail_replaces_what_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes("ab€".encode())  # € is 3 bytes: e2 82 ac
    assert read_tail(path, 5) == "ab€"
    # Cut inside the euro sign: its last two bytes are not UTF-8 on their own.
    assert read_tail(path, 2) == "[3 earlier bytes not shown]\n\ufffd\ufffd"
    path.write_bytes(b"ok \xff\xfe")
    assert read_tail(path, 100) == "ok \ufffd\ufffd"


# -- warnings ------------------------------------------------------------------


class LocalWarning(UserWarning):
    pass


class Outer:
    class NestedWarning(UserWarning):
        pass


def record(
    message: Warning, filename: str = "/proj/test_a.py"
) -> warnings.WarningMessage:
    return warnings.WarningMessage(
        message=message,
        category=type(message),
        filename=filename,
        lineno=12,
        line=None,
    )


def test_warning_to_wire() -> None:
    data = warning_to_wire(record(DeprecationWarning("old API")))
    assert data == {
        "message": "old API",
        "category_module": "builtins",
        "category_name": "DeprecationWarning",
        "filename": "/proj/test_a.py",
        "lineno": 12,
        "line": None,
    }
    # Plain JSON, through an event and back.
    assert decode_event(encode_event("warning", warning=data)) == (
        "warning",
        {"warning": data},
    )


def test_warning_to_wire_keeps_a_source_line_and_stringifies_paths() -> None:
    message = warnings.WarningMessage(
        message=UserWarning("w"),
        category=UserWarning,
        filename=Path("a") / "b.py",  # type: ignore[arg-type]
        lineno=3,
        line="    warnings.warn('w')",
    )
    data = warning_to_wire(message)
    assert data["filename"] == str(Path("a") / "b.py")
    assert data["line"] == "    warnings.warn('w')"


@pytest.mark.parametrize(
    "category",
    [UserWarning, DeprecationWarning, pytest.PytestDeprecationWarning, LocalWarning],
)
def test_a_known_category_is_found_in_sys_modules(category: type[Warning]) -> None:
    assert category.__module__ in sys.modules
    rebuilt = warning_from_wire(warning_to_wire(record(category("careful"))))
    assert rebuilt.category is category
    assert isinstance(rebuilt.message, category)
    assert str(rebuilt.message) == "careful"
    assert rebuilt.filename == "/proj/test_a.py"
    assert rebuilt.lineno == 12
    assert rebuilt.line is None


def test_an_unknown_category_gets_a_stand_in_of_the_same_name() -> None:
    data = {
        "message": "from a test module",
        "category_module": "test_not_imported_here",
        "category_name": "CustomWarning",
        "filename": "/proj/test_not_imported_here.py",
        "lineno": 4,
        "line": "warnings.warn(CustomWarning('from a test module'))",
    }
    assert "test_not_imported_here" not in sys.modules
    rebuilt = warning_from_wire(data)
    category = rebuilt.category
    assert category.__name__ == "CustomWarning"
    assert category.__qualname__ == "CustomWarning"
    assert category.__module__ == "test_not_imported_here"
    assert issubclass(category, Warning)
    assert isinstance(rebuilt.message, category)
    assert str(rebuilt.message) == "from a test module"
    assert (rebuilt.filename, rebuilt.lineno, rebuilt.line) == (
        "/proj/test_not_imported_here.py",
        4,
        "warnings.warn(CustomWarning('from a test module'))",
    )
    # Printed as the original would be.
    assert warnings.formatwarning(
        rebuilt.message, category, rebuilt.filename, rebuilt.lineno, ""
    ) == ("/proj/test_not_imported_here.py:4: CustomWarning: from a test module\n")


def test_a_name_that_is_not_a_warning_class_gets_a_stand_in() -> None:
    # sys.modules has the module, but the name is a function, not a Warning.
    data = {
        "message": "m",
        "category_module": "json",
        "category_name": "dumps",
        "filename": "f.py",
        "lineno": 1,
    }
    rebuilt = warning_from_wire(data)
    function: object = json.dumps
    assert rebuilt.category is not function
    assert rebuilt.category.__name__ == "dumps"
    assert rebuilt.category.__module__ == "json"
    assert issubclass(rebuilt.category, Warning)
    assert rebuilt.line is None


def test_without_a_category_a_user_warning() -> None:
    data = {
        "message": "m",
        "category_module": None,
        "category_name": None,
        "filename": "f.py",
        "lineno": 1,
        "line": None,
    }
    rebuilt = warning_from_wire(data)
    assert rebuilt.category is UserWarning
    assert isinstance(rebuilt.message, UserWarning)


def test_a_nested_category_is_found_in_sys_modules() -> None:
    category = Outer.NestedWarning
    data = warning_to_wire(record(category("nested")))
    assert (data["category_module"], data["category_name"]) == (
        __name__,
        "Outer.NestedWarning",
    )
    rebuilt = warning_from_wire(data)
    assert rebuilt.category is category


def test_an_unknown_nested_category_prints_like_the_original() -> None:
    data = {
        "message": "nested",
        "category_module": "test_not_imported_here",
        "category_name": "Outer.NestedWarning",
        "filename": "f.py",
        "lineno": 1,
        "line": None,
    }
    category = warning_from_wire(data).category
    # The warnings summary prints __name__: "NestedWarning", as in-process.
    assert category.__name__ == "NestedWarning"
    assert category.__qualname__ == "Outer.NestedWarning"
    assert category.__module__ == "test_not_imported_here"
