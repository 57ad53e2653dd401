"""Unit tests of memory sizes and CPU seconds as users write them and as
they are shown."""

from __future__ import annotations

import pytest

from pytest_isolated.platform.units import MIB, format_bytes, parse_cpu, parse_memory

GIB = 1024 * MIB


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1024, 1024),
        (1.5, 1),
        ("512M", 512 * MIB),
        ("512MB", 512 * MIB),
        ("512 MiB", 512 * MIB),
        ("2G", 2 * GIB),
        ("1.5GiB", int(1.5 * GIB)),
        ("1.5gib", int(1.5 * GIB)),
        (" 64k ", 64 * 1024),
        ("1T", 1024 * GIB),
        ("100", 100),
        ("100b", 100),
        (".5G", GIB // 2),
        (0, None),
        ("0", None),
        ("0M", None),
    ],
)
def test_parse_memory_accepts_sizes_with_binary_units(
    value: object, expected: int | None
) -> None:
    assert parse_memory(value) == expected


@pytest.mark.parametrize(
    "value", ["lots", "", "12Q", "-1M", "1e3M", "M", "1.2.3G", True, None, [1], -5]
)
def test_parse_memory_rejects_everything_else_naming_the_value(value: object) -> None:
    with pytest.raises(ValueError, match="expected a size such as 512M") as excinfo:
        parse_memory(value)
    assert repr(value) in str(excinfo.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(10, 10.0), ("2.5", 2.5), (" 1 ", 1.0), (0, None), ("0", None)],
)
def test_parse_cpu(value: object, expected: float | None) -> None:
    assert parse_cpu(value) == expected


@pytest.mark.parametrize("value", ["soon", "nan", "inf", -1, "-2", True, None])
def test_parse_cpu_rejects_bad_values(value: object) -> None:
    with pytest.raises(ValueError, match="CPU seconds") as excinfo:
        parse_cpu(value)
    assert repr(value) in str(excinfo.value)


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (512 * MIB, "512 MiB"),
        (int(3.1 * GIB), "3.1 GiB"),
        (GIB, "1.0 GiB"),
        (1536, "2 KiB"),
        (0, "0 KiB"),
    ],
)
def test_format_bytes(size: int, shown: str) -> None:
    assert format_bytes(size) == shown
