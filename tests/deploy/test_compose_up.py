"""`docker compose up` for real: the image built from the Dockerfile, the services of
docker-compose.yml with their healthchecks, a login through the OpenID provider, a
flip through the admin API, and sessions that outlive the Redis container.

Everything runs on loopback (tests/deploy/compose.loopback.yml); see conftest.py
for when these tests skip.
"""

from __future__ import annotations

import time

import httpx
import pytest

from gateway.settings import GatewaySettings
from tests.deploy.compose_stack import SERVICES, ComposeStack
from tests.gateway.test_end_to_end import log_in

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ADMIN_PREFIX = "/_gateway"
# The gateway serves its admin API on GATEWAY_ADMIN_LISTEN once it knows the setting;
# a gateway without it ignores the variable and still serves the API publicly.
ADMIN_LISTENER = "admin_listen" in GatewaySettings.model_fields
WAIT = 15.0


def admin_url(stack: ComposeStack) -> str:
    """Where the operator reaches the admin API in this stack."""
    return stack.admin_listener_url if ADMIN_LISTENER else stack.gateway_url


def bearer(stack: ComposeStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.secrets['GATEWAY_ADMIN_TOKEN']}"}


def test_every_service_has_a_healthcheck_and_reports_healthy(stack: ComposeStack) -> None:
    assert stack.health() == dict.fromkeys(SERVICES, "healthy")


def test_the_compose_ps_command_lists_every_service(stack: ComposeStack) -> None:
    listing = stack.compose("ps", timeout=30)
    for service in SERVICES:
        assert f"{stack.project}_{service}_1" in listing or f"{stack.project}-{service}-1" in (
            listing
        )


def test_a_user_logged_in_on_legacy_stays_logged_in_after_a_flip(stack: ComposeStack) -> None:
    gateway = stack.gateway_url
    with httpx.Client(timeout=10) as client:
        log_in(client, gateway, "alice")
        on_legacy = client.get(f"{gateway}/profile")
        assert on_legacy.status_code == 200, on_legacy.text
        assert on_legacy.headers["x-served-by"] == "legacy"
        assert "alice" in on_legacy.text

        flipped = httpx.put(
            f"{admin_url(stack)}{ADMIN_PREFIX}/flags/auth.profile",
            json={"flag": "new"},
            headers=bearer(stack),
            timeout=10,
        )
        assert flipped.status_code == 200, flipped.text

        # Both gunicorn workers of the gateway hear of the flip through Redis.
        deadline = time.monotonic() + WAIT
        served_by = []
        while len(served_by) < 10 or served_by[-10:] != ["new"] * 10:
            on_new = client.get(f"{gateway}/profile")
            served_by.append(on_new.headers.get("x-served-by", "?"))
            assert time.monotonic() < deadline, f"still served by {served_by[-10:]}"
        assert on_new.status_code == 200, on_new.text
        assert "alice" in on_new.text


def test_the_admin_api_refuses_a_request_without_the_token(stack: ComposeStack) -> None:
    response = httpx.put(
        f"{admin_url(stack)}{ADMIN_PREFIX}/flags/auth.profile", json={"flag": "new"}, timeout=10
    )
    assert response.status_code == 401, response.text


@pytest.mark.skipif(not ADMIN_LISTENER, reason="the gateway has no admin_listen setting yet")
def test_the_public_port_answers_health_but_not_the_admin_api(stack: ComposeStack) -> None:
    public = stack.gateway_url
    assert httpx.get(f"{public}{ADMIN_PREFIX}/health", timeout=10).status_code == 200
    flags = httpx.get(f"{public}{ADMIN_PREFIX}/flags", headers=bearer(stack), timeout=10)
    assert flags.status_code == 404, flags.text
    on_listener = httpx.get(
        f"{stack.admin_listener_url}{ADMIN_PREFIX}/flags", headers=bearer(stack), timeout=10
    )
    assert on_listener.status_code == 200, on_listener.text


def test_sessions_outlive_the_redis_container(stack: ComposeStack) -> None:
    gateway = stack.gateway_url
    with httpx.Client(timeout=10) as client:
        log_in(client, gateway, "bob")
        assert "bob" in client.get(f"{gateway}/profile").text
        before = stack.containers()["redis"]["Id"]

        # A new container on the same named volume: only the append-only file remains.
        stack.compose("rm", "--stop", "--force", "redis", timeout=60)
        stack.compose("up", "--detach", "redis", timeout=60)
        stack.wait_healthy(("redis",))
        assert stack.containers()["redis"]["Id"] != before

        deadline = time.monotonic() + WAIT
        while (profile := client.get(f"{gateway}/profile")).status_code in (502, 503):
            assert time.monotonic() < deadline, profile.text  # reconnecting to Redis
            time.sleep(0.2)
        assert profile.status_code == 200, f"{profile.status_code} {profile.headers}"
        assert "bob" in profile.text
