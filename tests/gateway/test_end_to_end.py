"""Through the real gateway under uvicorn, with the real apps and a real
OpenID provider (oidc-provider-mock) and Redis: moving a route keeps users
logged in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_gateway
from gateway.devstack import oidc_provider
from gateway.settings import GatewaySettings
from tests.gateway.test_backend_helpers import uvicorn_server
from tests.processes import BIN, ServerProcess
from tests.redis_server import free_port

pytestmark = pytest.mark.slow


def reference_pair(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_url: str,
    key_prefix: str,
    oidc_host: str,
    oidc_port: int,
) -> GatewaySettings:
    """The gateway's settings for the reference apps, and the environment both
    apps read when the gateway builds them."""
    monkeypatch.setenv("OIDC_ISSUER", f"http://{oidc_host}:{oidc_port}")
    monkeypatch.setenv("NOTES_DB_PATH", str(tmp_path / "notes.sqlite3"))
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("SHARED_SESSION_KEY_PREFIX", key_prefix)
    return GatewaySettings(
        legacy_app="legacy_flask:create_app()",
        new_app="new_fastapi:create_app()",
        flag_cache_path=None,
        flag_key=f"{key_prefix}flags",
        flag_channel=f"{key_prefix}flags",
        admin_open=True,
    )


@pytest.fixture
def stack(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, redis_url: str, key_prefix: str
) -> Iterator[str]:
    oidc_port = free_port()
    settings = reference_pair(monkeypatch, tmp_path, redis_url, key_prefix, "127.0.0.1", oidc_port)
    with oidc_provider("127.0.0.1", oidc_port), uvicorn_server(create_gateway(settings)) as url:
        yield url


def log_in(client: httpx.Client, gateway: str, user: str) -> None:
    """The browser's dance: /login -> provider form -> POST sub -> /callback."""
    to_provider = client.get(f"{gateway}/login")
    assert to_provider.status_code == 302, to_provider.text
    authorize_url = to_provider.headers["location"]
    assert client.get(authorize_url).status_code == 200
    back = client.post(authorize_url, data={"sub": user})
    assert back.status_code in (302, 303), back.text
    done = client.get(back.headers["location"])
    assert done.status_code == 302, done.text


def flip(client: httpx.Client, gateway: str, key: str, flag: str) -> None:
    response = client.put(f"{gateway}/_gateway/flags/{key}", json={"flag": flag})
    assert response.status_code == 200, response.text


def test_user_logged_in_on_legacy_stays_logged_in_after_the_flip(stack: str) -> None:
    with httpx.Client(timeout=10) as client:
        log_in(client, stack, "alice")
        on_legacy = client.get(f"{stack}/profile")
        assert on_legacy.status_code == 200
        assert on_legacy.headers["x-served-by"] == "legacy"
        assert "alice" in on_legacy.text

        flip(client, stack, "auth.profile", "new")
        on_new = client.get(f"{stack}/profile")
        assert on_new.status_code == 200, on_new.text
        assert on_new.headers["x-served-by"] == "new"
        assert "alice" in on_new.text

        # The API route too, without logging in again.
        flip(client, stack, "api.me", "new")
        me = client.get(f"{stack}/api/me")
        assert me.headers["x-served-by"] == "new"
        assert me.status_code == 200
        assert "alice" in me.text


def test_logged_out_user_is_still_refused_after_the_flip(stack: str) -> None:
    with httpx.Client(timeout=10) as client:
        flip(client, stack, "auth.profile", "new")
        response = client.get(f"{stack}/profile")
        assert response.headers["x-served-by"] == "new"
        assert response.status_code in (302, 401)


def test_route_in_shadow_mode_is_answered_by_legacy_and_replayed_to_new(stack: str) -> None:
    with httpx.Client(timeout=10) as client:
        flip(client, stack, "webapp.index", "shadow")
        home = client.get(f"{stack}/")
        assert home.status_code == 200
        assert home.headers["x-served-by"] == "legacy"
        deadline = time.monotonic() + 5
        while True:
            stats = client.get(f"{stack}/_gateway/shadow").json()["shadow"]
            if stats["replayed"] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert stats["replayed_by_route"] == {"webapp.index": 1}
        assert sum(stats["matched"].values()) + sum(stats["mismatched"].values()) == 1


@pytest.mark.parametrize("login_side", ["legacy", "new"])
def test_a_plain_http_issuer_off_loopback_needs_no_insecure_transport_flag(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_url: str,
    key_prefix: str,
    login_side: str,
) -> None:
    """The apps' OIDC clients never check the issuer's scheme: compose's
    ``http://oidc:9400`` works without AUTHLIB_INSECURE_TRANSPORT. ``127.1``
    reaches 127.0.0.1 but is not a loopback name or address to authlib (its
    check would refuse it). The provider runs as its command does in compose,
    in a process of its own (its own server-side check is off there)."""
    oidc_port = free_port()
    monkeypatch.delenv("AUTHLIB_INSECURE_TRANSPORT", raising=False)
    from authlib.common.security import is_secure_transport

    assert not is_secure_transport(f"http://127.1:{oidc_port}/token")
    settings = reference_pair(monkeypatch, tmp_path, redis_url, key_prefix, "127.1", oidc_port)
    provider_command = [str(BIN / "oidc-provider-mock"), "--port", str(oidc_port)]
    with (
        ServerProcess(provider_command, tmp_path / "oidc.log") as provider,
        uvicorn_server(create_gateway(settings)) as url,
        httpx.Client(timeout=10) as client,
    ):
        provider.wait_for(f"http://127.0.0.1:{oidc_port}/.well-known/openid-configuration")
        if login_side == "new":
            for key in ("auth.login", "auth.callback"):
                flip(client, url, key, "new")
        log_in(client, url, "carol")
        profile = client.get(f"{url}/profile")
    assert profile.status_code == 200, profile.text
    assert "carol" in profile.text
