"""The admin API: closed unless configured, named tokens, its own listener,
and 4xx for any malformed payload."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gateway.app import GatewayConfigError
from gateway.settings import GatewaySettings
from tests.gateway.support import echo_gateway, serve, settings_for
from tests.redis_server import free_port

FLIP = {"flag": "new"}


def closed_settings(tmp_path: Path, **overrides: object) -> GatewaySettings:
    return settings_for(tmp_path, admin_open=False, **overrides)


def test_without_a_token_every_admin_endpoint_but_the_probes_refuses(tmp_path: Path) -> None:
    with serve(echo_gateway(closed_settings(tmp_path))) as url:
        flip = httpx.put(f"{url}/_gateway/flags/prices", json=FLIP)
        reads = [httpx.get(f"{url}/_gateway/{path}") for path in ("routes", "flags", "shadow")]
        health = httpx.get(f"{url}/_gateway/health")
        ready = httpx.get(f"{url}/_gateway/ready")
        served = httpx.get(f"{url}/prices/1.5")
    assert flip.status_code == 403
    assert "GATEWAY_ADMIN_TOKEN" in flip.json()["error"]
    assert [r.status_code for r in reads] == [403, 403, 403]
    assert (health.status_code, ready.status_code) == (200, 200)
    assert served.headers["x-served-by"] == "legacy"  # the refused flip changed nothing


def test_the_single_token_opens_the_api_and_a_wrong_one_does_not(tmp_path: Path) -> None:
    settings = closed_settings(tmp_path, admin_token="the-one-token")
    with serve(echo_gateway(settings)) as url:
        wrong = httpx.put(
            f"{url}/_gateway/flags/prices", json=FLIP, headers={"Authorization": "Bearer nope"}
        )
        right = httpx.put(
            f"{url}/_gateway/flags/prices",
            json=FLIP,
            headers={"Authorization": "Bearer the-one-token"},
        )
        served = httpx.get(f"{url}/prices/1.5")
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert right.status_code == 200
    assert served.headers["x-served-by"] == "new"


def test_named_tokens_each_open_the_api(tmp_path: Path) -> None:
    settings = closed_settings(
        tmp_path, admin_token="legacy-single", admin_tokens=["alice:a-token", "deploy:d-token"]
    )
    with serve(echo_gateway(settings)) as url:
        statuses = [
            httpx.get(f"{url}/_gateway/flags", headers={"Authorization": f"Bearer {t}"})
            for t in ("legacy-single", "a-token", "d-token", "alice:a-token", "a-token2")
        ]
    assert [r.status_code for r in statuses] == [200, 200, 200, 401, 401]


@pytest.mark.parametrize(
    "tokens",
    [["no-separator"], [":secret"], ["name:"], ["same:a", "same:b"], ["bad name:x"]],
)
def test_malformed_named_tokens_stop_the_start(tmp_path: Path, tokens: list[str]) -> None:
    with pytest.raises(GatewayConfigError, match=r"admin token|ADMIN_TOKENS"):
        echo_gateway(closed_settings(tmp_path, admin_tokens=tokens))


def test_open_admin_api_answers_loopback_clients_but_not_relayed_ones(tmp_path: Path) -> None:
    with serve(echo_gateway(settings_for(tmp_path, admin_open=True))) as url:
        direct = httpx.get(f"{url}/_gateway/flags")
        relayed = httpx.get(f"{url}/_gateway/flags", headers={"X-Forwarded-For": "203.0.113.9"})
    assert direct.status_code == 200
    assert relayed.status_code == 403 and "loopback" in relayed.json()["error"]


def test_admin_api_on_its_own_listener_is_off_the_public_port(tmp_path: Path) -> None:
    admin_port = free_port()
    settings = closed_settings(
        tmp_path, admin_token="listener-token", admin_listen=f"127.0.0.1:{admin_port}"
    )
    auth = {"Authorization": "Bearer listener-token"}
    with serve(echo_gateway(settings)) as url:
        admin = f"http://127.0.0.1:{admin_port}/_gateway"
        public_flip = httpx.put(f"{url}/_gateway/flags/prices", json=FLIP, headers=auth)
        public_health = httpx.get(f"{url}/_gateway/health")
        public_ready = httpx.get(f"{url}/_gateway/ready")
        admin_flip = httpx.put(f"{admin}/flags/prices", json=FLIP, headers=auth)
        admin_ready = httpx.get(f"{admin}/ready")
        served = httpx.get(f"{url}/prices/1.5")
    assert public_flip.status_code == 404
    assert (public_health.status_code, public_ready.status_code) == (200, 200)
    assert admin_flip.status_code == 200 and admin_ready.status_code == 200
    assert served.headers["x-served-by"] == "new"
    with pytest.raises(httpx.ConnectError):  # the listener stops with the gateway
        httpx.get(f"http://127.0.0.1:{admin_port}/_gateway/health", timeout=1)


def test_an_unusable_admin_listener_address_is_refused_in_settings() -> None:
    with pytest.raises(ValueError, match="host:port"):
        GatewaySettings(admin_listen="no-port-here")


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000,
        b'{"flag": ' * 50_000,
        b"\xff\xfe\x00{[",
        b"",
        b"null",
        b"[]",
        b'{"flag": null}',
        b'{"flag": ["new"]}',
        b'{"flag": {"kind": "new"}}',
        b'{"flag": "canary 1e400"}',
        b'{"flag": "' + b"x" * 70_000 + b'"}',
    ],
)
def test_malformed_flip_bodies_get_400(tmp_path: Path, body: bytes) -> None:
    with serve(echo_gateway(settings_for(tmp_path))) as url:
        response = httpx.put(
            f"{url}/_gateway/flags/prices",
            content=body,
            headers={"Content-Type": "application/json"},
        )
    assert response.status_code == 400, response.text
    assert "error" in response.json()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/_gateway/flags/prices", {"flag": "new", "reson": "a typo"}),
        ("POST", "/_gateway/flips", {"match": "*", "flag": "new", "reson": "a typo"}),
    ],
)
def test_a_misspelt_field_of_a_flip_is_refused_not_dropped(
    tmp_path: Path, method: str, path: str, body: dict[str, str]
) -> None:
    with serve(echo_gateway(settings_for(tmp_path))) as url:
        before = httpx.get(f"{url}/_gateway/flags").json()
        response = httpx.request(method, f"{url}{path}", json=body)
        after = httpx.get(f"{url}/_gateway/flags").json()
    assert response.status_code == 400, response.text
    assert "unknown field 'reson'" in response.json()["error"]
    assert after["version"] == before["version"]  # nothing was flipped


@pytest.mark.parametrize("prefix", ["/_gateway", "/ops/gw"])
def test_an_unknown_route_names_the_real_routes_endpoint(tmp_path: Path, prefix: str) -> None:
    settings = closed_settings(tmp_path, admin_token="t", admin_prefix=prefix)
    with serve(echo_gateway(settings)) as url:
        response = httpx.put(
            f"{url}{prefix}/flags/no.such.route", json=FLIP, headers={"Authorization": "Bearer t"}
        )
    assert response.status_code == 400
    assert f"GET {prefix}/routes" in response.json()["error"]
