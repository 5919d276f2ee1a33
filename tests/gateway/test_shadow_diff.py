"""Comparing a replay with the legacy answer: normalisers, first difference, unified diff."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.comparison import Normalisers, Recorded, compare, normalise_body
from gateway.settings import GatewaySettings


def answer(
    body: str, content_type: str = "text/html; charset=utf-8", status: int = 200
) -> Recorded:
    return Recorded(
        status=status,
        headers=[(b"content-type", content_type.encode())],
        body=bytearray(body.encode()),
        complete=True,
    )


LEGACY_PAGE = """<html>
  <body>
    <h1>Notes</h1>
    <ul><li>milk</li><li>eggs</li></ul>
    <p>3 notes</p>
  </body>
</html>"""


def test_a_mismatch_says_where_it_starts_and_shows_a_unified_diff() -> None:
    new_page = LEGACY_PAGE.replace("<li>eggs</li>", "<li>bread</li>")
    mismatch = compare(answer(LEGACY_PAGE), answer(new_page), diff_max_chars=4000)
    assert mismatch is not None
    assert mismatch.differences == ["body"]
    first = mismatch.first_difference
    assert first is not None
    assert first["legacy"] == "<li>eggs</li>" and first["new"] == "<li>bread</li>"
    assert first["column"] == 5
    assert "--- legacy" in mismatch.diff and "+++ new" in mismatch.diff
    assert "-<li>eggs</li>" in mismatch.diff and "+<li>bread</li>" in mismatch.diff
    assert "<h1>Notes</h1>" in mismatch.diff  # context lines


def test_the_diff_is_bounded() -> None:
    legacy = "\n".join(f"line {i}" for i in range(5000))
    new = "\n".join(f"LINE {i}" for i in range(5000))
    mismatch = compare(answer(legacy, "text/plain"), answer(new, "text/plain"), diff_max_chars=500)
    assert mismatch is not None
    assert len(mismatch.diff) <= 600
    assert mismatch.diff.endswith("(diff cut here)")


def test_json_diff_is_of_the_sorted_document() -> None:
    legacy = answer('{"b": 1, "a": [1, 2]}', "application/json")
    new = answer('{"a": [1, 3], "b": 1}', "application/json")
    mismatch = compare(legacy, new, diff_max_chars=4000)
    assert mismatch is not None
    assert "-  2" in mismatch.diff and "+  3" in mismatch.diff


def test_binary_bodies_report_the_first_differing_byte() -> None:
    legacy = answer("\x00\x01\x02", "application/octet-stream")
    new = answer("\x00\x01\x03", "application/octet-stream")
    mismatch = compare(legacy, new, diff_max_chars=4000)
    assert mismatch is not None
    assert mismatch.first_difference == {"byte": 2, "legacy_length": 3, "new_length": 3}


@pytest.mark.parametrize(
    ("legacy", "new"),
    [
        (
            '<input type="hidden" name="csrf_token" value="a1">',
            '<input name="csrf_token" value="b2">',
        ),
        ('<meta name="csrf-token" content="x">', '<meta name="csrf-token" content="y">'),
        ("at 2026-11-24T19:00:01Z", "at 2026-11-24T19:00:02.5+01:00"),
        ("Tue, 24 Nov 2026 19:00:00 GMT", "Wed, 25 Nov 2026 08:10:00 GMT"),
        ("req 0f3c2a9b8e7d6c5b4a3928171615141f", "req 99999999999999999999999999999999"),
        ("id 2f1e7c1a-8b7e-4a44-9d27-6ad2d3b3a111", "id 0c5f3b1e-1111-4a44-9d27-000000000000"),
    ],
)
def test_default_normalisers_mask_what_changes_on_every_render(legacy: str, new: str) -> None:
    assert compare(answer(legacy), answer(new)) is None


def test_json_csrf_members_are_masked() -> None:
    legacy = answer('{"csrf_token": "x", "a": 1}', "application/json")
    new = answer('{"a": 1, "csrf_token": "y"}', "application/json")
    assert compare(legacy, new) is None


def test_configured_normalisers_add_to_the_defaults() -> None:
    normalisers = Normalisers.build({"build": r"build [0-9a-f]{7}"})
    assert normalisers.names == ["csrf", "timestamp", "request_id", "build"]
    legacy, new = answer("v1 build abc1234 2026-01-01"), answer("v1 build def5678 2026-02-02")
    assert compare(legacy, new, normalisers) is None
    assert compare(legacy, new) is not None


def test_a_default_can_be_turned_off() -> None:
    normalisers = Normalisers.build({"timestamp": ""})
    assert "timestamp" not in normalisers.names
    assert compare(answer("at 2026-01-01"), answer("at 2026-01-02"), normalisers) is not None
    assert normalise_body("text/plain", b"at 2026-01-01") == "at <timestamp>"


def test_a_bad_pattern_is_refused_at_start_up_with_its_name() -> None:
    with pytest.raises(ValidationError, match="'broken' is not a valid regular expression"):
        GatewaySettings(legacy_app="x:y", shadow_normalisers={"broken": "(unclosed"})


def test_sample_rate_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(legacy_app="x:y", shadow_sample_rate=1.5)
