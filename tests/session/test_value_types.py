"""date, time, Decimal (and dataclasses) in the shared session, on real Redis.

Flask's cookie session accepts ``date`` and ``Decimal`` (its JSON provider
turns them into strings); the shared session keeps their types, written by
either framework and read by either.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import flask
import pytest
import redis
from fastapi import FastAPI, Request

from shared_session import SessionSettings
from shared_session.codec import decode_value, encode_value
from shared_session.store.redis import session_key
from tests.session.apps import make_asgi, make_flask
from tests.session.conftest import PAIRS, SIDES, Browser
from tests.session.test_takeover import LEGACY_FLASK_KEY, legacy_flask_cookie


@dataclasses.dataclass
class Price:
    amount: Decimal
    on: date


VALUES: dict[str, Any] = {
    "date": date(2024, 2, 29),
    "time": time(13, 45, 7, 123456),
    "aware_time": time(23, 59, 59, tzinfo=timezone(timedelta(hours=-3, minutes=-30))),
    "decimal": Decimal("19.90"),
    "decimal_exponent": Decimal("-1.5E+7"),
    "decimal_special": [Decimal("NaN"), Decimal("-0"), Decimal("Infinity")],
    "mixed": {
        "due": (date(2025, 1, 31), time(9, 0)),
        "total": Decimal("0.10") + Decimal("0.20"),
        "at": datetime(2024, 5, 1, 8, 30, 0, 1, tzinfo=UTC),
    },
    # A user dict that looks like one of the new tags must stay a dict.
    "lookalike": {" da": "2024-02-29", " de": "1"},
}


def _assert_identical(seen: Any, expected: Any) -> None:
    assert type(seen) is type(expected), (seen, expected)
    if isinstance(expected, Decimal):
        assert str(seen) == str(expected)  # NaN != NaN; the digits must match
    elif isinstance(expected, dict):
        assert seen.keys() == expected.keys()
        for key in expected:
            _assert_identical(seen[key], expected[key])
    elif isinstance(expected, (list, tuple)):
        assert len(seen) == len(expected)
        for got, want in zip(seen, expected, strict=True):
            _assert_identical(got, want)
    else:
        assert seen == expected
        if isinstance(expected, time):
            assert seen.utcoffset() == expected.utcoffset()


def _browser(settings: SessionSettings, probe: list[Any]) -> Browser:
    flask_app = make_flask(settings, probe)

    @flask_app.post("/store/<name>")
    def store(name: str) -> str:
        flask.session[name] = VALUES[name] if name in VALUES else Price(Decimal("2.50"), date.min)
        return "stored"

    asgi_app: FastAPI = make_asgi(settings, probe)

    @asgi_app.post("/store/{name}")
    def store_asgi(request: Request, name: str) -> str:
        request.session[name] = VALUES[name] if name in VALUES else Price(Decimal("2.50"), date.min)
        return "stored"

    return Browser(flask_app, asgi_app)


@pytest.mark.parametrize(("writer", "reader"), PAIRS)
@pytest.mark.parametrize("name", list(VALUES))
def test_value_keeps_its_type_across_frameworks(
    redis_settings: SessionSettings, writer: str, reader: str, name: str
) -> None:
    probe: list[Any] = []
    browser = _browser(redis_settings, probe)
    assert browser.post(writer, f"/store/{name}").status_code == 200
    assert browser.get(reader, "/read").status_code == 200
    _assert_identical(probe[-1][name], VALUES[name])
    # Read back on the writing side too, after the other side has loaded it.
    browser.get(writer, "/read")
    _assert_identical(probe[-1][name], VALUES[name])


@pytest.mark.parametrize("side", SIDES)
def test_both_sides_store_the_same_tagged_bytes(
    redis_settings: SessionSettings, redis_client: redis.Redis, side: str
) -> None:
    browser = _browser(redis_settings, [])
    browser.post(side, "/store/mixed")
    cookie = browser.session_cookie()
    assert cookie is not None
    key = session_key(redis_settings.key_prefix, cookie.partition(".")[0])
    stored = redis_client.hget(key, "k:mixed")
    assert stored == encode_value("mixed", VALUES["mixed"])
    assert b'" da":"2025-01-31"' in stored and b'" de":"0.30"' in stored


@pytest.mark.parametrize("side", SIDES)
def test_dataclass_is_stored_as_a_dict_of_its_fields_as_flask_does(
    redis_settings: SessionSettings, side: str
) -> None:
    probe: list[Any] = []
    browser = _browser(redis_settings, probe)
    assert browser.post(side, "/store/price").status_code == 200
    browser.get("asgi" if side == "flask" else "flask", "/read")
    _assert_identical(probe[-1]["price"], {"amount": Decimal("2.50"), "on": date.min})


def test_values_flask_cannot_store_still_fail_naming_the_key() -> None:
    with pytest.raises(TypeError, match=r"session\['tags'\] cannot be stored"):
        encode_value("tags", {"a", "b"})
    assert decode_value(encode_value("d", date(2024, 2, 29))) == date(2024, 2, 29)


@pytest.mark.parametrize("side", SIDES)
def test_taken_over_flask_cookie_reads_as_flask_itself_read_it(
    redis_settings: SessionSettings, side: str
) -> None:
    """Stock Flask writes date and Decimal into its cookie as strings: after
    takeover the app sees exactly what it saw before (no 500, no new type)."""
    data = {
        "day": date(2024, 2, 29),
        "amount": Decimal("19.90"),
        "at": datetime(2024, 2, 29, 13, 45, 7, tzinfo=UTC),
        "pair": (1, "two"),
    }
    cookie, flask_sees = legacy_flask_cookie(data)
    assert flask_sees["day"] == "Thu, 29 Feb 2024 00:00:00 GMT"
    assert flask_sees["amount"] == "19.90"
    settings = redis_settings.with_changes(flask_secret_keys=[LEGACY_FLASK_KEY])
    probe: list[Any] = []
    browser = _browser(settings, probe)
    browser.cookies = {"session": cookie}
    assert browser.get(side, "/read").status_code == 200
    for key in data:
        _assert_identical(probe[-1][key], flask_sees[key])
    browser.get("asgi" if side == "flask" else "flask", "/read")
    for key in data:
        _assert_identical(probe[-1][key], flask_sees[key])
