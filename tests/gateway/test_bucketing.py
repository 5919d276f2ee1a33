"""Canary buckets: sticky per browser, monotonic when ramping, sized right."""

from __future__ import annotations

from pathlib import Path

import httpx

from gateway.app import create_gateway
from gateway.bucketing import (
    bucket,
    in_canary,
    is_valid_bucket_id,
    new_bucket_id,
    read_cookie,
)
from tests.gateway.support import EchoBackend, serve, settings_for

USERS = [new_bucket_id() for _ in range(10_000)]


def test_ten_percent_canary_holds_ten_percent_of_users() -> None:
    inside = sum(in_canary(user, "notes.show", 1000) for user in USERS)
    assert 900 <= inside <= 1100, inside


def test_ramping_up_only_adds_users() -> None:
    at_10 = {u for u in USERS if in_canary(u, "notes.show", 1000)}
    at_20 = {u for u in USERS if in_canary(u, "notes.show", 2000)}
    assert at_10 <= at_20
    assert 1800 <= len(at_20) <= 2200


def test_bucket_is_stable_for_a_user_and_route() -> None:
    user = USERS[0]
    assert len({bucket(user, "notes.show") for _ in range(100)}) == 1
    assert 0 <= bucket(user, "notes.show") < 10_000


def test_routes_bucket_users_independently() -> None:
    in_a = {u for u in USERS if in_canary(u, "a", 1000)}
    in_b = {u for u in USERS if in_canary(u, "b", 1000)}
    assert len(in_a & in_b) < 300  # ~100 expected if independent, 1000 if the same


def test_zero_and_full_canaries_are_exact() -> None:
    assert not any(in_canary(u, "k", 0) for u in USERS[:1000])
    assert all(in_canary(u, "k", 10_000) for u in USERS[:1000])


def test_bucket_ids_are_validated() -> None:
    assert is_valid_bucket_id(new_bucket_id())
    for hostile in [
        None,
        "",
        "short",
        "x" * 23,
        "../../../etc/passwd..",
        "a" * 21 + ";",
        "ü" * 22,
        "a" * 21 + "\x00",
    ]:
        assert not is_valid_bucket_id(hostile)


def test_cookie_reading_tolerates_junk() -> None:
    header = 'a=1; ;;=;gw_bucket="abc"; gw_bucket=second; junk'
    assert read_cookie(header, "gw_bucket") == "abc"
    assert read_cookie("gw_bucketx=1", "gw_bucket") is None
    assert read_cookie("\xff\x00;=", "gw_bucket") is None


def canary_gateway(tmp_path: Path, flag: str = "canary 50") -> object:
    settings = settings_for(tmp_path, flags={"prices": flag})
    return create_gateway(
        settings, legacy_backend=EchoBackend("legacy"), new_backend=EchoBackend("new")
    )


def test_a_browser_stays_on_its_side_across_requests(tmp_path: Path) -> None:
    with serve(canary_gateway(tmp_path)) as url:
        sides = set()
        for _ in range(10):
            client = httpx.Client()
            first = client.get(f"{url}/prices/1.5")
            cookie = first.headers["set-cookie"]
            assert cookie.startswith("gw_bucket=") and "Max-Age=63072000" in cookie
            later = [client.get(f"{url}/prices/1.5") for _ in range(10)]
            assert {r.headers["x-served-by"] for r in later} == {first.headers["x-served-by"]}
            assert all("set-cookie" not in r.headers for r in later)
            sides.add(first.headers["x-served-by"])
            client.close()
    assert sides == {"legacy", "new"}  # 10 browsers at 50 %: both sides (p of failing ~0.002)


def test_side_survives_login_logout_and_session_regeneration(tmp_path: Path) -> None:
    """The bucket is the gateway's own cookie, so session cookie changes do not move users."""
    with serve(canary_gateway(tmp_path)) as url:
        bucket_id = new_bucket_id()
        sides = {
            httpx.get(
                f"{url}/prices/1.5", headers={"Cookie": f"session={session}; gw_bucket={bucket_id}"}
            ).headers["x-served-by"]
            for session in ["", "anon-1", "logged-in-2", "regenerated-3", ""]
        }
    assert len(sides) == 1
    expected = "new" if in_canary(bucket_id, "prices", 5000) else "legacy"
    assert sides == {expected}


def test_hostile_bucket_cookie_is_replaced(tmp_path: Path) -> None:
    with serve(canary_gateway(tmp_path)) as url:
        for hostile in ["../../x", "a" * 5000, "\"'<script>", "%ff%fe"]:
            response = httpx.get(f"{url}/prices/1.5", headers={"Cookie": f"gw_bucket={hostile}"})
            assert response.status_code == 200
            new_value = response.headers["set-cookie"].split(";")[0].split("=", 1)[1]
            assert is_valid_bucket_id(new_value)


def test_non_canary_routes_set_no_bucket_cookie(tmp_path: Path) -> None:
    with serve(canary_gateway(tmp_path, flag="new")) as url:
        assert "set-cookie" not in httpx.get(f"{url}/prices/1.5").headers
