"""Flag states, their parsing, and flipping them through the admin API."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from gateway.app import create_gateway
from gateway.flags import Flag, FlagError, GroupError, Groups, parse_flag
from tests.gateway.support import EchoBackend, serve, settings_for

TOKEN = {"Authorization": "Bearer s3cret"}


@pytest.mark.parametrize(
    ("text", "flag", "canonical"),
    [
        ("legacy", Flag("legacy"), "legacy"),
        (" NEW ", Flag("new"), "new"),
        ("shadow", Flag("shadow"), "shadow"),
        ("canary 10", Flag("canary", 1000), "canary 10"),
        ("canary 12.5", Flag("canary", 1250), "canary 12.5"),
        ("canary 12.5%", Flag("canary", 1250), "canary 12.5"),
        ("Canary 0.01 %", Flag("canary", 1), "canary 0.01"),
        ("canary 0", Flag("canary", 0), "canary 0"),
        ("canary 100", Flag("canary", 10000), "canary 100"),
        ("canary 33.30", Flag("canary", 3330), "canary 33.3"),
    ],
)
def test_flags_parse_to_basis_points_and_print_canonically(
    text: str, flag: Flag, canonical: str
) -> None:
    assert parse_flag(text) == flag
    assert str(parse_flag(text)) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "",
        "old",
        "canary",
        "canary -1",
        "canary 100.01",
        "canary 12.345",
        "canary ten",
        "canary 1e2",
        "new!",
        "canary 5 %%",
        "legacy new",
        "x" * 1000,
        "canary NaN",
    ],
)
def test_malformed_flags_are_rejected_with_a_message(text: str) -> None:
    with pytest.raises(FlagError):
        parse_flag(text)


def test_non_string_flags_are_rejected() -> None:
    with pytest.raises(FlagError, match="must be a string"):
        parse_flag(12)


def test_a_route_cannot_be_in_two_groups() -> None:
    with pytest.raises(GroupError, match=r"notes\.show"):
        Groups.from_settings({"a": ["notes.show"], "b": ["notes.show"]})


def gateway_for(tmp_path: Path, **overrides: object) -> tuple[object, EchoBackend, EchoBackend]:
    legacy, new = EchoBackend("legacy"), EchoBackend("new")
    settings = settings_for(tmp_path, admin_token="s3cret", **overrides)
    return create_gateway(settings, legacy_backend=legacy, new_backend=new), legacy, new


@pytest.mark.parametrize(
    ("flag", "served_by"),
    [("legacy", "legacy"), ("new", "new"), ("canary 0", "legacy"), ("canary 100", "new")],
)
def test_each_flag_state_picks_the_side(tmp_path: Path, flag: str, served_by: str) -> None:
    gateway, _, _ = gateway_for(tmp_path, flags={"prices": flag})
    with serve(gateway) as url:
        response = httpx.get(f"{url}/prices/1.5")
    assert response.status_code == 200
    assert response.headers["x-served-by"] == served_by
    assert response.json()["side"] == served_by


def test_unflagged_routes_get_the_default_flag(tmp_path: Path) -> None:
    gateway, _, _ = gateway_for(tmp_path, default_flag="new")
    with serve(gateway) as url:
        assert httpx.get(f"{url}/prices/1.5").headers["x-served-by"] == "new"


def test_shadow_answers_from_legacy_and_replays_to_new(tmp_path: Path) -> None:
    gateway, legacy, new = gateway_for(tmp_path, flags={"prices": "shadow"})
    with serve(gateway) as url:
        response = httpx.get(f"{url}/prices/1.5")
        deadline = time.monotonic() + 5
        while new.calls == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        stats = httpx.get(f"{url}/_gateway/shadow", headers=TOKEN).json()
    assert response.headers["x-served-by"] == "legacy"
    assert response.json()["side"] == "legacy"
    assert (legacy.calls, new.calls) == (1, 1)
    assert stats["shadow"] is not None


def test_flip_changes_the_side_without_a_restart(tmp_path: Path) -> None:
    gateway, _, _ = gateway_for(tmp_path)
    with serve(gateway) as url:
        before = httpx.get(f"{url}/prices/1.5")
        flipped = httpx.put(f"{url}/_gateway/flags/prices", json={"flag": "new"}, headers=TOKEN)
        after = httpx.get(f"{url}/prices/1.5")
    assert before.headers["x-served-by"] == "legacy"
    assert flipped.status_code == 200
    assert flipped.json()["flag"] == "new"
    assert flipped.json()["version"] == int(before.headers["x-gateway-flags-version"]) + 1
    assert after.headers["x-served-by"] == "new"
    assert after.headers["x-gateway-flags-version"] == str(flipped.json()["version"])


def test_group_flip_moves_every_member_together(tmp_path: Path) -> None:
    groups = {"notes": ["notes.list", "notes.show", "notes.update"]}
    gateway, _, _ = gateway_for(tmp_path, groups=groups)
    with serve(gateway) as url:
        response = httpx.put(f"{url}/_gateway/flags/notes", json={"flag": "new"}, headers=TOKEN)
        sides = {
            path: httpx.request(method, f"{url}{path}").headers["x-served-by"]
            for method, path in [("GET", "/notes/"), ("GET", "/notes/4"), ("PUT", "/notes/4")]
        }
        outside = httpx.get(f"{url}/notes/4/edit").headers["x-served-by"]
    assert response.status_code == 200
    assert response.json()["warnings"] == ["the new app does not implement notes.update"]
    assert set(sides.values()) == {"new"}
    assert outside == "legacy"


@pytest.mark.parametrize(
    ("key", "body", "message"),
    [
        ("prices", {"flag": "canary 12.345"}, "finer than"),
        ("prices", {"flag": "sometimes"}, "unknown flag"),
        ("prices", {"flag": 5}, "must be a string"),
        ("prices", {"wrong": "new"}, "body must be JSON"),
        ("prices", ["new"], "body must be JSON"),
        ("no.such.route", {"flag": "new"}, "unknown route or group"),
        ("notes.show", {"flag": "new"}, "moves with group 'notes'"),
        ("stats", {"flag": "legacy"}, "exists only in the new app"),
    ],
)
def test_bad_flips_get_400_and_change_nothing(
    tmp_path: Path, key: str, body: object, message: str
) -> None:
    gateway, _, _ = gateway_for(tmp_path, groups={"notes": ["notes.show"]})
    with serve(gateway) as url:
        response = httpx.put(f"{url}/_gateway/flags/{key}", json=body, headers=TOKEN)
        flags = httpx.get(f"{url}/_gateway/flags", headers=TOKEN).json()
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert (flags["version"], flags["flags"]) == (1, {})


def test_non_json_flip_body_gets_400(tmp_path: Path) -> None:
    gateway, _, _ = gateway_for(tmp_path)
    with serve(gateway) as url:
        response = httpx.put(f"{url}/_gateway/flags/prices", content=b"\xff{", headers=TOKEN)
    assert response.status_code == 400


@pytest.mark.parametrize("auth", [None, "Bearer wrong", "Basic czNjcmV0", "Bearer"])
def test_admin_api_needs_the_bearer_token(tmp_path: Path, auth: str | None) -> None:
    gateway, _, _ = gateway_for(tmp_path)
    headers = {"Authorization": auth} if auth else {}
    with serve(gateway) as url:
        flip = httpx.put(f"{url}/_gateway/flags/prices", json={"flag": "new"}, headers=headers)
        listing = httpx.get(f"{url}/_gateway/routes", headers=headers)
        health = httpx.get(f"{url}/_gateway/health")
        served = httpx.get(f"{url}/prices/1.5").headers["x-served-by"]
    assert (flip.status_code, listing.status_code, health.status_code) == (401, 401, 200)
    assert flip.headers["www-authenticate"] == "Bearer"
    assert served == "legacy"


def test_configured_flags_for_unknown_routes_fail_at_start(tmp_path: Path) -> None:
    from gateway.app import GatewayConfigError

    with pytest.raises(GatewayConfigError, match="neither a legacy route nor a group"):
        gateway_for(tmp_path, flags={"nope": "new"})
    with pytest.raises(GatewayConfigError, match="unknown legacy routes"):
        gateway_for(tmp_path, groups={"g": ["nope"]})
    with pytest.raises(FlagError):
        gateway_for(tmp_path, flags={"prices": "canary 300"})
