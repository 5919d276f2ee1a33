"""Values and flashes written by one framework read back identical in the other."""

from __future__ import annotations

from typing import Any

import pytest

from tests.session.apps import typed_values
from tests.session.conftest import PAIRS, Browser


def _assert_identical(seen: Any, expected: Any) -> None:
    assert seen == expected
    assert type(seen) is type(expected)
    if isinstance(expected, dict):
        for key in expected:
            _assert_identical(seen[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        for got, want in zip(seen, expected, strict=True):
            _assert_identical(got, want)


@pytest.mark.parametrize(("writer", "reader"), PAIRS)
def test_every_tagged_type_reads_back_identical(
    browser: Browser, probe: list[Any], writer: str, reader: str
) -> None:
    assert browser.post(writer, "/typed").status_code == 200
    assert browser.get(reader, "/read").status_code == 200
    seen = probe[-1]
    for key, value in typed_values().items():
        _assert_identical(seen[key], value)


@pytest.mark.parametrize(("writer", "reader"), PAIRS)
def test_flash_on_one_side_shows_on_the_other_once(
    browser: Browser, probe: list[Any], writer: str, reader: str
) -> None:
    browser.post(writer, "/flash", params={"message": "Saved <note>", "category": "success"})
    browser.post(writer, "/flash", params={"message": "second"})
    browser.get(reader, "/flashes")
    assert probe[-1] == [("success", "Saved <note>"), ("message", "second")]
    browser.get(writer, "/flashes")
    assert probe[-1] == []


@pytest.mark.parametrize(("writer", "reader"), PAIRS)
def test_nested_change_without_reassignment_is_saved(
    browser: Browser, probe: list[Any], writer: str, reader: str
) -> None:
    browser.post(writer, "/list/cart")
    browser.post(writer, "/append/cart", params={"value": "a"})
    browser.post(reader, "/append/cart", params={"value": "b"})
    browser.get(writer, "/read")
    assert probe[-1]["cart"] == ["a", "b"]
